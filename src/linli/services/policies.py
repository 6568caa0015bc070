"""Who may see and change which practitioners, slots and bookings. Rows are scoped in the
query; getters answer 404 for missing and forbidden alike."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.authz import SERVICES_READ, Actor, Permission, acting_organisation
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.merchants.queries import selling_status
from linli.rules import service as rules
from linli.services.models import Booking, Practitioner, Slot


def acting_provider(actor: Actor, permission: Permission = SERVICES_READ) -> int:
    """The provider organisation (a merchant) the actor acts for, holding `permission`."""
    return acting_organisation(actor, permission, kinds=("merchant",))


async def ensure_verified(session: AsyncSession, organisation_id: int) -> None:
    """Only a verified provider (merchant review passed), not paused, offers services."""
    status = await selling_status(session, organisation_id)
    if not status.verified:
        raise Conflict(N_("Your organisation is not a verified provider yet."), code="not_verified")
    if status.paused:
        raise Conflict(
            N_("Your organisation's listings are paused, so it offers no sessions now."),
            code="listings_paused",
        )


async def provider_offers(session: AsyncSession, organisation_id: int) -> bool:
    """Whether clients may book with the provider now: verified, listings not paused."""
    status = await selling_status(session, organisation_id)
    return status.verified and not status.paused


def own_bookings(actor: Actor) -> Select[Booking]:
    """The client's own bookings."""
    return select(Booking).where(Booking.client_user_id == actor.require_user_id())


def provider_bookings(organisation_id: int) -> Select[Booking]:
    return select(Booking).where(Booking.organisation_id == organisation_id)


def party_bookings(actor: Actor) -> Select[Booking]:
    """Bookings the actor is a party to: as the client, or as the slot's practitioner."""
    user_id = actor.require_user_id()
    practitioner_ids = select(Practitioner.id).where(Practitioner.user_id == user_id)
    return select(Booking).where(
        or_(Booking.client_user_id == user_id, Booking.practitioner_id.in_(practitioner_ids))
    )


def not_found() -> NotFound:
    return NotFound(N_("No such booking."))


async def access_own_booking(session: AsyncSession, actor: Actor, booking_id: int) -> Booking:
    row = await session.scalar(own_bookings(actor).where(Booking.id == booking_id))
    if row is None:
        raise not_found()
    return row


async def access_provider_booking(
    session: AsyncSession, actor: Actor, booking_id: int, permission: Permission
) -> Booking:
    organisation_id = acting_provider(actor, permission)
    row = await session.scalar(provider_bookings(organisation_id).where(Booking.id == booking_id))
    if row is None:
        raise not_found()
    return row


async def access_practitioner(
    session: AsyncSession, actor: Actor, practitioner_id: int, permission: Permission
) -> Practitioner:
    organisation_id = acting_provider(actor, permission)
    row = await session.scalar(
        select(Practitioner).where(
            Practitioner.id == practitioner_id, Practitioner.organisation_id == organisation_id
        )
    )
    if row is None:
        raise NotFound(N_("No such practitioner."))
    return row


def open_slots() -> Select[Slot]:
    """Slots anyone may see: open ones (whether full or not)."""
    return select(Slot).where(Slot.status == "open")


async def provider_rule(
    session: AsyncSession, rule_id: str, organisation_id: int, *, at: datetime | None = None
) -> rules.Rule:
    """The version of a services rule in force at `at` (default now) for the provider's
    region: its district's, else its city's, else its province's, else the national one."""
    provider = await session.get(Organisation, organisation_id)
    region = provider.region_code if provider is not None else None
    return await rules.in_force(session, rule_id, at=at, jurisdiction=region)
