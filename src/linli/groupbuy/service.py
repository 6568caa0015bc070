"""Campaigns (create, publish, read) and checkout (order, reservation, payment, expiry).

Stock only moves by conditional UPDATE: from `skus.stock` to a campaign item's `remaining`
at publication, down at checkout (the last statement of the order's transaction, so the hot
row is locked for the shortest time), back up when an unpaid order is cancelled.

Checkout reads everything it needs in one statement (items, campaign, the resident's pickup
point, an earlier order under the same idempotency key, whether the merchant may sell). The
per-resident limit is a counter per (resident, item) taken by one conditional upsert per line,
so a resident may hold several unpaid orders, concurrent ones included, never beyond the limit.
The rules it applies were recorded on the campaign when it was published, so what residents
were shown is what applies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import GROUPBUY_MANAGE, GROUPBUY_READ, Actor
from linli.catalog import offers, stock
from linli.community import points as pickup_points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import OrderPaid, PaymentSucceeded
from linli.groupbuy import batches, policies
from linli.groupbuy.models import (
    CANCELLED,
    DRAFT,
    PAID,
    PENDING_PAYMENT,
    PUBLISHED,
    Campaign,
    CampaignItem,
    Order,
    OrderLine,
    ResidentQuota,
)
from linli.groupbuy.schemas import CampaignIn, OrderIn
from linli.groupbuy.states import CancelReason
from linli.i18n import N_
from linli.jobs import CampaignCutoff, ExpireOrder
from linli.merchants.queries import selling_organisation_ids
from linli.payments import service as payments
from linli.payments.reasons import RefundReason
from linli.payments.views import IntentView
from linli.rules import service as rules

log = logging.getLogger(__name__)

PURPOSE = "groupbuy_order"
payments.register_refund_route(
    PURPOSE, "POST /api/v1/groupbuy/orders/{reference}/lines/{{line_id}}/refund"
)
RETURN_RULE = "consumer.no_reason_return"
PAYMENT_RULE = "groupbuy.payment_window"
EXPIRE_JOB = ExpireOrder.job_kind
CUTOFF_JOB = CampaignCutoff.job_kind
LOCAL = clock.LOCAL
MAX_ORDER_FEN = 10**9  # ¥10,000,000: fits every integer column, far beyond any order
KEY_LENGTH = (8, 64)
INTENT_GRACE = timedelta(minutes=5)


# --- campaigns ----------------------------------------------------------------------------


def _check_window(opens_at: datetime, cutoff_at: datetime, pickup_date: date) -> None:
    fields: dict[str, str] = {}
    if opens_at >= cutoff_at:
        fields["cutoff_at"] = N_("The cutoff must be after the opening time.")
    if pickup_date <= cutoff_at.astimezone(LOCAL).date():
        fields["pickup_date"] = N_("Pickup must be on a day after the cutoff.")
    if fields:
        raise ValidationFailed(N_("Check the campaign's dates."), fields=dict(fields))


async def create_campaign(session: AsyncSession, actor: Actor, data: CampaignIn) -> Campaign:
    """A draft campaign of the merchant's own listed SKUs (no stock is taken yet)."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    await policies.ensure_selling(session, organisation_id)
    _check_window(data.opens_at, data.cutoff_at, data.pickup_date)
    sku_ids = [item.sku_id for item in data.items]
    fields: dict[str, str] = {}
    seen: set[int] = set()
    for n, sku_id in enumerate(sku_ids):
        if sku_id in seen:
            fields[f"items.{n}.sku_id"] = N_("This SKU is already in the campaign.")
        seen.add(sku_id)
    found = await offers.listed_skus(session, organisation_id, sku_ids)
    for n, item in enumerate(data.items):
        listed = found.get(item.sku_id)
        if listed is None:
            fields[f"items.{n}.sku_id"] = N_("Choose a SKU of your own listed products.")
        elif item.group_price_fen > listed.price_fen:
            fields[f"items.{n}.group_price_fen"] = N_(
                "The group price may not be above the SKU's price."
            )
    # --- trace2: the batch an item is sold from (own, same SKU, active) ---
    fields |= await batch_problems(session, organisation_id, data)
    # --- end trace2 ---
    if fields:
        raise ValidationFailed(N_("Check the campaign's items."), fields=dict(fields))
    now = clock.now()
    campaign = Campaign(
        organisation_id=organisation_id,
        title=data.title,
        opens_at=data.opens_at,
        cutoff_at=data.cutoff_at,
        pickup_date=data.pickup_date,
        status=DRAFT,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    session.add(campaign)
    await session.flush()
    for item in data.items:
        listed = found[item.sku_id]
        session.add(
            CampaignItem(
                campaign_id=campaign.id,
                sku_id=listed.sku_id,
                product_name=listed.product_name,
                sku_code=listed.code,
                unit=listed.unit,
                list_price_fen=listed.price_fen,
                group_price_fen=item.group_price_fen,
                per_resident_limit=item.per_resident_limit,
                stock=item.stock,
                remaining=0,
                min_group_qty=item.min_group_qty,
                storage_class=listed.storage_class,
                batch_id=item.batch_id,
                created_at=now,
            )
        )
    await session.flush()
    audit.record(
        session, actor, "groupbuy.campaign_created", target_type="campaign", target_id=campaign.id
    )
    return campaign


def return_exclusion(
    rule: rules.Rule, storage_class: str, category_codes: Sequence[str]
) -> str | None:
    """Why goods are excluded from the no-reason return under `rule`, or None."""
    if storage_class in rule.values.get("excluded_storage_classes", []):
        return f"storage:{storage_class}"
    excluded = set(rule.values.get("excluded_categories", []))
    for code in category_codes:
        if code in excluded:
            return f"category:{code}"
    return None


async def publish(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """Check the window, take each item's stock from its SKU (conditional UPDATE, all or
    nothing) and record the return and payment rules in force."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    campaign = await session.scalar(
        policies.own_campaigns(organisation_id)
        .where(Campaign.id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    if campaign.status == PUBLISHED:
        return campaign
    if campaign.status != DRAFT:
        raise Conflict(N_("Only a draft campaign can be published."), code="not_draft")
    await policies.ensure_selling(session, organisation_id)
    _check_window(campaign.opens_at, campaign.cutoff_at, campaign.pickup_date)
    now = clock.now()
    if campaign.cutoff_at <= now:
        raise ValidationFailed(
            N_("Check the campaign's dates."),
            fields={"cutoff_at": N_("The cutoff has already passed.")},
        )
    return_rule = await rules.in_force(session, RETURN_RULE)
    payment_rule = await rules.in_force(session, PAYMENT_RULE)
    items = (
        await session.scalars(
            select(CampaignItem)
            .where(CampaignItem.campaign_id == campaign.id)
            .order_by(CampaignItem.id)
        )
    ).all()
    products = await offers.listed_skus(session, organisation_id, [i.sku_id for i in items])
    await refuse_unsellable_batches(session, items)  # trace2: held or recalled lots
    for item in items:
        product = products.get(item.sku_id)
        if product is None:
            raise Conflict(
                N_("{product} is no longer listed; remove it or list it again."),
                product=item.product_name,
                code="sku_not_listed",
            )
        taken = await stock.reserve(
            session,
            actor,
            organisation_id=organisation_id,
            sku_id=item.sku_id,
            units=item.stock,
            reason="groupbuy.campaign_published",
            campaign_id=campaign.id,
        )
        if not taken:
            raise Conflict(
                N_("Not enough stock of {product} ({sku}) for {amount} in this campaign."),
                product=item.product_name,
                sku=item.sku_code,
                amount=item.stock,
                code="insufficient_stock",
            )
        item.storage_class = product.storage_class
        item.return_exclusion = return_exclusion(
            return_rule, product.storage_class, product.category_codes
        )
        item.remaining = item.stock
    campaign.status = PUBLISHED
    campaign.published_at = now
    campaign.return_rule_id = return_rule.rule_id
    campaign.return_rule_version = return_rule.version
    campaign.return_days = int(return_rule.values["days"])
    campaign.payment_rule_version = payment_rule.version
    campaign.payment_window_minutes = int(payment_rule.values["minutes"])
    await session.flush()
    await outbox.schedule(
        session,
        CampaignCutoff(campaign_id=campaign.id),
        campaign.cutoff_at,
        dedupe_key=f"groupbuy-cutoff-{campaign.id}",
    )
    audit.record(
        session,
        actor,
        "groupbuy.campaign_published",
        target_type="campaign",
        target_id=campaign.id,
        return_rule=f"{return_rule.rule_id}@{return_rule.version}",
        payment_rule=f"{payment_rule.rule_id}@{payment_rule.version}",
    )
    return campaign


@dataclass(frozen=True)
class CampaignView:
    campaign: Campaign
    merchant_name: str
    items: list[CampaignItem]

    @property
    def is_open(self) -> bool:
        return is_open(self.campaign, clock.now())


def is_open(campaign: Campaign, now: datetime) -> bool:
    return campaign.status == PUBLISHED and campaign.opens_at <= now < campaign.cutoff_at


async def _views(session: AsyncSession, campaigns: Sequence[Campaign]) -> list[CampaignView]:
    if not campaigns:
        return []
    ids = [c.id for c in campaigns]
    items: dict[int, list[CampaignItem]] = {}
    for item in await session.scalars(
        select(CampaignItem)
        .where(CampaignItem.campaign_id.in_(ids))
        .order_by(CampaignItem.id)
        .execution_options(populate_existing=True)
    ):
        items.setdefault(item.campaign_id, []).append(item)
    names = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({c.organisation_id for c in campaigns})
                )
            )
        ).all()
    )
    return [
        CampaignView(c, names.get(c.organisation_id, ""), items.get(c.id, [])) for c in campaigns
    ]


async def open_campaigns(session: AsyncSession, *, limit: int = 50) -> list[CampaignView]:
    """Published campaigns open for orders now, of merchants that may sell; soonest cutoff
    first."""
    now = clock.now()
    rows = (
        await session.scalars(
            policies.public_campaigns()
            .where(
                Campaign.opens_at <= now,
                Campaign.cutoff_at > now,
                Campaign.organisation_id.in_(selling_organisation_ids()),
            )
            .order_by(Campaign.cutoff_at, Campaign.id)
            .limit(limit)
        )
    ).all()
    return await _views(session, rows)


async def access_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> CampaignView:
    """A published campaign (anyone), or a draft of the merchant the actor acts for."""
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id).execution_options(populate_existing=True)
    )
    visible = campaign is not None and (
        campaign.status != DRAFT
        or (actor.organisation_id == campaign.organisation_id and actor.has(GROUPBUY_READ))
    )
    if campaign is None or not visible:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    (view,) = await _views(session, [campaign])
    return view


async def my_campaigns(
    session: AsyncSession, actor: Actor, *, limit: int = 50
) -> list[CampaignView]:
    organisation_id = policies.acting_merchant(actor)
    rows = (
        await session.scalars(
            policies.own_campaigns(organisation_id).order_by(Campaign.id.desc()).limit(limit)
        )
    ).all()
    return await _views(session, rows)


# --- trace2: batches of campaign items ----------------------------------------------------


async def batch_problems(
    session: AsyncSession, organisation_id: int, data: CampaignIn
) -> dict[str, str]:
    """Field errors for items naming a batch that is not an active batch of that SKU of the
    merchant's own."""
    wanted = {item.batch_id for item in data.items if item.batch_id is not None}
    if not wanted:
        return {}
    own = await batches.source.own_batches(session, organisation_id, wanted)
    fields: dict[str, str] = {}
    for n, item in enumerate(data.items):
        if item.batch_id is None:
            continue
        batch = own.get(item.batch_id)
        if batch is None or batch.sku_id != item.sku_id:
            fields[f"items.{n}.batch_id"] = N_("Choose a batch of this SKU of your own.")
        elif batch.status != batches.ACTIVE:
            fields[f"items.{n}.batch_id"] = N_("This batch is on hold or recalled.")
    return fields


def batch_unsellable(product: str, status: str) -> Conflict:
    if status == batches.DESTROYED:
        return Conflict(
            N_("{product} was destroyed and can never be sold."),
            product=product,
            code="batch_destroyed",
        )
    if status == batches.RECALLED:
        return Conflict(
            N_("{product} has been recalled and cannot be sold."),
            product=product,
            code="batch_recalled",
        )
    return Conflict(
        N_("{product} is on hold (a food-safety check) and cannot be sold now."),
        product=product,
        code="batch_on_hold",
    )


async def refuse_unsellable_batches(session: AsyncSession, items: Sequence[CampaignItem]) -> None:
    named = {i.batch_id: i for i in items if i.batch_id is not None}
    if not named:
        return
    for batch_id, status in (await batches.source.statuses(session, set(named))).items():
        if status in batches.UNSELLABLE:
            raise batch_unsellable(named[batch_id].product_name, status)


# --- checkout -----------------------------------------------------------------------------


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
    if not is_open(campaign, now) or not rows[0].selling:
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
            raise batch_unsellable(row.CampaignItem.product_name, row.batch_status)
    # --- end trace2 ---
    fields: dict[str, str] = {}
    for n, line in enumerate(data.lines):
        if line.quantity > by_item[line.item_id].per_resident_limit:
            fields[f"lines.{n}.quantity"] = N_("More than each resident may buy.")
    if fields:
        raise _limit_exceeded(fields)
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
        if not await _take_quota(session, user_id, by_item[line.item_id], line.quantity):
            fields[f"lines.{n}.quantity"] = N_("More than each resident may buy.")
    if fields:
        # A concurrent request with the same key may have won (and taken the quota) meanwhile.
        winner = await session.scalar(select(earlier))
        if winner is not None:
            return await _replay(session, user_id, int(winner), data)
        raise _limit_exceeded(fields)
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
        await release_quota(session, user_id, [(ln.item_id, ln.quantity) for ln in data.lines])
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
    )
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


def _limit_exceeded(fields: dict[str, str]) -> Conflict:
    return Conflict(
        N_("Each resident may buy only so many of an item in this campaign."),
        code="limit_exceeded",
        fields=dict(fields),
    )


async def _take_quota(
    session: AsyncSession, user_id: int, item: CampaignItem, quantity: int
) -> bool:
    """Add `quantity` to what the resident holds of `item` unless that would exceed the
    item's per-resident limit: one INSERT ... ON CONFLICT DO UPDATE ... WHERE (PostgreSQL,
    SQLite >= 3.35). Concurrent orders of one resident queue on the counter's row."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ResidentQuota).values(user_id=user_id, item_id=item.id, quantity=quantity)
    held = ResidentQuota.quantity + statement.excluded.quantity
    taken = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[ResidentQuota.user_id, ResidentQuota.item_id],
            set_={"quantity": held},
            where=held <= item.per_resident_limit,
        ).returning(ResidentQuota.quantity)
    )
    return taken is not None


async def release_quota(
    session: AsyncSession, user_id: int, lines: Sequence[tuple[int, int]]
) -> None:
    """Give a resident's units back: `lines` are (item id, quantity) of an order that no
    longer counts against the per-resident limit (cancelled, expired, refunded unpaid)."""
    for item_id, quantity in sorted(lines):
        await session.execute(
            update(ResidentQuota)
            .where(
                ResidentQuota.user_id == user_id,
                ResidentQuota.item_id == item_id,
                ResidentQuota.quantity >= quantity,
            )
            .values(quantity=ResidentQuota.quantity - quantity)
            .execution_options(synchronize_session=False)
        )


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
    order, lines = await _order_with_lines(session, order_id)
    asked = sorted((line.item_id, line.quantity) for line in data.lines)
    placed = sorted((line.item_id, line.quantity) for line, _item in lines)
    if order.campaign_id != data.campaign_id or asked != placed:
        raise Conflict(
            N_("This idempotency key was already used for a different order."),
            code="idempotency_key_reused",
            fields={"Idempotency-Key": N_("Use a new key for a new order.")},
        )
    return Checkout(order, lines, await payment_of(session, order), created=False)


async def _order_with_lines(
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


async def access_order(session: AsyncSession, actor: Actor, order_id: int) -> Checkout:
    """The resident's own order, or an order of the merchant's campaigns; 404 otherwise."""
    visible = await session.scalar(
        policies.readable_orders(actor).with_only_columns(Order.id).where(Order.id == order_id)
    )
    if visible is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    order, lines = await _order_with_lines(session, order_id)
    return Checkout(order, lines, await payment_of(session, order), created=False)


async def _checkouts(session: AsyncSession, orders: Select[Order]) -> list[Checkout]:
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
        session, Actor.for_system(), PURPOSE, [str(o.id) for o in found]
    )
    return [Checkout(o, lines[o.id], intents.get(str(o.id)), created=False) for o in found]


async def my_orders(session: AsyncSession, actor: Actor, *, limit: int = 50) -> list[Checkout]:
    user_id = actor.require_user_id()
    return await _checkouts(
        session,
        select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit),
    )


async def merchant_orders(
    session: AsyncSession, actor: Actor, *, campaign_id: int | None = None, limit: int = 50
) -> list[Checkout]:
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
    await release_quota(session, int(user_id), held)
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
