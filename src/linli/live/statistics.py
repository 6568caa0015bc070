"""A room's statistics for its merchant: viewers, peak, likes, orders, GMV and conversion.

Every figure is counted from records, never entered: connections and logged-in viewers as the
channel recorded them (`channel.count_viewer`), the peak from the viewer counts (presence),
likes as viewers sent them, orders and GMV from the room's paid orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import LIVE_READ, PLATFORM_LIVE, Actor, ensure
from linli.community import points
from linli.live.channel import ON_AIR, PRESENCE_FRESH
from linli.live.models import LiveOrder, LiveSession, Presence, Room, RoomViewer, Streamer
from linli.live.policies import access_managed_room
from linli.live.states import LiveOrderStatus
from linli.merchants.queries import public_identity


@dataclass(frozen=True)
class RoomStatistics:
    room_id: int
    on_air: timedelta  # the sessions' time, to now for an open one
    connections: int  # viewers' connections while the room was open, anonymous ones included
    viewers: int  # logged-in viewers, each once
    peak_viewers: int  # the most connected at once while live
    likes: int
    orders: int  # paid orders
    units: int
    gmv_fen: int  # paid orders' totals
    buyers: int

    @property
    def conversion(self) -> float | None:
        """Buyers per logged-in viewer (buying needs a login); None before anyone watched."""
        return self.buyers / self.viewers if self.viewers else None


async def room_statistics(
    session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False
) -> RoomStatistics:
    """The room's statistics for its owner: the merchant's room, or (`leader`) the group
    leader's own."""
    room = await access_managed_room(session, actor, room_id, LIVE_READ, leader=leader)
    now = clock.now()
    on_air = timedelta()
    for started, ended in await session.execute(
        select(LiveSession.started_at, LiveSession.ended_at).where(LiveSession.room_id == room.id)
    ):
        on_air += (ended or now) - started
    viewers = await session.scalar(
        select(func.count()).select_from(RoomViewer).where(RoomViewer.room_id == room.id)
    )
    orders, units, gmv, buyers = (
        await session.execute(
            select(
                func.count(LiveOrder.id),
                func.coalesce(func.sum(LiveOrder.quantity), 0),
                func.coalesce(func.sum(LiveOrder.total_fen), 0),
                func.count(distinct(LiveOrder.user_id)),
            ).where(LiveOrder.room_id == room.id, LiveOrder.status == LiveOrderStatus.PAID)
        )
    ).one()
    return RoomStatistics(
        room_id=room.id,
        on_air=on_air,
        connections=room.connections,
        viewers=int(viewers or 0),
        peak_viewers=room.peak_viewers,
        likes=room.likes,
        orders=int(orders),
        units=int(units),
        gmv_fen=int(gmv),
        buyers=int(buyers),
    )


@dataclass(frozen=True)
class OnAir:
    """A room live or paused now, as the platform watches it."""

    room: Room
    seller: str
    streamer: str
    started_at: datetime | None
    viewers: int


async def rooms_on_air(session: AsyncSession, actor: Actor, *, limit: int = 200) -> list[OnAir]:
    """The platform's view of rooms on air, most watched first (PLATFORM_LIVE)."""
    ensure(actor, PLATFORM_LIVE)
    fresh = clock.now() - PRESENCE_FRESH
    viewers = (
        select(Presence.room_id, func.sum(Presence.viewers).label("viewers"))
        .where(Presence.updated_at > fresh)
        .group_by(Presence.room_id)
        .subquery()
    )
    started = (
        select(LiveSession.room_id, func.max(LiveSession.started_at).label("started_at"))
        .where(LiveSession.ended_at.is_(None))
        .group_by(LiveSession.room_id)
        .subquery()
    )
    watching = func.coalesce(viewers.c.viewers, 0)
    rows = (
        await session.execute(
            select(Room, Streamer.real_name, started.c.started_at, watching)
            .join(Streamer, Streamer.id == Room.streamer_id)
            .outerjoin(viewers, viewers.c.room_id == Room.id)
            .outerjoin(started, started.c.room_id == Room.id)
            .where(Room.status.in_(ON_AIR))
            .order_by(watching.desc(), Room.id)
            .limit(limit)
        )
    ).all()
    sellers: dict[int, str] = {}
    for room, *_ in rows:
        if room.organisation_id is not None and room.organisation_id not in sellers:
            identity = await public_identity(session, room.organisation_id)
            sellers[room.organisation_id] = identity.name if identity else ""
    # A group leader's room is named by its pickup point.
    point_names = {
        point.id: point.name
        for point in (
            await points.points(
                session, [room.pickup_point_id for room, *_ in rows if room.pickup_point_id]
            )
        ).values()
    }
    return [
        OnAir(
            room,
            sellers[room.organisation_id]
            if room.organisation_id is not None
            else point_names.get(room.pickup_point_id or 0, ""),
            streamer,
            started_at,
            int(count),
        )
        for room, streamer, started_at, count in rows
    ]
