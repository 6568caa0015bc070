"""Orders after checkout: reading them (the resident's own, a merchant's campaigns'), and their
life until the cut-off: an unpaid order expires at its deadline (its stock and the resident's
quota given back), a payment marks it paid, and a payment for an order no longer payable is
refunded.
"""

from __future__ import annotations

import logging

from sqlalchemy import Select, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import Conflict, NotFound
from linli.events import OrderPaid, PaymentSucceeded
from linli.groupbuy import checkout, policies, quotas
from linli.groupbuy.models import CANCELLED, PAID, PENDING_PAYMENT, CampaignItem, Order, OrderLine
from linli.groupbuy.states import CancelReason
from linli.i18n import N_
from linli.payments import service as payments
from linli.payments.reasons import RefundReason

log = logging.getLogger(__name__)


async def access_order(session: AsyncSession, actor: Actor, order_id: int) -> checkout.Checkout:
    """The resident's own order, or an order of the merchant's campaigns; 404 otherwise."""
    visible = await session.scalar(
        policies.readable_orders(actor).with_only_columns(Order.id).where(Order.id == order_id)
    )
    if visible is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    order, lines = await checkout.order_with_lines(session, order_id)
    return checkout.Checkout(order, lines, await checkout.payment_of(session, order), created=False)


async def access_own_order(session: AsyncSession, actor: Actor, order_id: int) -> checkout.Checkout:
    """The resident's own order; 404 for anyone else's, the merchant's included (the
    resident's pages)."""
    owned = await session.scalar(
        select(Order.id).where(Order.id == order_id, Order.user_id == actor.require_user_id())
    )
    if owned is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    order, lines = await checkout.order_with_lines(session, order_id)
    return checkout.Checkout(order, lines, await checkout.payment_of(session, order), created=False)


async def _checkouts(session: AsyncSession, orders: Select[Order]) -> list[checkout.Checkout]:
    """The orders a scoped query selects, with their lines and payments: three statements
    whatever the number of orders."""
    found = list((await session.scalars(orders.execution_options(populate_existing=True))).all())
    if not found:
        return []
    lines: dict[int, list[tuple[OrderLine, CampaignItem]]] = {o.id: [] for o in found}
    for line, item in (
        await session.execute(
            select(OrderLine, CampaignItem)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(OrderLine.order_id.in_(lines))
            .order_by(OrderLine.id)
        )
    ).all():
        lines[line.order_id].append((line, item))
    intents = await payments.latest_intents_for(
        session, Actor.for_system(), checkout.PURPOSE, [str(o.id) for o in found]
    )
    return [checkout.Checkout(o, lines[o.id], intents.get(str(o.id)), created=False) for o in found]


async def my_orders(
    session: AsyncSession, actor: Actor, *, limit: int = 50
) -> list[checkout.Checkout]:
    user_id = actor.require_user_id()
    return await _checkouts(
        session,
        select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit),
    )


async def merchant_orders(
    session: AsyncSession, actor: Actor, *, campaign_id: int | None = None, limit: int = 50
) -> list[checkout.Checkout]:
    organisation_id = policies.acting_merchant(actor)
    query = select(Order).where(Order.organisation_id == organisation_id)
    if campaign_id is not None:
        query = query.where(Order.campaign_id == campaign_id)
    return await _checkouts(session, query.order_by(Order.id.desc()).limit(limit))


# --- expiry and payment -------------------------------------------------------------------


async def expire_order(
    session: AsyncSession,
    order_id: int,
    intent_id: int | None,
    *,
    reason: CancelReason = CancelReason.PAYMENT_TIMEOUT,
) -> bool:
    """Due job: an order still unpaid at its deadline is cancelled, its stock and the
    resident's quota given back and its payment intent cancelled. A payment that lands
    afterwards is refunded (`mark_paid`)."""
    user_id = await session.scalar(
        update(Order)
        .where(Order.id == order_id, Order.status == PENDING_PAYMENT)
        .values(status=CANCELLED, cancelled_at=clock.now(), cancel_reason=reason)
        .returning(Order.user_id)
        .execution_options(synchronize_session=False)
    )
    if user_id is None:
        return False
    held = [
        (int(item_id), int(quantity))
        for item_id, quantity in (
            await session.execute(
                select(OrderLine.item_id, OrderLine.quantity)
                .where(OrderLine.order_id == order_id)
                .order_by(OrderLine.item_id)
            )
        ).all()
    ]
    for item_id, quantity in held:
        await session.execute(
            update(CampaignItem)
            .where(
                CampaignItem.id == item_id,
                CampaignItem.remaining + quantity <= CampaignItem.stock,
            )
            .values(remaining=CampaignItem.remaining + quantity)
            .execution_options(synchronize_session=False)
        )
    await quotas.release(session, int(user_id), held)
    try:
        if intent_id is not None:
            await payments.cancel_intent(session, Actor.for_system(), intent_id)
    except Conflict:
        # Already paid (its PaymentSucceeded will find the order cancelled and refund it),
        # or already expired by payments itself.
        log.info("order %s expired; its intent %s was no longer open", order_id, intent_id)
    audit.record(
        session,
        Actor.for_system(),
        "groupbuy.order_expired",
        target_type="groupbuy_order",
        target_id=order_id,
        reason=reason,
    )
    return True


_PAID_COLUMNS = (
    Order.id,
    Order.campaign_id,
    Order.user_id,
    Order.organisation_id,
    Order.pickup_point_id,
    Order.total_fen,
)


async def mark_paid_many(session: AsyncSession, events: list[PaymentSucceeded]) -> None:
    """`mark_paid` for a batch of group-buying payments (the dispatcher's batch form): every
    order still pending payment whose payer, amount and payee match its event goes to paid in
    ONE conditional UPDATE, their `OrderPaid` events in one INSERT; the rest (a malformed
    reference, an order no longer payable, a second payment of one order) take `mark_paid`
    one by one, which ignores, refunds or finds them paid exactly as it would alone."""
    keyed: dict[tuple[int, int, int, int], list[PaymentSucceeded]] = {}
    rest: list[PaymentSucceeded] = []
    for event in events:
        if not event.reference.isdigit():
            rest.append(event)
            continue
        key = (
            int(event.reference),
            event.payer_user_id,
            event.amount_fen,
            event.payee_organisation_id,
        )
        keyed.setdefault(key, []).append(event)
    paid_events: list[OrderPaid] = []
    if keyed:
        rows = await session.execute(
            update(Order)
            .where(
                Order.id.in_([key[0] for key in keyed]),
                tuple_(Order.id, Order.user_id, Order.total_fen, Order.organisation_id).in_(
                    list(keyed)
                ),
                Order.status == PENDING_PAYMENT,
            )
            .values(status=PAID, paid_at=clock.now())
            .returning(*_PAID_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        for order_id, campaign_id, user_id, organisation_id, point_id, total_fen in rows:
            first, *others = keyed.pop((order_id, user_id, total_fen, organisation_id))
            rest += others
            paid_events.append(
                OrderPaid(
                    order_id=order_id,
                    campaign_id=campaign_id,
                    user_id=user_id,
                    merchant_organisation_id=organisation_id,
                    pickup_point_id=point_id,
                    total_fen=total_fen,
                    intent_id=first.intent_id,
                )
            )
        for unpaid in keyed.values():
            rest += unpaid
    await outbox.publish_many(session, list(paid_events))
    for event in rest:
        await mark_paid(session, event)


async def mark_paid(session: AsyncSession, event: PaymentSucceeded) -> str:
    """PaymentSucceeded for a group-buying order: pending_payment -> paid in one conditional
    UPDATE (publishes OrderPaid); a payment for an order that is no longer payable is
    refunded in full. Returns what happened."""
    try:
        order_id = int(event.reference)
    except ValueError:
        log.warning("groupbuy payment %s has a malformed reference", event.public_id)
        return "ignored"
    paid = await session.scalar(
        update(Order)
        .where(
            Order.id == order_id,
            Order.status == PENDING_PAYMENT,
            Order.user_id == event.payer_user_id,
            Order.total_fen == event.amount_fen,
            Order.organisation_id == event.payee_organisation_id,
        )
        .values(status=PAID, paid_at=clock.now())
        .returning(Order)
        .execution_options(synchronize_session=False)
    )
    if paid is not None:
        outbox.publish(
            session,
            OrderPaid(
                order_id=paid.id,
                campaign_id=paid.campaign_id,
                user_id=paid.user_id,
                merchant_organisation_id=paid.organisation_id,
                pickup_point_id=paid.pickup_point_id,
                total_fen=paid.total_fen,
                intent_id=event.intent_id,
            ),
        )
        return "paid"
    order = await session.get(Order, order_id, populate_existing=True)
    if order is not None and order.paid_at is not None and order.user_id == event.payer_user_id:
        # Paid before (and perhaps confirmed, collected or refunded since): nothing to do.
        return "already_paid"
    # Not payable (cancelled, or not this payer's order of this amount): give back all that
    # has not been given back already (a redelivered event finds nothing left).
    left = min(event.amount_fen, await payments.refundable_fen(session, event.intent_id))
    if left == 0:
        return "already_refunded"
    await payments.refund(
        session,
        Actor.for_system(),
        event.intent_id,
        left,
        "group-buying order no longer payable",
        reason_code=RefundReason.PAYMENT_EXPIRED,
        idempotency_key=f"groupbuy-unpayable-{event.intent_id}",
    )
    audit.record(
        session,
        Actor.for_system(),
        "groupbuy.late_payment_refunded",
        target_type="groupbuy_order",
        target_id=order_id,
        intent_id=event.intent_id,
        amount_fen=left,
    )
    return "refunded"
