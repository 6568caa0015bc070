"""Who may see and change which rooms and streamers. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import LIVE_READ, Actor, Permission, acting_organisation
from linli.community import points
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


def public_rooms(viewer_user_id: int | None = None) -> Select[Room]:
    """Every room the viewer may see but banned ones (scheduled, live, paused and ended: the
    replays): every merchant's room, and a group leader's room only for the residents of its
    pickup point (`viewer_user_id` None: nobody's point)."""
    rooms = select(Room).where(Room.status != RoomStatus.BANNED)
    if viewer_user_id is None:
        return rooms.where(Room.organisation_id.is_not(None))
    return rooms.where(
        or_(
            Room.organisation_id.is_not(None),
            Room.pickup_point_id == points.home_point_id(viewer_user_id),
        )
    )


def leader_rooms(user_id: int) -> Select[Room]:
    """The rooms a group leader owns (for their pickup point)."""
    return select(Room).where(Room.leader_user_id == user_id)


async def access_leader_room(session: AsyncSession, actor: Actor, room_id: int) -> Room:
    """A room of the acting group leader (anyone else's, a merchant's included: 404)."""
    return await _room_in(session, leader_rooms(actor.require_user_id()), room_id)


async def access_managed_room(
    session: AsyncSession,
    actor: Actor,
    room_id: int,
    permission: Permission = LIVE_READ,
    *,
    leader: bool = False,
) -> Room:
    """The room its owner runs: the leader's own (`leader`), else the merchant's own."""
    if leader:
        return await access_leader_room(session, actor, room_id)
    return await access_own_room(session, actor, room_id, permission)


async def access_own_room(
    session: AsyncSession, actor: Actor, room_id: int, permission: Permission = LIVE_READ
) -> Room:
    organisation_id = acting_merchant(actor, permission)
    return await _room_in(session, own_rooms(organisation_id), room_id)


async def _room_in(session: AsyncSession, rooms: Select[Room], room_id: int) -> Room:
    """The room among `rooms` (an owner's), freshly read; not there: 404."""
    room = await session.scalar(
        rooms.where(Room.id == room_id).execution_options(populate_existing=True)
    )
    if room is None:
        raise NotFound(N_("No such live room."), code="room_not_found")
    return room


async def access_public_room(
    session: AsyncSession, room_id: int, viewer_user_id: int | None = None
) -> Room:
    room = await session.scalar(public_rooms(viewer_user_id).where(Room.id == room_id))
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
