"""Rooms, their goods (stream stock reserved from the SKU through `catalog.stock`), sessions
and pins.

- A room is scheduled for 30 minutes to 24 hours (rule `live.commerce`); its due job at the
  scheduled end ends it if it is still open and gives the unsold stream stock back (the
  backstop after a crash: ending and releasing are one transaction).
- Goods reserve their stream stock from the SKU when they are added; what is left goes back
  exactly once, by the UPDATE that sets `released_at` where it is NULL.
- One pin at a time: a conditional UPDATE of the room's `pinned_goods_id` from NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import LIVE_MANAGE, LIVE_READ, PLATFORM_LIVE, Actor, ensure
from linli.catalog import offers, stock
from linli.community import points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_
from linli.jobs import LiveRoomDue
from linli.live import channel, streamers
from linli.live.models import LiveGoods, LiveSession, Pin, Room, Streamer, SupplyAgreement
from linli.live.policies import (
    access_managed_room,
    access_own_room,
    acting_merchant,
    leader_rooms,
    own_rooms,
    public_rooms,
)
from linli.live.schemas import GoodsIn, LeaderRoomIn, RoomIn
from linli.live.states import OPEN_STATUSES, RoomStatus, StreamerStatus
from linli.merchants.queries import selling_status
from linli.rules import service as rules
from linli.security import new_token, token_digest

RULE = streamers.RULE


def not_open() -> Conflict:
    return Conflict(N_("This live room has ended."), code="room_not_open")


async def _ensure_selling(
    session: AsyncSession, organisation_id: int, *, shown: bool = False
) -> None:
    """The organisation may sell live: verified and not paused. `shown`: it is about to be
    shown as a room's seller (going live, supplying a leader's room), so while rule
    `live.commerce` asks for `licence_display` it needs a public after-sales contact too."""
    status = await selling_status(session, organisation_id)
    if not status.verified:
        raise Conflict(
            N_("Your organisation is not a verified merchant yet, so it cannot sell."),
            code="not_verified",
        )
    if status.paused:
        raise Conflict(
            N_("Your organisation's listings are paused, so nothing can be sold now."),
            code="listings_paused",
        )
    if shown and not status.after_sales_contact:
        rule = await rules.in_force(session, RULE)
        if rule.values.get("licence_display"):
            raise Conflict(
                N_(
                    "Set your after-sales contact on the merchant console first: the live "
                    "room must show it."
                ),
                code="after_sales_contact_missing",
            )


# --- rooms ----------------------------------------------------------------------------------


async def _check_schedule(session: AsyncSession, data: RoomIn | LeaderRoomIn) -> rules.Rule:
    rule = await rules.in_force(session, RULE)
    length = data.scheduled_end - data.scheduled_start
    low = timedelta(minutes=int(rule.values["schedule_min_minutes"]))
    high = timedelta(minutes=int(rule.values["schedule_max_minutes"]))
    if not low <= length <= high:
        raise ValidationFailed(
            N_("Check the schedule."),
            fields={"scheduled_end": N_("A live room lasts 30 minutes to 24 hours.")},
            code="schedule_length",
        )
    now = clock.now()
    if data.scheduled_end <= now:
        raise ValidationFailed(
            N_("Check the schedule."),
            fields={"scheduled_end": N_("Choose an end in the future.")},
        )
    return rule


async def create_room(session: AsyncSession, actor: Actor, data: RoomIn) -> Room:
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    await _ensure_selling(session, organisation_id)
    rule = await _check_schedule(session, data)
    streamer = await session.scalar(
        select(Streamer).where(
            Streamer.id == data.streamer_id, Streamer.organisation_id == organisation_id
        )
    )
    if streamer is None:
        raise ValidationFailed(
            N_("Check the room."),
            fields={"streamer_id": N_("Choose one of your organisation's streamers.")},
        )
    return await _new_room(session, actor, data, rule, streamer, organisation_id=organisation_id)


async def create_leader_room(session: AsyncSession, actor: Actor, data: LeaderRoomIn) -> Room:
    """A group leader schedules a room for the residents of a pickup point they lead (else
    404), streamed by their own streamer record (`streamers.register_leader`)."""
    user_id = actor.require_user_id()
    point = await points.point_led_by(session, user_id, data.pickup_point_id)
    if point is None or not point.active:
        raise NotFound(N_("No such pickup point."), code="point_not_found")
    rule = await _check_schedule(session, data)
    streamer = await session.scalar(
        select(Streamer).where(Streamer.user_id == user_id, Streamer.organisation_id.is_(None))
    )
    if streamer is None:
        raise Conflict(
            N_("Register as a streamer with your real name first."), code="streamer_missing"
        )
    return await _new_room(
        session, actor, data, rule, streamer, leader_user_id=user_id, pickup_point_id=point.id
    )


async def _new_room(
    session: AsyncSession,
    actor: Actor,
    data: RoomIn | LeaderRoomIn,
    rule: rules.Rule,
    streamer: Streamer,
    *,
    organisation_id: int | None = None,
    leader_user_id: int | None = None,
    pickup_point_id: int | None = None,
) -> Room:
    now = clock.now()
    room = Room(
        organisation_id=organisation_id,
        leader_user_id=leader_user_id,
        pickup_point_id=pickup_point_id,
        streamer_id=streamer.id,
        title=data.title,
        description=data.description,
        scheduled_start=data.scheduled_start,
        scheduled_end=data.scheduled_end,
        status=RoomStatus.SCHEDULED,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    session.add(room)
    await session.flush()
    await outbox.schedule(
        session, LiveRoomDue(room_id=room.id), room.scheduled_end, dedupe_key=f"live-room-{room.id}"
    )
    audit.record(
        session,
        actor,
        "live.room_created",
        target_type="live_room",
        target_id=room.id,
        streamer_id=streamer.id,
        organisation_id=organisation_id,
        leader_user_id=leader_user_id,
        pickup_point_id=pickup_point_id,
        scheduled_start=room.scheduled_start.isoformat(),
        scheduled_end=room.scheduled_end.isoformat(),
    )
    return room


async def add_goods(session: AsyncSession, actor: Actor, room_id: int, data: GoodsIn) -> LiveGoods:
    """Offer a SKU of the merchant's listed products in the room at a stream price, reserving
    the stream stock from the SKU's stock (409 when there is not enough)."""
    room = await access_own_room(session, actor, room_id, LIVE_MANAGE)
    assert room.organisation_id is not None
    return await _add_goods(session, actor, room, data, organisation_id=room.organisation_id)


async def supply_goods(
    session: AsyncSession, actor: Actor, room_id: int, data: GoodsIn
) -> LiveGoods:
    """A merchant adds a SKU of its own to a group leader's open room, only while it has an
    accepted supply agreement with that leader for the room's point (anything else: 404, as
    a room it may not see); the agreement and its rate are copied onto the goods."""
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    found = (
        await session.execute(
            select(Room, SupplyAgreement)
            .join(
                SupplyAgreement,
                (SupplyAgreement.pickup_point_id == Room.pickup_point_id)
                & (SupplyAgreement.leader_user_id == Room.leader_user_id),
            )
            .where(
                Room.id == room_id,
                Room.organisation_id.is_(None),
                SupplyAgreement.organisation_id == organisation_id,
                SupplyAgreement.status == "accepted",
            )
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(N_("No such live room."), code="room_not_found")
    await _ensure_selling(session, organisation_id, shown=True)
    return await _add_goods(
        session, actor, found.Room, data, organisation_id=organisation_id, agreement=found[1]
    )


async def _add_goods(
    session: AsyncSession,
    actor: Actor,
    room: Room,
    data: GoodsIn,
    *,
    organisation_id: int,
    agreement: SupplyAgreement | None = None,
) -> LiveGoods:
    if room.status not in OPEN_STATUSES:
        raise not_open()
    listed = (await offers.listed_skus(session, organisation_id, [data.sku_id])).get(data.sku_id)
    if listed is None:
        raise ValidationFailed(
            N_("Check the goods."),
            fields={"sku_id": N_("Choose a SKU of your listed products.")},
            code="sku_not_listed",
        )
    duplicate = await session.scalar(
        select(LiveGoods.id).where(LiveGoods.room_id == room.id, LiveGoods.sku_id == data.sku_id)
    )
    if duplicate is not None:
        raise Conflict(N_("This SKU is in the room already."), code="goods_exists")
    rule = await rules.in_force(session, RULE)
    regulated = set(rule.values["pre_review_categories"])
    if agreement is not None and regulated & set(listed.category_codes):
        # The pre-review is the room owner's to record; a leader's room sells none of these.
        raise Conflict(
            N_("Goods whose advertising needs a pre-review cannot be sold in a leader's room."),
            code="ad_review_goods",
        )
    goods = LiveGoods(
        room_id=room.id,
        sku_id=listed.sku_id,
        organisation_id=organisation_id,
        agreement_id=agreement.id if agreement else None,
        commission_bp=agreement.commission_bp if agreement else None,
        product_name=listed.product_name,
        sku_code=listed.code,
        unit=listed.unit,
        list_price_fen=listed.price_fen,
        stream_price_fen=data.stream_price_fen,
        per_buyer_limit=data.per_buyer_limit,
        stock=data.stock,
        remaining=data.stock,
        category_codes=list(listed.category_codes),
        needs_ad_review=bool(regulated & set(listed.category_codes)),
        created_at=clock.now(),
    )
    try:
        # The duplicate check above answers the common case; two adds of one SKU at once
        # meet at the (room, SKU) unique constraint, and the second is answered the same.
        async with session.begin_nested():
            session.add(goods)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(N_("This SKU is in the room already."), code="goods_exists") from exc
    taken = await stock.reserve(
        session,
        actor,
        organisation_id=organisation_id,
        sku_id=listed.sku_id,
        units=data.stock,
        reason="live.goods_added",
        room_id=room.id,
        goods_id=goods.id,
    )
    if not taken:
        raise Conflict(
            N_("Not enough stock of {product} ({sku}) for {amount} in this room."),
            product=listed.product_name,
            sku=listed.code,
            amount=data.stock,
            code="insufficient_stock",
        )
    audit.record(
        session,
        actor,
        "live.goods_added",
        target_type="live_room",
        target_id=room.id,
        goods_id=goods.id,
        sku_id=listed.sku_id,
        organisation_id=organisation_id,
        agreement_id=agreement.id if agreement else None,
        stream_price_fen=data.stream_price_fen,
        stock=data.stock,
    )
    return goods


async def record_ad_review(
    session: AsyncSession, actor: Actor, room_id: int, reference: str
) -> Room:
    """Record the advertising pre-review of the room's regulated goods (its number)."""
    room = await access_own_room(session, actor, room_id, LIVE_MANAGE)
    if room.status not in OPEN_STATUSES:
        raise not_open()
    room.ad_review_reference = reference
    room.ad_review_recorded_at = clock.now()
    await session.flush()
    audit.record(
        session,
        actor,
        "live.ad_review_recorded",
        target_type="live_room",
        target_id=room.id,
        reference=reference,
    )
    return room


@dataclass(frozen=True)
class Started:
    session: LiveSession
    stream_key: str


async def start(
    session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False
) -> Started:
    """Go live: a new session with its stream key (shown once). `leader`: the group leader's
    own room (they must still lead its point), else the merchant's."""
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    if room.status != RoomStatus.SCHEDULED:
        raise Conflict(N_("Only a scheduled room can go live."), code="room_not_scheduled")
    now = clock.now()
    if now >= room.scheduled_end:
        raise Conflict(N_("This room's scheduled time is over."), code="room_schedule_over")
    if room.organisation_id is not None:
        await _ensure_selling(session, room.organisation_id, shown=True)
    else:
        assert room.leader_user_id is not None
        assert room.pickup_point_id is not None
        led = await points.point_led_by(session, room.leader_user_id, room.pickup_point_id)
        if led is None or not led.active:
            raise Conflict(N_("You no longer lead this room's pickup point."), code="point_not_led")
    streamer = await session.get(Streamer, room.streamer_id, populate_existing=True)
    assert streamer is not None
    if streamer.status != StreamerStatus.ACTIVE:
        raise Conflict(
            N_("The room's streamer is suspended by the platform."), code="streamer_suspended"
        )
    if await streamers.is_blacklisted(session, streamer.identity_digest):
        raise Conflict(
            N_("This person is barred from live streaming on the platform."),
            code="streamer_blacklisted",
        )
    problem = await streamers.age_problem(session, streamer)
    if problem is not None:
        raise Conflict(
            N_("The room's streamer may not stream: {problem}."),
            problem=problem,
            code=f"streamer_{problem}",
        )
    regulated = await session.scalar(
        select(LiveGoods.id).where(LiveGoods.room_id == room.id, LiveGoods.needs_ad_review).limit(1)
    )
    if regulated is not None and room.ad_review_reference is None:
        raise Conflict(
            N_(
                "This room sells goods whose advertising needs a pre-review (health food, "
                "medical devices): record the review first."
            ),
            code="ad_review_required",
        )
    # Only a scheduled room becomes live (two concurrent starts: one wins).
    moved = await session.scalar(
        update(Room)
        .where(Room.id == room.id, Room.status == RoomStatus.SCHEDULED)
        .values(status=RoomStatus.LIVE)
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(N_("Only a scheduled room can go live."), code="room_not_scheduled")
    key = new_token("live")
    live_session = LiveSession(
        room_id=room.id,
        started_at=now,
        stream_key_digest=token_digest(key),
        started_by_user_id=actor.user_id,
    )
    session.add(live_session)
    await session.flush()
    await session.refresh(room)
    channel.publish(session, room.id, "status", status=str(RoomStatus.LIVE))
    audit.record(
        session,
        actor,
        "live.session_started",
        target_type="live_room",
        target_id=room.id,
        session_id=live_session.id,
    )
    return Started(live_session, key)


async def _move(
    session: AsyncSession, actor: Actor, room: Room, source: RoomStatus, target: RoomStatus
) -> Room:
    moved = await session.scalar(
        update(Room)
        .where(Room.id == room.id, Room.status == source)
        .values(status=target)
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(
            N_("The room is not live.")
            if source == RoomStatus.LIVE
            else N_("The room is not paused."),
            code=f"room_not_{source}",
        )
    await session.refresh(room)
    channel.publish(session, room.id, "status", status=str(target))
    audit.record(session, actor, f"live.room_{target}", target_type="live_room", target_id=room.id)
    return room


async def pause(session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False) -> Room:
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    return await _move(session, actor, room, RoomStatus.LIVE, RoomStatus.PAUSED)


async def resume(
    session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False
) -> Room:
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    if clock.now() >= room.scheduled_end:
        raise Conflict(N_("This room's scheduled time is over."), code="room_schedule_over")
    return await _move(session, actor, room, RoomStatus.PAUSED, RoomStatus.LIVE)


async def end(session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False) -> Room:
    """End the room: its session ends, the pin closes, unsold stream stock goes back."""
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    return await _finish(session, actor, room, RoomStatus.ENDED, reason="ended")


async def ban(session: AsyncSession, actor: Actor, room_id: int, reason: str) -> Room:
    """The platform bans a room: it ends at once and is hidden from residents."""
    ensure(actor, PLATFORM_LIVE)
    room = await session.get(Room, room_id, populate_existing=True)
    if room is None:
        raise NotFound(N_("No such live room."), code="room_not_found")
    return await _finish(session, actor, room, RoomStatus.BANNED, reason="banned", note=reason)


async def _finish(
    session: AsyncSession,
    actor: Actor,
    room: Room,
    target: RoomStatus,
    *,
    reason: str,
    note: str | None = None,
) -> Room:
    now = clock.now()
    moved = await session.scalar(
        update(Room)
        .where(Room.id == room.id, Room.status.in_(OPEN_STATUSES))
        .values(
            status=target,
            pinned_goods_id=None,
            ended_at=now,
            banned_reason=note,
            retain_until=now + timedelta(days=365 * await retention_years(session)),
        )
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise not_open()
    await session.execute(
        update(Pin)
        .where(Pin.room_id == room.id, Pin.unpinned_at.is_(None))
        .values(unpinned_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(LiveSession)
        .where(LiveSession.room_id == room.id, LiveSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    released = await release_stock(session, room.id)
    await session.refresh(room)
    channel.publish(session, room.id, "status", status=str(target))
    audit.record(
        session,
        actor,
        f"live.room_{target}",
        target_type="live_room",
        target_id=room.id,
        organisation_id=room.organisation_id,
        leader_user_id=room.leader_user_id,
        reason=note or reason,
        released_units=released,
    )
    return room


async def retention_years(session: AsyncSession) -> int:
    rule = await rules.in_force(session, RULE)
    return int(rule.values["retention_years"])


async def release_stock(session: AsyncSession, room_id: int) -> int:
    """Give each goods' unsold stream stock back to its SKU, exactly once: the UPDATE that
    zeroes `remaining` and sets `released_at` runs only where it is NULL, and says how many
    units it took (the old `remaining`). Returns the units released now."""
    now = clock.now()
    rows = (
        await session.execute(
            update(LiveGoods)
            .where(LiveGoods.room_id == room_id, LiveGoods.released_at.is_(None))
            .values(released_units=LiveGoods.remaining, remaining=0, released_at=now)
            .returning(LiveGoods.id, LiveGoods.sku_id, LiveGoods.released_units)
            .execution_options(synchronize_session=False)
        )
    ).all()
    total = 0
    for goods_id, sku_id, units in sorted(rows):
        total += await stock.release(
            session,
            Actor.for_system(),
            sku_id=sku_id,
            units=int(units or 0),
            reason="live.room_closed",
            room_id=room_id,
            goods_id=goods_id,
        )
    return total


async def finish_by_system(session: AsyncSession, room: Room, *, reason: str) -> Room:
    """End an open room on the platform's behalf (a due job), as `end` does; 409 if it is no
    longer open."""
    return await _finish(session, Actor.for_system(), room, RoomStatus.ENDED, reason=reason)


async def run_due(session: AsyncSession, room_id: int) -> None:
    """The room's scheduled end: end it if still open; release what was not released."""
    room = await session.get(Room, room_id, populate_existing=True)
    if room is None:
        return
    if room.status in OPEN_STATUSES:
        await _finish(session, Actor.for_system(), room, RoomStatus.ENDED, reason="scheduled_end")
    else:
        await release_stock(session, room.id)


# --- pins -----------------------------------------------------------------------------------


async def _open_session_id(session: AsyncSession, room_id: int) -> int:
    found = await session.scalar(
        select(LiveSession.id).where(LiveSession.room_id == room_id, LiveSession.ended_at.is_(None))
    )
    if found is None:
        raise Conflict(N_("The room is not live."), code="room_not_live")
    return int(found)


async def pin(
    session: AsyncSession, actor: Actor, room_id: int, goods_id: int, *, leader: bool = False
) -> Pin:
    """Put goods on sale in the live room; refused while another pin is open."""
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    goods = await session.scalar(
        select(LiveGoods).where(LiveGoods.id == goods_id, LiveGoods.room_id == room.id)
    )
    if goods is None:
        raise ValidationFailed(
            N_("Check the pin."), fields={"goods_id": N_("Choose goods of this room.")}
        )
    if room.status != RoomStatus.LIVE:
        raise Conflict(N_("The room is not live."), code="room_not_live")
    session_id = await _open_session_id(session, room.id)
    taken = await session.scalar(
        update(Room)
        .where(Room.id == room.id, Room.status == RoomStatus.LIVE, Room.pinned_goods_id.is_(None))
        .values(pinned_goods_id=goods.id)
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        raise Conflict(N_("Another item is pinned: unpin it first."), code="already_pinned")
    row = Pin(
        room_id=room.id,
        session_id=session_id,
        goods_id=goods.id,
        pinned_at=clock.now(),
        pinned_by_user_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    channel.publish(
        session,
        room.id,
        "pin",
        goods_id=goods.id,
        product_name=goods.product_name,
        stream_price_fen=goods.stream_price_fen,
        list_price_fen=goods.list_price_fen,
        remaining=goods.remaining,
        unit=goods.unit,
    )
    audit.record(
        session, actor, "live.pinned", target_type="live_room", target_id=room.id, goods_id=goods.id
    )
    return row


async def unpin(session: AsyncSession, actor: Actor, room_id: int, *, leader: bool = False) -> Room:
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    was = await session.scalar(
        update(Room)
        .where(Room.id == room.id, Room.pinned_goods_id.is_not(None))
        .values(pinned_goods_id=None)
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if was is None:
        raise Conflict(N_("Nothing is pinned."), code="nothing_pinned")
    await session.execute(
        update(Pin)
        .where(Pin.room_id == room.id, Pin.unpinned_at.is_(None))
        .values(unpinned_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(room)
    channel.publish(session, room.id, "pin", goods_id=None)
    audit.record(session, actor, "live.unpinned", target_type="live_room", target_id=room.id)
    return room


# --- reading --------------------------------------------------------------------------------


async def goods_of(session: AsyncSession, room_ids: Sequence[int]) -> dict[int, list[LiveGoods]]:
    found: dict[int, list[LiveGoods]] = {room_id: [] for room_id in room_ids}
    if not room_ids:
        return found
    for goods in await session.scalars(
        select(LiveGoods).where(LiveGoods.room_id.in_(room_ids)).order_by(LiveGoods.id)
    ):
        found[goods.room_id].append(goods)
    return found


async def merchant_rooms(session: AsyncSession, actor: Actor, *, limit: int) -> Sequence[Room]:
    organisation_id = acting_merchant(actor, LIVE_READ)
    return (
        await session.scalars(
            own_rooms(organisation_id).order_by(Room.scheduled_start.desc()).limit(limit)
        )
    ).all()


async def leader_rooms_of(session: AsyncSession, actor: Actor, *, limit: int) -> Sequence[Room]:
    """The acting group leader's rooms, latest first."""
    return (
        await session.scalars(
            leader_rooms(actor.require_user_id())
            .order_by(Room.scheduled_start.desc(), Room.id.desc())
            .limit(limit)
        )
    ).all()


async def supplied_rooms(session: AsyncSession, actor: Actor, *, limit: int) -> Sequence[Room]:
    """The open rooms of the group leaders the merchant has an accepted agreement with."""
    organisation_id = acting_merchant(actor, LIVE_READ)
    return (
        await session.scalars(
            select(Room)
            .join(
                SupplyAgreement,
                (SupplyAgreement.pickup_point_id == Room.pickup_point_id)
                & (SupplyAgreement.leader_user_id == Room.leader_user_id),
            )
            .where(
                Room.organisation_id.is_(None),
                Room.status.in_(OPEN_STATUSES),
                SupplyAgreement.organisation_id == organisation_id,
                SupplyAgreement.status == "accepted",
            )
            .order_by(Room.scheduled_start, Room.id)
            .limit(limit)
        )
    ).all()


async def schedule(
    session: AsyncSession, *, limit: int, viewer_user_id: int | None = None
) -> Sequence[Room]:
    """Rooms live now and upcoming, soonest first (banned and ended ones left out; a group
    leader's only for the residents of its point)."""
    return (
        await session.scalars(
            public_rooms(viewer_user_id)
            .where(Room.status.in_(OPEN_STATUSES))
            .order_by(Room.scheduled_start, Room.id)
            .limit(limit)
        )
    ).all()


async def replays(
    session: AsyncSession, *, limit: int, viewer_user_id: int | None = None
) -> Sequence[Room]:
    return (
        await session.scalars(
            public_rooms(viewer_user_id)
            .where(Room.status == RoomStatus.ENDED)
            .order_by(Room.ended_at.desc(), Room.id.desc())
            .limit(limit)
        )
    ).all()


async def sessions_and_pins(
    session: AsyncSession, room_id: int
) -> tuple[Sequence[LiveSession], Sequence[Pin]]:
    sessions = (
        await session.scalars(
            select(LiveSession).where(LiveSession.room_id == room_id).order_by(LiveSession.id)
        )
    ).all()
    pins = (await session.scalars(select(Pin).where(Pin.room_id == room_id).order_by(Pin.id))).all()
    return sessions, pins


def replay_window(started: datetime, pinned: datetime) -> int:
    """Seconds from the session's start to a pin: the goods' timestamp in the replay."""
    return max(0, int((pinned - started).total_seconds()))
