"""Delivery of paid live orders (docs/live.md "Delivery"): collected at the buyer's pickup
point (chosen at checkout) or shipped to an address (given at checkout or later, until
shipped); the merchant's shipment with carrier and tracking number; the receipt: confirmed by
the resident, or automatic `auto_receive_days` of rule `live.delivery` after shipment (a due
job), or, for a pickup order, the leader's hand-over against the pickup code once the goods
arrived at the point; and each order's link into the room's replay at the moment its goods
were pinned.

Every move is one conditional UPDATE on the order's fulfilment status, scoped in its WHERE
to the actor (the resident's own order, the merchant's own organisation, the leader's own
point), and audited: `to_ship -> shipped -> received`, or `to_ship -> shipped -> at_point ->
received` for a pickup order, each once; a pickup order not handed over within rule
`live.uncollected`'s days of its arrival goes `at_point -> uncollected` instead (a due job),
refunded or only reported as the rule says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import LIVE_MANAGE, LIVE_READ, Actor
from linli.community import pickup_codes, points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import LiveOrderAtPoint, LiveOrderShipped, LiveOrderUncollected
from linli.i18n import N_
from linli.jobs import AutoReceiveLiveOrder, LiveOrderUncollectedCheck
from linli.live import recordings, settlement
from linli.live.checkout import payment_of
from linli.live.models import LiveGoods, LiveOrder, Pin, Recording, Room
from linli.live.policies import acting_merchant
from linli.live.schemas import DeliveryIn, ShipmentIn
from linli.live.states import FulfilmentStatus, LiveOrderStatus
from linli.payments import service as payments
from linli.payments.reasons import RefundReason
from linli.rules import service as rules

RULE = "live.delivery"
UNCOLLECTED_RULE = "live.uncollected"

# The carriers a merchant ships with (code -> name); "other" names none in particular.
CARRIERS: dict[str, str] = {
    "sf": N_("SF Express"),
    "jd": N_("JD Logistics"),
    "ems": N_("China Post EMS"),
    "zto": N_("ZTO Express"),
    "yto": N_("YTO Express"),
    "sto": N_("STO Express"),
    "yunda": N_("Yunda Express"),
    "jt": N_("J&T Express"),
    "other": N_("Other carrier"),
}
STATE_FILTERS = ("to_ship", "shipped", "at_point", "received", "uncollected", "cancelled", "all")
FULFILMENT_LABELS: dict[str, str] = {
    FulfilmentStatus.TO_SHIP: N_("To be shipped"),
    FulfilmentStatus.SHIPPED: N_("Shipped"),
    FulfilmentStatus.AT_POINT: N_("At the pickup point"),
    FulfilmentStatus.RECEIVED: N_("Received"),
    FulfilmentStatus.UNCOLLECTED: N_("Not collected"),
}
assert set(FULFILMENT_LABELS) == set(FulfilmentStatus)


def _order_not_found() -> NotFound:
    return NotFound(N_("No such live order."), code="live_order_not_found")


@dataclass(frozen=True)
class ReplayLink:
    """Where in the room's replay the order's goods were pinned."""

    url: str
    at_seconds: int


@dataclass(frozen=True)
class LiveOrderView:
    """A live order with what its pages and bodies show besides the row."""

    order: LiveOrder
    room_title: str
    product_name: str
    unit: str
    replay: ReplayLink | None
    pickup_point_name: str | None = None


# --- the resident ---------------------------------------------------------------------------


def delivery_fields(form: Mapping[str, str]) -> dict[str, str] | None:
    """A form's delivery fields as the body of `DeliveryIn`, or None when all are blank (the
    address is given later)."""
    fields = {
        "recipient_name": form.get("recipient_name", ""),
        "recipient_phone": form.get("recipient_phone", ""),
        "address": form.get("address", ""),
    }
    if not any(value.strip() for value in fields.values()):
        return None
    return fields


async def set_address(
    session: AsyncSession, actor: Actor, order_id: int, data: DeliveryIn
) -> LiveOrder:
    """The resident gives (or corrects) where their order is shipped, until it is shipped."""
    user_id = actor.require_user_id()
    moved = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.user_id == user_id,
            LiveOrder.pickup_point_id.is_(None),
            LiveOrder.status.in_((LiveOrderStatus.PENDING_PAYMENT, LiveOrderStatus.PAID)),
            (LiveOrder.fulfilment_status.is_(None))
            | (LiveOrder.fulfilment_status == FulfilmentStatus.TO_SHIP),
        )
        .values(
            recipient_name=data.recipient_name,
            recipient_phone=data.recipient_phone,
            delivery_address=data.address,
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    order = await _own_order(session, user_id, order_id)
    if moved is None:
        if order.pickup_point_id is not None:
            raise Conflict(
                N_("This order is collected at your pickup point: it needs no address."),
                code="pickup_order",
            )
        raise Conflict(
            N_("The address can no longer be changed: the order was shipped or cancelled."),
            code="address_locked",
        )
    audit.record(
        session, actor, "live.order_address_set", target_type="live_order", target_id=order_id
    )
    return order


async def home_point(session: AsyncSession, actor: Actor) -> points.Point | None:
    """The open pickup point of the resident's residence, where a pickup order is collected
    (None: anonymous, no residence, or its point closed)."""
    if actor.user is None:
        return None
    found = await session.scalar(select(points.open_point_id(points.home_point_id(actor.user.id))))
    return None if found is None else await points.point(session, int(found))


async def last_delivery(session: AsyncSession, actor: Actor) -> DeliveryIn | None:
    """The address of the resident's latest live order that has one (to fill the buy form),
    or None (anonymous, or never given)."""
    if actor.user is None:
        return None
    row = (
        await session.execute(
            select(LiveOrder.recipient_name, LiveOrder.recipient_phone, LiveOrder.delivery_address)
            .where(LiveOrder.user_id == actor.user.id, LiveOrder.delivery_address.is_not(None))
            .order_by(LiveOrder.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return DeliveryIn.model_construct(
        recipient_name=row[0] or "", recipient_phone=row[1] or "", address=row[2] or ""
    )


async def confirm_receipt(session: AsyncSession, actor: Actor, order_id: int) -> LiveOrder:
    """The resident confirms they received the shipped goods (`shipped -> received`, once)."""
    user_id = actor.require_user_id()
    now = clock.now()
    moved = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.user_id == user_id,
            LiveOrder.pickup_point_id.is_(None),
            LiveOrder.fulfilment_status == FulfilmentStatus.SHIPPED,
        )
        .values(fulfilment_status=FulfilmentStatus.RECEIVED, received_at=now)
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    order = await _own_order(session, user_id, order_id)
    if moved is None:
        if order.fulfilment_status == FulfilmentStatus.RECEIVED:
            raise Conflict(N_("This order was received already."), code="already_received")
        if order.pickup_point_id is not None:
            raise Conflict(
                N_("Collect it at your pickup point with the pickup code."),
                code="collect_at_point",
            )
        raise Conflict(N_("This order has not been shipped yet."), code="not_shipped")
    audit.record(
        session,
        actor,
        "live.order_received",
        target_type="live_order",
        target_id=order_id,
        automatically=False,
    )
    await settlement.settle_received(session, order_id)
    await session.refresh(order)
    return order


async def _own_order(session: AsyncSession, user_id: int, order_id: int) -> LiveOrder:
    order = await session.scalar(
        select(LiveOrder)
        .where(LiveOrder.id == order_id, LiveOrder.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise _order_not_found()
    return order


async def my_order(session: AsyncSession, actor: Actor, order_id: int) -> LiveOrderView:
    """One of the resident's own live orders (404 for anyone else's)."""
    views = await _views(session, LiveOrder.user_id == actor.require_user_id(), order_id)
    if not views:
        raise _order_not_found()
    return views[0]


async def my_orders(session: AsyncSession, actor: Actor, *, limit: int) -> list[LiveOrderView]:
    """The resident's live orders, newest first, each with its room and replay link."""
    return await _views(session, LiveOrder.user_id == actor.require_user_id(), limit=limit)


# --- the merchant ---------------------------------------------------------------------------


async def merchant_orders(
    session: AsyncSession, actor: Actor, *, state: str = "to_ship", limit: int = 100
) -> list[LiveOrderView]:
    """The organisation's paid live orders: those to ship (oldest paid first, the first to
    go), or shipped, at the point, received, not collected, cancelled after payment, or all
    of them (newest first)."""
    organisation_id = acting_merchant(actor, LIVE_READ)
    if state not in STATE_FILTERS:
        raise ValidationFailed(
            N_("Check the list."),
            fields={
                "state": N_(
                    "Choose to_ship, shipped, at_point, received, uncollected, cancelled or all."
                )
            },
        )
    # Paid and then cancelled (before shipment): no longer on its way, still the merchant's
    # to see; an unpaid order that lapsed never was.
    cancelled = (LiveOrder.status == LiveOrderStatus.CANCELLED) & LiveOrder.paid_at.is_not(None)
    if state == "all":
        condition: Any = LiveOrder.fulfilment_status.is_not(None) | cancelled
    elif state == "cancelled":
        condition = cancelled
    else:
        condition = LiveOrder.fulfilment_status == state
    condition = (LiveOrder.organisation_id == organisation_id) & condition
    return await _views(session, condition, limit=limit, oldest_first=state == "to_ship")


async def merchant_order(session: AsyncSession, actor: Actor, order_id: int) -> LiveOrderView:
    """One of the organisation's live orders (404 for another's, as for a missing one)."""
    organisation_id = acting_merchant(actor, LIVE_READ)
    views = await _views(session, LiveOrder.organisation_id == organisation_id, order_id)
    if not views:
        raise _order_not_found()
    return views[0]


async def ship(session: AsyncSession, actor: Actor, order_id: int, data: ShipmentIn) -> LiveOrder:
    """The merchant hands a paid order to a carrier (`to_ship -> shipped`, once) with its
    tracking number: to the address, where it counts as received `auto_receive_days` later
    unless the resident confirms first (a due job); or to the buyer's pickup point, whose
    leader records its arrival and hands it over against the code."""
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    if data.carrier not in CARRIERS:
        raise ValidationFailed(
            N_("Check the shipment."), fields={"carrier": N_("Choose a carrier from the list.")}
        )
    order = await session.scalar(
        select(LiveOrder).where(
            LiveOrder.id == order_id, LiveOrder.organisation_id == organisation_id
        )
    )
    if order is None:
        raise _order_not_found()
    if order.status == LiveOrderStatus.CANCELLED:
        raise Conflict(N_("This order was cancelled already."), code="already_cancelled")
    if order.fulfilment_status is None:
        raise Conflict(N_("Only a paid order can be shipped."), code="not_paid")
    rule = await rules.in_force(session, RULE)
    now = clock.now()
    receive_by = (
        now + timedelta(days=int(rule.values["auto_receive_days"]))
        if order.pickup_point_id is None
        else None  # collected at the point: received at the hand-over
    )
    moved = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.organisation_id == organisation_id,
            LiveOrder.status == LiveOrderStatus.PAID,
            LiveOrder.fulfilment_status == FulfilmentStatus.TO_SHIP,
            LiveOrder.delivery_address.is_not(None) | LiveOrder.pickup_point_id.is_not(None),
        )
        .values(
            fulfilment_status=FulfilmentStatus.SHIPPED,
            carrier=data.carrier,
            tracking_number=data.tracking_number.upper(),
            shipped_at=now,
            shipped_by_user_id=actor.require_user_id(),
            receive_by=receive_by,
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(order)
    if moved is None:
        if order.status == LiveOrderStatus.CANCELLED:  # cancelled meanwhile
            raise Conflict(N_("This order was cancelled already."), code="already_cancelled")
        if order.fulfilment_status == FulfilmentStatus.TO_SHIP:
            raise Conflict(
                N_("The resident has not given a delivery address yet."), code="address_missing"
            )
        raise Conflict(N_("This order was shipped already."), code="already_shipped")
    if receive_by is not None:
        await outbox.schedule(
            session,
            AutoReceiveLiveOrder(order_id=order_id),
            receive_by,
            dedupe_key=f"live-auto-receive-{order_id}",
        )
    outbox.publish(
        session,
        LiveOrderShipped(
            order_id=order_id,
            user_id=order.user_id,
            organisation_id=organisation_id,
            carrier=data.carrier,
            tracking_number=order.tracking_number or "",
            receive_by=receive_by,
        ),
    )
    audit.record(
        session,
        actor,
        "live.order_shipped",
        target_type="live_order",
        target_id=order_id,
        carrier=data.carrier,
        tracking_number=order.tracking_number,
        receive_by=receive_by.isoformat() if receive_by else None,
        pickup_point_id=order.pickup_point_id,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return order


async def auto_receive(session: AsyncSession, order_id: int) -> bool:
    """Due job: a shipped order the resident has not confirmed by `receive_by` is received
    (once: a conditional UPDATE from `shipped`; a confirmed order is left as it is)."""
    now = clock.now()
    moved = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.fulfilment_status == FulfilmentStatus.SHIPPED,
            LiveOrder.receive_by <= now,
        )
        .values(
            fulfilment_status=FulfilmentStatus.RECEIVED,
            received_at=now,
            received_automatically=True,
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    audit.record(
        session,
        Actor.for_system(),
        "live.order_received",
        target_type="live_order",
        target_id=order_id,
        automatically=True,
    )
    await settlement.settle_received(session, order_id)
    return True


# --- the leader of the pickup point -----------------------------------------------------------


async def _led_point(session: AsyncSession, actor: Actor, point_id: int) -> int:
    if await points.point_led_by(session, actor.require_user_id(), point_id) is None:
        raise NotFound(N_("No such pickup point."), code="point_not_found")
    return point_id


async def point_orders(session: AsyncSession, actor: Actor, point_id: int) -> list[LiveOrderView]:
    """Live orders coming to (shipped) or waiting at a point the actor leads, oldest first
    (404 for a point they do not lead); never with the pickup code."""
    await _led_point(session, actor, point_id)
    condition = (LiveOrder.pickup_point_id == point_id) & LiveOrder.fulfilment_status.in_(
        (FulfilmentStatus.SHIPPED, FulfilmentStatus.AT_POINT)
    )
    return await _views(session, condition, limit=500, oldest_first=True)


async def point_uncollected(
    session: AsyncSession, actor: Actor, point_id: int, *, limit: int = 50
) -> list[LiveOrderView]:
    """The latest live orders of a point the actor leads that were not collected in time
    (rule `live.uncollected`), newest first."""
    await _led_point(session, actor, point_id)
    condition = (LiveOrder.pickup_point_id == point_id) & (
        LiveOrder.fulfilment_status == FulfilmentStatus.UNCOLLECTED
    )
    return await _views(session, condition, limit=limit)


async def point_order(
    session: AsyncSession, actor: Actor, point_id: int, order_id: int
) -> LiveOrderView:
    """One live order of a point the actor leads, in any state (404 otherwise)."""
    await _led_point(session, actor, point_id)
    views = await _views(session, LiveOrder.pickup_point_id == point_id, order_id)
    if not views:
        raise _order_not_found()
    return views[0]


async def arrived(session: AsyncSession, actor: Actor, point_id: int, order_id: int) -> LiveOrder:
    """The leader records a shipped pickup order arrived at their point (`shipped ->
    at_point`, once): its pickup code is drawn, unique among the live ones at the point, and
    the buyer is told."""
    await _led_point(session, actor, point_id)
    taken = set(
        (
            await session.scalars(
                select(LiveOrder.pickup_code).where(
                    LiveOrder.pickup_point_id == point_id,
                    LiveOrder.fulfilment_status == FulfilmentStatus.AT_POINT,
                    LiveOrder.pickup_code.is_not(None),
                )
            )
        ).all()
    )
    # Nor a code another domain (group buying) has waiting here: one desk, one meaning.
    taken |= await pickup_codes.codes_waiting_elsewhere(session, point_id, besides="live")
    now = clock.now()
    moved = (
        await session.execute(
            update(LiveOrder)
            .where(
                LiveOrder.id == order_id,
                LiveOrder.pickup_point_id == point_id,
                LiveOrder.fulfilment_status == FulfilmentStatus.SHIPPED,
            )
            .values(
                fulfilment_status=FulfilmentStatus.AT_POINT,
                arrived_at=now,
                pickup_code=pickup_codes.new_code({c for c in taken if c is not None}),
            )
            .returning(LiveOrder.user_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    order = await session.scalar(
        select(LiveOrder)
        .where(LiveOrder.id == order_id, LiveOrder.pickup_point_id == point_id)
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise _order_not_found()
    if moved is None:
        raise Conflict(
            N_("Only an order shipped to this point can arrive here, once."),
            code="not_on_its_way",
        )
    # The collection period of rule `live.uncollected` starts: at its end, an order still
    # waiting here is uncollected (a due job, once per order).
    rule = await rules.in_force(session, UNCOLLECTED_RULE)
    collect_by = now + timedelta(days=int(rule.values["days"]))
    await outbox.schedule(
        session,
        LiveOrderUncollectedCheck(order_id=order_id),
        collect_by,
        dedupe_key=f"live-uncollected-{order_id}",
    )
    outbox.publish(
        session,
        LiveOrderAtPoint(order_id=order_id, user_id=order.user_id, pickup_point_id=point_id),
    )
    audit.record(
        session,
        actor,
        "live.order_arrived",
        target_type="live_order",
        target_id=order_id,
        pickup_point_id=point_id,
        collect_by=collect_by.isoformat(),
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return order


async def hand_over(session: AsyncSession, actor: Actor, point_id: int, code: str) -> LiveOrder:
    """The leader hands the order over against the code the buyer shows (`at_point ->
    received`, once): at their own point only; a code not live here is 404."""
    await _led_point(session, actor, point_id)
    digits = pickup_codes.normalise_code(code)
    now = clock.now()
    handed = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.pickup_point_id == point_id,
            LiveOrder.pickup_code == digits,
            LiveOrder.fulfilment_status == FulfilmentStatus.AT_POINT,
        )
        .values(
            fulfilment_status=FulfilmentStatus.RECEIVED,
            received_at=now,
            handed_over_by_user_id=actor.require_user_id(),
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    if handed is None:
        raise NotFound(
            N_("No live order waits at this point with that code."), code="code_not_found"
        )
    audit.record(
        session,
        actor,
        "live.order_handed_over",
        target_type="live_order",
        target_id=int(handed),
        pickup_point_id=point_id,
    )
    # The goods' value is settled now, the leader handing them over earning their commission.
    await settlement.settle_received(session, int(handed), leader_user_id=actor.require_user_id())
    order = await session.get(LiveOrder, int(handed), populate_existing=True)
    assert order is not None
    return order


async def handle_uncollected(session: AsyncSession, order_id: int) -> bool:
    """Due job at a pickup order's collect-by time: still `at_point` (never handed over), it
    becomes `uncollected` by one conditional UPDATE (a hand-over racing it: exactly one wins)
    and rule `live.uncollected` decides: refund what is not yet refunded of the order to the
    payer (once: an idempotency key), or only report it to the merchant. The buyer is told.
    False, and nothing done, when the order is no longer waiting."""
    # The row locked (PostgreSQL; SQLite has one writer), so the refunded amount read here is
    # the one the UPDATE replaces; a hand-over waiting on the lock then finds no `at_point`.
    order = await session.scalar(
        select(LiveOrder)
        .where(LiveOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        return False
    rule = await rules.in_force(session, UNCOLLECTED_RULE)
    action = "report" if rule.values.get("action") == "report" else "refund"
    refunded_before = order.refunded_fen
    moved = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.status == LiveOrderStatus.PAID,
            LiveOrder.fulfilment_status == FulfilmentStatus.AT_POINT,
            # The amount refunded is the one read above (a guard besides the lock).
            LiveOrder.refunded_fen == refunded_before,
        )
        .values(
            fulfilment_status=FulfilmentStatus.UNCOLLECTED,
            refunded_fen=LiveOrder.total_fen if action == "refund" else LiveOrder.refunded_fen,
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    await session.refresh(order)
    refunded = 0
    if action == "refund":
        refunded = order.total_fen - refunded_before
        await _refund_uncollected(session, order, refunded)
    outbox.publish(
        session,
        LiveOrderUncollected(
            order_id=order_id,
            user_id=order.user_id,
            pickup_point_id=order.pickup_point_id or 0,
            organisation_id=order.organisation_id,
            action=action,
            refunded_fen=refunded,
        ),
    )
    audit.record(
        session,
        Actor.for_system(),
        "live.order_uncollected",
        target_type="live_order",
        target_id=order_id,
        handling=action,
        refunded_fen=refunded,
        pickup_point_id=order.pickup_point_id,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return True


async def _refund_uncollected(session: AsyncSession, order: LiveOrder, amount: int) -> None:
    """Refund `amount` of the order on its payment intent, once (the key names the order)."""
    if amount <= 0:
        return
    intent = await payment_of(session, order)
    if intent is None:
        raise RuntimeError(f"live order {order.id} was paid but has no payment intent")
    await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount,
        "not collected",
        reason_code=RefundReason.UNCOLLECTED,
        idempotency_key=f"uncollected-live-{order.id}",
    )


# --- reading --------------------------------------------------------------------------------


async def _views(
    session: AsyncSession,
    condition: Any,
    order_id: int | None = None,
    *,
    limit: int = 1,
    oldest_first: bool = False,
) -> list[LiveOrderView]:
    query = (
        select(
            LiveOrder,
            Room.title,
            LiveGoods.product_name,
            LiveGoods.unit,
            Pin.pinned_at,
            points.name_of_point(LiveOrder.pickup_point_id),
        )
        .join(Room, Room.id == LiveOrder.room_id)
        .join(LiveGoods, LiveGoods.id == LiveOrder.goods_id)
        .join(Pin, Pin.id == LiveOrder.pin_id)
        .where(condition)
        .order_by(LiveOrder.id if oldest_first else LiveOrder.id.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    if order_id is not None:
        query = query.where(LiveOrder.id == order_id)
    rows = (await session.execute(query)).all()
    replays: dict[int, list[Recording]] = {}
    views = []
    for order, title, name, unit, pinned_at, point_name in rows:
        if order.room_id not in replays:
            replays[order.room_id] = list(await recordings.ready_recordings(session, order.room_id))
        replay = replay_link(replays[order.room_id], order, pinned_at)
        views.append(LiveOrderView(order, title, name, unit, replay, point_name))
    return views


def replay_link(ready: list[Recording], order: LiveOrder, pinned_at: Any) -> ReplayLink | None:
    """The ready recording holding the moment the order's goods were pinned, and the second
    into it (a media fragment, `#t=`, the player starts there). A recording's file is closed
    at `recorded_at` and lasts `duration_ms`: it began that long before. Without one holding
    the moment, the session's first recording from its start; none: no link (yet)."""
    session_recordings = [r for r in ready if r.session_id in (order.session_id, None)]
    for recording in session_recordings:
        if recording.duration_ms is None:
            continue
        began = recording.recorded_at - timedelta(milliseconds=recording.duration_ms)
        if began <= pinned_at <= recording.recorded_at:
            at = int((pinned_at - began).total_seconds())
            return ReplayLink(_url(recording, at), at)
    if session_recordings:
        return ReplayLink(_url(session_recordings[0], 0), 0)
    return None


def _url(recording: Recording, at: int) -> str:
    return f"/live/{recording.room_id}/recordings/{recording.id}.mp4#t={at}"
