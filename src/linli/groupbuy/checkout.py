"""Checkout: a resident's order of a campaign's items, placed once per idempotency key, with
its payment intent and expiry job; and the order as checkout returns it (`Checkout`).

Checkout reads everything it needs in one statement (items, campaign, the resident's pickup
point, an earlier order under the same idempotency key, whether the merchant may sell), takes
the resident's quota of each item (`quotas`), and reserves the stock by conditional UPDATE as
the last statement of the order's transaction, so the hot row is locked for the shortest time.
The rules it applies were recorded on the campaign when it was published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from linli import clock, outbox
from linli.authz import Actor
from linli.community import points as pickup_points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.groupbuy import batches, campaigns, quotas
from linli.groupbuy.models import PENDING_PAYMENT, Campaign, CampaignItem, Order, OrderLine
from linli.groupbuy.schemas import OrderIn
from linli.i18n import N_
from linli.jobs import ExpireOrder
from linli.merchants.queries import selling_organisation_ids
from linli.payments import providers
from linli.payments import service as payments
from linli.payments.views import IntentView

PURPOSE = "groupbuy_order"
payments.register_refund_route(
    PURPOSE, "POST /api/v1/groupbuy/orders/{reference}/lines/{{line_id}}/refund"
)
MAX_ORDER_FEN = 10**9  # ¥10,000,000: fits every integer column, far beyond any order
KEY_LENGTH = (8, 64)
INTENT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Checkout:
    order: Order
    lines: list[tuple[OrderLine, CampaignItem]]
    intent: IntentView | None
    created: bool


def _check_key(key: str) -> None:
    low, high = KEY_LENGTH
    if not low <= len(key) <= high or not key.isprintable() or not key.isascii():
        raise ValidationFailed(
            N_("Send an Idempotency-Key header of 8 to 64 printable characters."),
            fields={"Idempotency-Key": N_("Enter 8 to 64 printable characters.")},
        )


def campaign_not_open() -> Conflict:
    return Conflict(N_("This campaign is not open for orders."), code="campaign_not_open")


def sold_out(product: str) -> Conflict:
    return Conflict(N_("{product} is sold out."), product=product, code="sold_out")


async def place_order(
    session: AsyncSession, actor: Actor, data: OrderIn, idempotency_key: str
) -> Checkout:
    """Place (or, for a key used before, return) a resident's order: validate, take the
    resident's quota of each item (one conditional upsert per line), insert the order and its
    lines, create its payment intent and expiry job, then reserve the stock with one
    conditional UPDATE per line, last."""
    user_id = actor.require_user_id()
    _check_key(idempotency_key)
    if data.pay_later and not providers.is_registered(providers.PAY_LATER):
        raise Conflict(N_("Pay later is not available."), code="pay_later_unavailable")
    item_ids = [line.item_id for line in data.lines]
    if len(set(item_ids)) != len(item_ids):
        raise ValidationFailed(
            N_("Check the order."), fields={"lines": N_("Each item may appear only once.")}
        )
    earlier = (
        select(Order.id)
        .where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
        .scalar_subquery()
    )
    point_id: Any = (
        literal(data.pickup_point_id)
        if data.pickup_point_id is not None
        else pickup_points.home_point_id(user_id)
    )
    point = pickup_points.open_point_id(point_id)
    selling = Campaign.organisation_id.in_(selling_organisation_ids())
    rows = (
        await session.execute(
            select(
                CampaignItem,
                Campaign,
                earlier.label("earlier"),
                point.label("point"),
                selling.label("selling"),
                batches.source.status_of(CampaignItem.batch_id).label("batch_status"),  # trace2
            )
            .join(Campaign, Campaign.id == CampaignItem.campaign_id)
            .where(CampaignItem.id.in_(item_ids), CampaignItem.campaign_id == data.campaign_id)
            .execution_options(populate_existing=True)
        )
    ).all()
    earlier_id = rows[0].earlier if rows else await session.scalar(select(earlier))
    if earlier_id is not None:
        return await _replay(session, user_id, int(earlier_id), data)
    if len(rows) != len(item_ids):
        raise ValidationFailed(
            N_("Check the order."),
            fields={"lines": N_("Choose items of this campaign.")},
            code="unknown_item",
        )
    campaign: Campaign = rows[0].Campaign
    now = clock.now()
    if not campaigns.is_open(campaign, now) or not rows[0].selling:
        raise campaign_not_open()
    if rows[0].point is None:
        raise ValidationFailed(
            N_("Choose an open pickup point."),
            fields={
                "pickup_point_id": N_("Not an open pickup point.")
                if data.pickup_point_id is not None
                else N_("Join a community or choose a pickup point.")
            },
        )
    by_item = {row.CampaignItem.id: row.CampaignItem for row in rows}
    # --- trace2: held and recalled stock cannot be bought ---
    for row in rows:
        if row.batch_status in batches.UNSELLABLE:
            raise campaigns.batch_unsellable(row.CampaignItem.product_name, row.batch_status)
    # --- end trace2 ---
    fields: dict[str, str] = {}
    for n, line in enumerate(data.lines):
        if line.quantity > by_item[line.item_id].per_resident_limit:
            fields[f"lines.{n}.quantity"] = N_("More than each resident may buy.")
    if fields:
        raise quotas.limit_exceeded(fields)
    if any(by_item[i].return_exclusion for i in item_ids) and not data.accept_return_terms:
        raise ValidationFailed(
            N_("Some items cannot be returned without reason (fresh or perishable goods)."),
            code="return_terms_not_accepted",
            fields={
                "accept_return_terms": N_(
                    "Confirm that these items are excluded from the 7-day no-reason return."
                )
            },
        )
    for line in data.lines:
        item = by_item[line.item_id]
        if item.remaining < line.quantity:  # early answer; the UPDATE below decides
            raise sold_out(item.product_name)
    total = sum(by_item[line.item_id].group_price_fen * line.quantity for line in data.lines)
    if total > MAX_ORDER_FEN:
        raise ValidationFailed(
            N_("Check the order."), fields={"lines": N_("The order is too large.")}
        )
    assert campaign.return_rule_id is not None
    assert campaign.return_rule_version is not None
    # Rows are locked in item order (quotas, then stock), so concurrent orders cannot deadlock.
    in_item_order = sorted(enumerate(data.lines), key=lambda pair: pair[1].item_id)
    # The per-resident limit: one conditional upsert per line (no row: the limit is reached).
    for n, line in in_item_order:
        if not await quotas.take(session, user_id, by_item[line.item_id], line.quantity):
            fields[f"lines.{n}.quantity"] = N_("More than each resident may buy.")
    if fields:
        # A concurrent request with the same key may have won (and taken the quota) meanwhile.
        winner = await session.scalar(select(earlier))
        if winner is not None:
            return await _replay(session, user_id, int(winner), data)
        raise quotas.limit_exceeded(fields)
    window = timedelta(minutes=campaign.payment_window_minutes or 15)
    # Payment closes at the cut-off at the latest: the group is decided on paid orders.
    due_at = min(now + window, campaign.cutoff_at)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # ON CONFLICT DO NOTHING, not a caught IntegrityError: a failed statement would need a
    # rollback, and inside a cart checkout the transaction already holds the orders of the
    # cart's earlier campaigns (a savepoint would cost two statements on every order).
    order = await session.scalar(
        insert(Order)
        .values(
            user_id=user_id,
            campaign_id=campaign.id,
            organisation_id=campaign.organisation_id,
            pickup_point_id=int(rows[0].point),
            status=PENDING_PAYMENT,
            total_fen=total,
            idempotency_key=idempotency_key,
            return_rule_id=campaign.return_rule_id,
            return_rule_version=campaign.return_rule_version,
            return_terms_accepted=data.accept_return_terms,
            payment_due_at=due_at,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Order.user_id, Order.idempotency_key])
        .returning(Order)
    )
    if order is None:
        # A concurrent request with the same key won: its order is the answer, and the quota
        # this request took is given back (the winner took its own).
        await quotas.release(session, user_id, [(ln.item_id, ln.quantity) for ln in data.lines])
        return await _after_race(session, user_id, idempotency_key, data)
    lines: list[tuple[OrderLine, CampaignItem]] = []
    for line in data.lines:
        item = by_item[line.item_id]
        order_line = OrderLine(
            order_id=order.id,
            item_id=item.id,
            quantity=line.quantity,
            unit_price_fen=item.group_price_fen,
            amount_fen=item.group_price_fen * line.quantity,
            no_reason_return_excluded=item.return_exclusion is not None,
        )
        session.add(order_line)
        lines.append((order_line, item))
    await session.flush()
    intent = await payments.create_intent(
        session,
        actor,
        payee_organisation_id=campaign.organisation_id,
        purpose=PURPOSE,
        reference=str(order.id),
        amount_fen=total,
        idempotency_key=f"groupbuy-order-{order.id}",
        # Our expiry job cancels the intent at the deadline; payments' own expiry is a backstop.
        expires_in=due_at - now + INTENT_GRACE,
        provider=providers.PAY_LATER if data.pay_later else providers.SANDBOX,
    )
    if data.pay_later:
        # Settled at once on the resident's facility, or refused (409) with everything above.
        intent = await payments.pay_deferred(session, actor, intent.id)
    await outbox.schedule(
        session, ExpireOrder(order_id=order.id, intent_id=intent.id), order.payment_due_at
    )
    await session.flush()
    # Last: the reservation. Zero rows means someone else got the last units first.
    for _n, line in in_item_order:
        item = by_item[line.item_id]
        reserved = await session.scalar(
            update(CampaignItem)
            .where(CampaignItem.id == item.id, CampaignItem.remaining >= line.quantity)
            .values(remaining=CampaignItem.remaining - line.quantity)
            .returning(CampaignItem.remaining)
            .execution_options(synchronize_session=False)
        )
        if reserved is None:
            raise sold_out(item.product_name)
        set_committed_value(item, "remaining", int(reserved))  # shown, not written again
    return Checkout(order, lines, intent, created=True)


async def _after_race(
    session: AsyncSession, user_id: int, idempotency_key: str, data: OrderIn
) -> Checkout:
    winner = await session.scalar(
        select(Order.id).where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
    )
    if winner is None:  # not the key: something unexpected, let it surface
        raise RuntimeError("an order could not be inserted, and no order has its key")
    return await _replay(session, user_id, winner, data)


async def _replay(session: AsyncSession, user_id: int, order_id: int, data: OrderIn) -> Checkout:
    order, lines = await order_with_lines(session, order_id)
    asked = sorted((line.item_id, line.quantity) for line in data.lines)
    placed = sorted((line.item_id, line.quantity) for line, _item in lines)
    if order.campaign_id != data.campaign_id or asked != placed:
        raise Conflict(
            N_("This idempotency key was already used for a different order."),
            code="idempotency_key_reused",
            fields={"Idempotency-Key": N_("Use a new key for a new order.")},
        )
    return Checkout(order, lines, await payment_of(session, order), created=False)


async def order_with_lines(
    session: AsyncSession, order_id: int
) -> tuple[Order, list[tuple[OrderLine, CampaignItem]]]:
    order = await session.scalar(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    lines = (
        await session.execute(
            select(OrderLine, CampaignItem)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
        )
    ).all()
    return order, [(line, item) for line, item in lines]


async def payment_of(session: AsyncSession, order: Order) -> IntentView | None:
    """The order's payment intent (read for the order's reader, who was checked already)."""
    rows = await payments.intents_for(session, Actor.for_system(), PURPOSE, str(order.id))
    return rows[-1] if rows else None
