"""Who may see and change which rooms and streamers. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import LIVE_READ, Actor, Permission, acting_organisation
from linli.errors import NotFound
from linli.i18n import N_
from linli.live.models import Room, Streamer
from linli.live.states import RoomStatus

# Foreign-trade enterprises (suppliers) stream too: live selling is how export goods reach
# home buyers (the export-to-domestic channel); both kinds pass the same merchant review.
SELLING_KINDS = ("merchant", "supplier")


def acting_merchant(actor: Actor, permission: Permission = LIVE_READ) -> int:
    """The selling organisation (a merchant or a foreign-trade supplier) the actor (owner or
    staff) acts for."""
    return acting_organisation(actor, permission, kinds=SELLING_KINDS)


def own_rooms(organisation_id: int) -> Select[Room]:
    return select(Room).where(Room.organisation_id == organisation_id)


def public_rooms() -> Select[Room]:
    """Every room but banned ones (scheduled, live, paused and ended: the replays)."""
    return select(Room).where(Room.status != RoomStatus.BANNED)


async def access_own_room(
    session: AsyncSession, actor: Actor, room_id: int, permission: Permission = LIVE_READ
) -> Room:
    organisation_id = acting_merchant(actor, permission)
    room = await session.scalar(
        own_rooms(organisation_id)
        .where(Room.id == room_id)
        .execution_options(populate_existing=True)
    )
    if room is None:
        raise NotFound(N_("No such live room."), code="room_not_found")
    return room


async def access_public_room(session: AsyncSession, room_id: int) -> Room:
    room = await session.scalar(public_rooms().where(Room.id == room_id))
    if room is None:
        raise NotFound(N_("No such live room."), code="room_not_found")
    return room


async def access_own_streamer(
    session: AsyncSession, actor: Actor, streamer_id: int, permission: Permission
) -> Streamer:
    organisation_id = acting_merchant(actor, permission)
    streamer = await session.scalar(
        select(Streamer).where(
            Streamer.id == streamer_id, Streamer.organisation_id == organisation_id
        )
    )
    if streamer is None:
        raise NotFound(N_("No such streamer."), code="streamer_not_found")
    return streamer
