"""Buying in a live room: a viewer's order of the pinned goods at the stream price, placed
once per idempotency key, with its payment intent; the stream stock is taken by one
conditional UPDATE, last (the room must still be live with these goods pinned, the stock not
yet released, and enough left), so nothing is oversold and nothing is sold unpinned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.catalog import stock
from linli.community import points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import PaymentSucceeded
from linli.i18n import N_
from linli.jobs import ExpireLiveOrder
from linli.live import channel
from linli.live.models import BuyerQuota, LiveGoods, LiveOrder, LiveSession, Pin, Room
from linli.live.schemas import LiveOrderIn
from linli.live.states import FulfilmentStatus, LiveOrderStatus, RoomStatus
from linli.merchants.queries import selling_organisation_ids
from linli.payments import service as payments
from linli.payments.reasons import RefundReason
from linli.payments.views import IntentView

log = logging.getLogger(__name__)

PURPOSE = "live_order"
KEY_LENGTH = (8, 64)
PAYMENT_WINDOW = timedelta(minutes=15)
MAX_ORDER_FEN = 10**9  # as group buying's: fits every integer column


@dataclass(frozen=True)
class Placed:
    order: LiveOrder
    intent: IntentView | None
    created: bool


def not_on_sale() -> Conflict:
    return Conflict(
        N_("These goods are not on sale in the room now (only the pinned item, while live)."),
        code="not_on_sale",
    )


def sold_out(product: str) -> Conflict:
    return Conflict(N_("{product} is sold out."), product=product, code="sold_out")


def limit_exceeded(limit: int) -> Conflict:
    return Conflict(
        N_("Each viewer may buy at most {limit} of this item."),
        limit=limit,
        code="limit_exceeded",
    )


async def _give_back_quota(session: AsyncSession, user_id: int, goods_id: int, units: int) -> None:
    await session.execute(
        update(BuyerQuota)
        .where(
            BuyerQuota.user_id == user_id,
            BuyerQuota.goods_id == goods_id,
            BuyerQuota.quantity >= units,
        )
        .values(quantity=BuyerQuota.quantity - units)
        .execution_options(synchronize_session=False)
    )


def _check_key(key: str) -> None:
    low, high = KEY_LENGTH
    if not low <= len(key) <= high or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            N_("Send an Idempotency-Key header of 8 to 64 printable characters."),
            fields={"Idempotency-Key": N_("Enter 8 to 64 printable characters.")},
        )


def _on_sale(goods_id: int) -> ColumnElement[bool]:
    """The room is live and these goods are pinned (SQL, checked inside the UPDATE)."""
    return exists().where(
        Room.id == LiveGoods.room_id,
        Room.status == RoomStatus.LIVE,
        Room.pinned_goods_id == goods_id,
    )


async def place_order(
    session: AsyncSession, actor: Actor, room_id: int, data: LiveOrderIn, idempotency_key: str
) -> Placed:
    user_id = actor.require_user_id()
    _check_key(idempotency_key)
    earlier = await session.scalar(
        select(LiveOrder).where(
            LiveOrder.user_id == user_id, LiveOrder.idempotency_key == idempotency_key
        )
    )
    if earlier is not None:
        return await _replay(session, earlier, room_id, data)
    row = (
        await session.execute(
            select(
                LiveGoods,
                Room,
                select(LiveSession.id)
                .where(LiveSession.room_id == Room.id, LiveSession.ended_at.is_(None))
                .scalar_subquery()
                .label("session_id"),
                select(Pin.id)
                .where(Pin.room_id == Room.id, Pin.unpinned_at.is_(None))
                .scalar_subquery()
                .label("pin_id"),
                LiveGoods.organisation_id.in_(selling_organisation_ids()).label("selling"),
            )
            .join(Room, Room.id == LiveGoods.room_id)
            .where(
                LiveGoods.id == data.goods_id,
                LiveGoods.room_id == room_id,
                Room.status != RoomStatus.BANNED,
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(N_("No such goods in this room."), code="goods_not_found")
    goods: LiveGoods = row.LiveGoods
    room: Room = row.Room
    if (
        room.status != RoomStatus.LIVE
        or room.pinned_goods_id != goods.id
        or row.session_id is None
        or row.pin_id is None
        or not row.selling
    ):
        raise not_on_sale()
    # The seller is the goods' merchant (the room's, or a leader room's supplier).
    seller_id = goods.organisation_id or room.organisation_id
    assert seller_id is not None
    if data.quantity > goods.per_buyer_limit:
        raise limit_exceeded(goods.per_buyer_limit)
    if goods.remaining < data.quantity:  # early answer; the UPDATE below decides
        raise sold_out(goods.product_name)
    now = clock.now()
    total = goods.stream_price_fen * data.quantity
    if total > MAX_ORDER_FEN:
        raise ValidationFailed(
            N_("Check the order."), fields={"quantity": N_("The order is too large.")}
        )
    point_id: int | None = None
    if room.pickup_point_id is not None:
        # A group leader's room: only its point's residents buy, and always collect there.
        home = await session.scalar(select(points.open_point_id(points.home_point_id(user_id))))
        if home is None or int(home) != room.pickup_point_id:
            raise NotFound(N_("No such goods in this room."), code="goods_not_found")
        if data.delivery is not None:
            raise ValidationFailed(
                N_("Check the order."),
                fields={"delivery": N_("Orders of this room are collected at its pickup point.")},
                code="pickup_only",
            )
        point_id = room.pickup_point_id
    elif data.pickup:  # collected at the buyer's pickup point (their residence's, if open)
        found = await session.scalar(select(points.open_point_id(points.home_point_id(user_id))))
        if found is None:
            raise ValidationFailed(
                N_("Check the order."),
                fields={"pickup": N_("Join a community with an open pickup point first.")},
                code="no_pickup_point",
            )
        point_id = int(found)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # The per-viewer limit: one conditional upsert (no row: the limit is reached).
    quota = insert(BuyerQuota).values(user_id=user_id, goods_id=goods.id, quantity=data.quantity)
    held = BuyerQuota.quantity + quota.excluded.quantity
    taken_quota = await session.scalar(
        quota.on_conflict_do_update(
            index_elements=[BuyerQuota.user_id, BuyerQuota.goods_id],
            set_={"quantity": held},
            where=held <= goods.per_buyer_limit,
        ).returning(BuyerQuota.quantity)
    )
    if taken_quota is None:
        winner = await session.scalar(
            select(LiveOrder).where(
                LiveOrder.user_id == user_id, LiveOrder.idempotency_key == idempotency_key
            )
        )
        if winner is not None:
            return await _replay(session, winner, room_id, data)
        raise limit_exceeded(goods.per_buyer_limit)
    order = await session.scalar(
        insert(LiveOrder)
        .values(
            user_id=user_id,
            organisation_id=seller_id,
            room_id=room.id,
            session_id=int(row.session_id),
            goods_id=goods.id,
            pin_id=int(row.pin_id),
            quantity=data.quantity,
            unit_price_fen=goods.stream_price_fen,
            total_fen=total,
            status=LiveOrderStatus.PENDING_PAYMENT,
            idempotency_key=idempotency_key,
            created_at=now,
            recipient_name=data.delivery.recipient_name if data.delivery else None,
            recipient_phone=data.delivery.recipient_phone if data.delivery else None,
            delivery_address=data.delivery.address if data.delivery else None,
            pickup_point_id=point_id,
        )
        .on_conflict_do_nothing(index_elements=[LiveOrder.user_id, LiveOrder.idempotency_key])
        .returning(LiveOrder)
    )
    if order is None:  # a concurrent request with the same key won
        winner = await session.scalar(
            select(LiveOrder).where(
                LiveOrder.user_id == user_id, LiveOrder.idempotency_key == idempotency_key
            )
        )
        if winner is None:
            raise RuntimeError("a live order could not be inserted, and no order has its key")
        await _give_back_quota(session, user_id, goods.id, data.quantity)
        return await _replay(session, winner, room_id, data)
    intent = await payments.create_intent(
        session,
        actor,
        payee_organisation_id=seller_id,
        purpose=PURPOSE,
        reference=str(order.id),
        amount_fen=total,
        idempotency_key=f"live-order-{order.id}",
        expires_in=PAYMENT_WINDOW + timedelta(minutes=5),
    )
    await outbox.schedule(
        session, ExpireLiveOrder(order_id=order.id, intent_id=intent.id), now + PAYMENT_WINDOW
    )
    # Last: the stream stock. Zero rows: sold out, or unpinned / ended meanwhile.
    taken = await session.scalar(
        update(LiveGoods)
        .where(
            LiveGoods.id == goods.id,
            LiveGoods.remaining >= data.quantity,
            LiveGoods.released_at.is_(None),
            _on_sale(goods.id),
        )
        .values(remaining=LiveGoods.remaining - data.quantity)
        .returning(LiveGoods.remaining)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        still = await session.scalar(
            select(Room.pinned_goods_id).where(Room.id == room.id, Room.status == RoomStatus.LIVE)
        )
        if still != goods.id:
            raise not_on_sale()
        raise sold_out(goods.product_name)
    channel.publish(session, room.id, "stock", goods_id=goods.id, remaining=int(taken))
    return Placed(order, intent, created=True)


async def _replay(
    session: AsyncSession, order: LiveOrder, room_id: int, data: LiveOrderIn
) -> Placed:
    if (order.room_id, order.goods_id, order.quantity) != (room_id, data.goods_id, data.quantity):
        raise Conflict(
            N_("This idempotency key was already used for a different order."),
            code="idempotency_key_reused",
            fields={"Idempotency-Key": N_("Use a new key for a new order.")},
        )
    return Placed(order, await payment_of(session, order), created=False)


async def payment_of(session: AsyncSession, order: LiveOrder) -> IntentView | None:
    rows = await payments.intents_for(session, Actor.for_system(), PURPOSE, str(order.id))
    return rows[-1] if rows else None


async def mark_paid(session: AsyncSession, event: PaymentSucceeded) -> str:
    """pending_payment -> paid (and to ship); a payment for an order no longer payable
    (expired) is refunded in full, once."""
    try:
        order_id = int(event.reference)
    except ValueError:
        log.warning("live payment %s has a malformed reference", event.public_id)
        return "ignored"
    paid = await session.scalar(
        update(LiveOrder)
        .where(
            LiveOrder.id == order_id,
            LiveOrder.status == LiveOrderStatus.PENDING_PAYMENT,
            LiveOrder.user_id == event.payer_user_id,
            LiveOrder.total_fen == event.amount_fen,
        )
        .values(
            status=LiveOrderStatus.PAID,
            paid_at=clock.now(),
            fulfilment_status=FulfilmentStatus.TO_SHIP,  # the merchant ships it now
        )
        .returning(LiveOrder.id)
        .execution_options(synchronize_session=False)
    )
    if paid is not None:
        return "paid"
    order = await session.get(LiveOrder, order_id, populate_existing=True)
    if order is not None and order.paid_at is not None:
        return "already_paid"
    left = min(event.amount_fen, await payments.refundable_fen(session, event.intent_id))
    if left == 0:
        return "already_refunded"
    await payments.refund(
        session,
        Actor.for_system(),
        event.intent_id,
        left,
        "live order no longer payable",
        reason_code=RefundReason.PAYMENT_EXPIRED,
        idempotency_key=f"live-unpayable-{event.intent_id}",
    )
    return "refunded"


async def expire_order(session: AsyncSession, order_id: int, intent_id: int) -> bool:
    """Due job: an order still unpaid at its deadline is cancelled and its units given back:
    to the room's stream stock while the room holds it, else to the SKU (once: the order's
    status moves by a conditional UPDATE)."""
    row = (
        await session.execute(
            update(LiveOrder)
            .where(LiveOrder.id == order_id, LiveOrder.status == LiveOrderStatus.PENDING_PAYMENT)
            .values(status=LiveOrderStatus.CANCELLED)
            .returning(LiveOrder.goods_id, LiveOrder.quantity, LiveOrder.room_id, LiveOrder.user_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if row is None:
        return False
    goods_id, quantity, room_id = int(row[0]), int(row[1]), int(row[2])
    await give_back_units(
        session,
        order_id=order_id,
        user_id=int(row[3]),
        goods_id=goods_id,
        room_id=room_id,
        quantity=quantity,
        reason="live.order_expired",
    )
    try:
        await payments.cancel_intent(session, Actor.for_system(), intent_id)
    except Conflict:
        log.info("live order %s expired; its intent %s was no longer open", order_id, intent_id)
    audit.record(
        session,
        Actor.for_system(),
        "live.order_expired",
        target_type="live_order",
        target_id=order_id,
        room_id=room_id,
    )
    return True


async def give_back_units(
    session: AsyncSession,
    *,
    order_id: int,
    user_id: int,
    goods_id: int,
    room_id: int,
    quantity: int,
    reason: str,
) -> None:
    """A cancelled order's units go back (the caller moved the order to cancelled, once): the
    buyer's per-viewer quota, then the room's stream stock while the room holds it, else the
    SKU (through catalog.stock, audited with `reason`)."""
    await _give_back_quota(session, user_id, goods_id, quantity)
    back = await session.scalar(
        update(LiveGoods)
        .where(
            LiveGoods.id == goods_id,
            LiveGoods.released_at.is_(None),
            LiveGoods.remaining + quantity <= LiveGoods.stock,
        )
        .values(remaining=LiveGoods.remaining + quantity)
        .returning(LiveGoods.id)
        .execution_options(synchronize_session=False)
    )
    if back is None:  # the room's stream stock went back already: these units go to the SKU
        sku_id = await session.scalar(select(LiveGoods.sku_id).where(LiveGoods.id == goods_id))
        if sku_id is not None:
            await stock.release(
                session,
                Actor.for_system(),
                sku_id=int(sku_id),
                units=quantity,
                reason=reason,
                room_id=room_id,
                order_id=order_id,
            )
