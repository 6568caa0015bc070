"""Money back to a resident of a paid order, always through `payments.refund` on the order's
intent (`refund_order`, which the cut-off and the collect-by time use too): collected goods
the merchant takes back (their settlement and the leader's commission reversed), and a
line refunded in full (a recall), which cancels an order left with nothing to hand over.

Order of work: the money is asked of the payment provider first, while the caller holds the
line's row lock; only when the provider has not refused are the units marked, the settlement
and commission reversed and the order's totals moved. A refusal (409 `refund_failed`, kept on
record by payments) leaves the line, the settlement and the ledger as they were, and the next
attempt gets a fresh idempotency key (a refused key would only repeat the refusal).
"""

from __future__ import annotations

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import PAYMENTS_REFUND, Actor
from linli.errors import NotFound, ValidationFailed
from linli.events import OrderRefunded
from linli.groupbuy import checkout, commission, policies
from linli.groupbuy.models import AWAITING_PICKUP, CANCELLED, PAID, PICKED_UP, Order, OrderLine
from linli.groupbuy.states import CancelReason
from linli.i18n import N_
from linli.payments import service as payments
from linli.payments.reasons import RefundReason


def refunded_in_full(line: OrderLine) -> bool:
    """Refunded already (e.g. recalled before the cut-off): neither counted nor handed over."""
    return line.refunded_fen >= line.amount_fen


async def refund_order(
    session: AsyncSession,
    order: Order,
    amount_fen: int,
    reason_code: RefundReason,
    reason: str,
    key: str,
) -> None:
    """Refund part of a paid order to its payer; `key` makes a retry refund nothing twice."""
    intent = await checkout.payment_of(session, order)
    if intent is None:  # a paid order always has one; never refund into the void
        raise RuntimeError(f"groupbuy order {order.id} has no payment intent")
    refunded = await payments.refund(
        session,
        Actor.for_system(),
        intent.id,
        amount_fen,
        reason,
        reason_code=reason_code,
        idempotency_key=await payments.attempt_key(session, intent.id, key),
    )
    if payments.refused(refunded):  # never: a fresh key after every refusal
        raise RuntimeError(f"refund {refunded.id} of order {order.id} was refused before")


async def refund_collected(
    session: AsyncSession,
    actor: Actor,
    order_id: int,
    line_id: int,
    quantity: int,
    reason: str,
) -> OrderRefunded:
    """The merchant refunds collected goods (e.g. a quality problem): the settlement of their
    value is reversed (the leader's commission and the platform's fee included) and the money
    goes back to the resident."""
    organisation_id = policies.acting_merchant(actor, PAYMENTS_REFUND)
    row = (
        await session.execute(
            select(Order, OrderLine)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                Order.id == order_id,
                Order.organisation_id == organisation_id,
                OrderLine.id == line_id,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    order, line = row
    if quantity < 1:
        raise ValidationFailed(
            N_("Check the refund."), fields={"quantity": N_("Enter at least 1.")}
        )
    if not 1 <= len(reason.strip()) <= 200:
        raise ValidationFailed(
            N_("Check the refund."), fields={"reason": N_("Enter 1 to 200 characters.")}
        )
    event = await refund_units(
        session,
        order,
        line,
        quantity,
        RefundReason.MERCHANT_DECISION,
        reason.strip(),
        key_prefix="collected",
    )
    if event is None:
        raise ValidationFailed(
            N_("Check the refund."),
            fields={"quantity": N_("More than what was collected and not yet refunded.")},
            code="refund_exceeds_collected",
        )
    amount, reversed_fen = event.amount_fen, event.commission_reversed_fen
    audit.record(
        session,
        actor,
        "groupbuy.collected_goods_refunded",
        target_type="groupbuy_order",
        target_id=order.id,
        line_id=line.id,
        quantity=quantity,
        amount_fen=amount,
        commission_reversed_fen=reversed_fen,
    )
    return event


async def refund_units(
    session: AsyncSession,
    order: Order,
    line: OrderLine,
    quantity: int,
    reason_code: RefundReason,
    note: str,
    *,
    key_prefix: str,
) -> OrderRefunded | None:
    """Take back `quantity` collected units of a line and refund their price: the settlement
    and the leader's commission on them are reversed, the money goes back to the payer and
    `OrderRefunded` is published. None (and nothing done) when fewer units are left collected
    and not yet refunded. The caller holds the line (row lock, loaded afresh) and names the
    reason. The provider is asked first: when it refuses, nothing of the line changes."""
    returned = line.returned_qty + quantity
    if returned + line.claimed_qty > line.picked_qty:  # units a quality claim holds stay out
        return None
    amount = quantity * line.unit_price_fen
    # The money first: a refusal raises before the line, settlement or commission change.
    # The running total of units taken back makes the key: a retry of the same take-back
    # refunds nothing twice, the next one is a new refund.
    await refund_order(
        session, order, amount, reason_code, note, f"{key_prefix}-{line.id}-{returned}"
    )
    taken = await _take_back(session, line.id, quantity)
    if taken != returned:  # the caller holds the line: nothing else can have moved it
        raise RuntimeError(f"order line {line.id} changed while locked")
    reversed_fen = await commission.reverse(session, order, line, quantity, returned)
    line.returned_qty = returned
    line.refunded_fen += amount
    order.refunded_fen += amount
    event = OrderRefunded(
        order_id=order.id,
        user_id=order.user_id,
        amount_fen=amount,
        reason=note,
        commission_reversed_fen=reversed_fen,
    )
    outbox.publish(session, event)
    return event


async def _take_back(session: AsyncSession, line_id: int, quantity: int) -> int | None:
    """Count `quantity` collected units of a line as returned (never more than were
    collected); the new total, or None when that would be too many."""
    returned = await session.scalar(
        update(OrderLine)
        .where(
            OrderLine.id == line_id,
            # Units a quality claim holds stay with the resident: never taken back.
            OrderLine.returned_qty + OrderLine.claimed_qty + quantity <= OrderLine.picked_qty,
        )
        .values(returned_qty=OrderLine.returned_qty + quantity)
        .returning(OrderLine.returned_qty)
        .execution_options(synchronize_session=False)
    )
    return None if returned is None else int(returned)


async def refund_line_in_full(
    session: AsyncSession,
    order: Order,
    line: OrderLine,
    reason_code: RefundReason,
    reason: str,
    key: str,
) -> int:
    """Give back everything still paid for a line (a recall): the line is locked, the money
    asked of the provider (a refusal changes nothing), then collected units have their
    settlement and commission reversed; an order left with nothing to hand over is
    cancelled (for the same reason: a recall cancels as `recalled`), so its pickup code
    dies. Returns the amount refunded."""
    locked = await session.scalar(
        select(OrderLine)
        .where(OrderLine.id == line.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is line  # the same identity, loaded afresh under the lock
    amount = line.amount_fen - line.refunded_fen
    if amount > 0:
        # The money first: a refusal raises before the line, settlement or commission change.
        await refund_order(session, order, amount, reason_code, reason, key)
    collected = line.picked_qty - line.returned_qty - line.claimed_qty
    if collected > 0:
        returned = await _take_back(session, line.id, collected)
        if returned is not None:
            line.returned_qty = returned
            await commission.reverse(session, order, line, collected, returned)
    await _reverse_claimed_rest(session, order, line)
    if amount <= 0:
        return 0
    line.refunded_fen += amount
    order.refunded_fen += amount
    lines = (await session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))).all()
    nothing_left = all(
        other.group_failed or refunded_in_full(other) or other.picked_qty >= other.quantity
        for other in lines
    )
    if nothing_left and order.status in (PAID, *AWAITING_PICKUP):
        never_collected = all(other.picked_qty == 0 for other in lines)
        order.status = CANCELLED if never_collected else PICKED_UP
        if never_collected:
            order.cancelled_at = clock.now()
            order.cancel_reason = (
                CancelReason.RECALLED
                if reason_code == RefundReason.RECALL
                else CancelReason.REFUNDED
            )
    return amount


# --- quality claims: refund without return ---------------------------------------------------


async def hold_claimed_units(session: AsyncSession, line_id: int, quantity: int) -> bool:
    """Hold `quantity` collected units of a line for a quality claim (never more than are
    collected and neither taken back nor held already). False, nothing held, otherwise."""
    held = await session.scalar(
        update(OrderLine)
        .where(
            OrderLine.id == line_id,
            OrderLine.returned_qty + OrderLine.claimed_qty + quantity <= OrderLine.picked_qty,
        )
        .values(claimed_qty=OrderLine.claimed_qty + quantity)
        .returning(OrderLine.claimed_qty)
        .execution_options(synchronize_session=False)
    )
    return held is not None


async def release_claimed_units(session: AsyncSession, line_id: int, quantity: int) -> None:
    """A claim rejected: its units are no longer held (never below zero). On a line refunded
    in full meanwhile (a recall refunds the claimed units too) they count as taken back, so
    nobody returns or claims them again."""
    await session.execute(
        update(OrderLine)
        .where(OrderLine.id == line_id, OrderLine.claimed_qty >= quantity)
        .values(
            claimed_qty=OrderLine.claimed_qty - quantity,
            returned_qty=case(
                (OrderLine.refunded_fen >= OrderLine.amount_fen, OrderLine.returned_qty + quantity),
                else_=OrderLine.returned_qty,
            ),
        )
        .execution_options(synchronize_session=False)
    )


async def refund_without_return(
    session: AsyncSession,
    order: Order,
    line: OrderLine,
    amount_fen: int,
    reason_code: RefundReason,
    note: str,
    *,
    key: str,
) -> OrderRefunded | None:
    """Refund `amount_fen` of a line's collected goods the resident keeps (a quality claim):
    the settlement of that amount is reversed at the rates it was booked with (the leader's
    commission and the platform's fee in proportion), the money goes back to the payer and
    `OrderRefunded` is published. None, nothing done, when the amount is more than is left
    refundable on the line. The caller holds the line (row lock); `key` names the claim, so
    a retry refunds nothing twice."""
    if amount_fen < 1 or amount_fen > line.amount_fen - line.refunded_fen:
        return None
    # The money first: a refusal raises before the line, settlement or commission change.
    await refund_order(session, order, amount_fen, reason_code, note, key)
    reversed_fen = await commission.reverse_amount(
        session, order, line, amount_fen, f"groupbuy-line-{line.id}-{key}"
    )
    line.refunded_fen += amount_fen
    line.claim_refunded_fen += amount_fen
    order.refunded_fen += amount_fen
    event = OrderRefunded(
        order_id=order.id,
        user_id=order.user_id,
        amount_fen=amount_fen,
        reason=note,
        commission_reversed_fen=reversed_fen,
    )
    outbox.publish(session, event)
    return event


async def _reverse_claimed_rest(session: AsyncSession, order: Order, line: OrderLine) -> None:
    """A line refunded in full: the units quality claims hold were settled, less what the
    claims refunded already; that rest is reversed too (the refund then takes it back), so
    clearing ends at zero."""
    rest = line.claimed_qty * line.unit_price_fen - line.claim_refunded_fen
    if rest > 0 and line.refunded_fen < line.amount_fen:
        await commission.reverse_amount(
            session, order, line, rest, f"groupbuy-line-{line.id}-claimed-rest"
        )
