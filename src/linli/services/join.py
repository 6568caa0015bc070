"""The join link of an online session: a signed token naming the booking and the participant,
valid only for that participant (the client or the slot's practitioner) while the booking
holds, from 15 minutes before the start to the end. Anyone else gets 403 (a link signed for
someone else) or 404 (not a party to the booking).

The room is a WebRTC call between the parties (room_api.py: the signalling WebSocket opens
with the same checks); the slot's practitioner opens it only after their real-name check for
the session (room.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.errors import Conflict, Forbidden, NotFound
from linli.i18n import N_
from linli.security import CookieSigner
from linli.services import room
from linli.services.models import Booking
from linli.services.policies import not_found, party_bookings
from linli.services.states import HOLDING, Mode

JOIN_SALT = "linli.services.join"
OPENS_BEFORE = room.OPENS_BEFORE
JOIN_PREFIX = "/services/join/"


@dataclass(frozen=True)
class JoinLink:
    booking_id: int
    url: str
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True)
class Room:
    booking: Booking
    as_practitioner: bool
    # the practitioner confirmed their identity for this session (always True for the client)
    identity_checked: bool = True


def _signer(secret_key: str) -> CookieSigner:
    return CookieSigner(secret_key, JOIN_SALT)


async def _party_booking(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    row = await session.scalar(party_bookings(actor).where(Booking.id == booking_id))
    if row is None:
        raise not_found()
    return row


def _ensure_joinable(booking: Booking) -> None:
    if booking.mode != Mode.ONLINE:
        raise Conflict(N_("This session is in person: there is nothing to join."), code="offline")
    if booking.status not in HOLDING:
        raise Conflict(N_("This booking is no longer live."), code="not_live")


def link_for(secret_key: str, booking: Booking, user_id: int) -> str:
    """The join URL of `user_id` (a party the caller already checked) for `booking`."""
    return JOIN_PREFIX + _signer(secret_key).sign(f"{booking.id}.{user_id}")


async def join_link(
    session: AsyncSession, actor: Actor, secret_key: str, booking_id: int
) -> JoinLink:
    """The actor's own link to the session of `booking_id` (a party only, else 404)."""
    booking = await _party_booking(session, actor, booking_id)
    _ensure_joinable(booking)
    return JoinLink(
        booking_id=booking.id,
        url=link_for(secret_key, booking, actor.require_user_id()),
        valid_from=booking.starts_at - OPENS_BEFORE,
        valid_until=booking.ends_at,
    )


async def open_room(session: AsyncSession, actor: Actor, secret_key: str, token: str) -> Room:
    """Check a join link against the booking and the actor: signed by us, for this user,
    who is still a party to a live online booking, within its window."""
    user_id = actor.require_user_id()
    value = _signer(secret_key).unsign(token)
    if value is None:
        raise NotFound(N_("This join link is not valid."))
    booking_text, _, user_text = value.partition(".")
    if not (booking_text.isdigit() and user_text.isdigit()):
        raise NotFound(N_("This join link is not valid."))
    if int(user_text) != user_id:
        raise Forbidden(N_("This join link belongs to someone else."), code="not_your_link")
    booking = await _party_booking(session, actor, int(booking_text))
    _ensure_joinable(booking)
    now = clock.now()
    if now < booking.starts_at - OPENS_BEFORE:
        raise Conflict(N_("The session opens 15 minutes before it starts."), code="too_early")
    if now >= booking.ends_at:
        raise Conflict(N_("The session has ended."), code="ended")
    as_practitioner = booking.client_user_id != user_id
    checked = (
        await room.identity_check(session, booking.slot_id, booking.practitioner_id) is not None
        if as_practitioner
        else True
    )
    return Room(booking=booking, as_practitioner=as_practitioner, identity_checked=checked)
