"""Checkout: a resident's order of a campaign's items, placed once per idempotency key, with
its payment intent and expiry job; and the order as checkout returns it (`Checkout`).

On PostgreSQL checkout is one statement with data-modifying CTEs (`_place_in_one_statement`):
it reads everything it needs (items, campaign, the resident's pickup point, an earlier order
under the same idempotency key, whether the merchant may sell), takes the resident's quota of
each item (`quotas`), inserts the order, its lines, the payment intent and the expiry jobs,
and reserves the stock by conditional UPDATE last, so the hot row is locked from then to the
commit. On SQLite (and for an order paid later on credit) the same steps run one statement
each (`_place_in_steps`), the reservation again last. Both answer through the same checks
(`_check`). The rules it applies were recorded on the campaign when it was published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    Boolean,
    ColumnElement,
    Exists,
    Integer,
    Row,
    ScalarSelect,
    String,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from linli import clock, db, outbox
from linli.authz import Actor
from linli.community import points as pickup_points
from linli.db import UTCDateTime
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.groupbuy import batches, campaigns, quotas
from linli.groupbuy.models import (
    PENDING_PAYMENT,
    PUBLISHED,
    Campaign,
    CampaignItem,
    Order,
    OrderLine,
)
from linli.groupbuy.schemas import OrderIn
from linli.i18n import N_
from linli.jobs import ExpireOrder
from linli.merchants.queries import selling_organisation_ids
from linli.payments import providers
from linli.payments import service as payments
from linli.payments.views import IntentView

log = logging.getLogger(__name__)

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


def check_key(key: str) -> None:
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


# PostgreSQL places an order in one statement (`_place_in_one_statement`); False runs the
# steps below there too (the reference the differential test compares it with).
ONE_STATEMENT = True
_ORDER, _LINE, _INTENT = 7, 8, 9  # where the one statement's row has the rows it inserted


@dataclass(frozen=True)
class _Checked:
    campaign: Campaign
    by_item: dict[int, CampaignItem]
    point_id: int
    total: int


def _check(rows: Sequence[Row[Any]], data: OrderIn, now: datetime) -> _Checked:
    """Today's refusals, in their order, over what checkout read (the items found, their
    campaign, the pickup point, whether the merchant may sell, the items' batches)."""
    item_ids = [line.item_id for line in data.lines]
    if len(rows) != len(item_ids):
        raise ValidationFailed(
            N_("Check the order."),
            fields={"lines": N_("Choose items of this campaign.")},
            code="unknown_item",
        )
    campaign: Campaign = rows[0].Campaign
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
        if item.remaining < line.quantity:  # early answer; the UPDATE decides
            raise sold_out(item.product_name)
    total = sum(by_item[line.item_id].group_price_fen * line.quantity for line in data.lines)
    if total > MAX_ORDER_FEN:
        raise ValidationFailed(
            N_("Check the order."), fields={"lines": N_("The order is too large.")}
        )
    assert campaign.return_rule_id is not None
    assert campaign.return_rule_version is not None
    return _Checked(campaign, by_item, int(rows[0].point), total)


def check(read: Any, data: OrderIn, now: datetime) -> None:
    """`_check` over one read row (the group commit's: an order of one line)."""
    _check([read], data, now)


def _due_at(campaign: Campaign, now: datetime) -> datetime:
    window = timedelta(minutes=campaign.payment_window_minutes or 15)
    # Payment closes at the cut-off at the latest: the group is decided on paid orders.
    return min(now + window, campaign.cutoff_at)


async def place_order(
    session: AsyncSession, actor: Actor, data: OrderIn, idempotency_key: str
) -> Checkout:
    """Place (or, for a key used before, return) a resident's order: validate, take the
    resident's quota of each item, insert the order and its lines, create its payment intent
    and expiry job, and reserve the stock with one conditional UPDATE per line. On PostgreSQL
    all of it is one statement (`_place_in_one_statement`); on SQLite, and for an order paid
    later on credit, the steps of `_place_in_steps`."""
    user_id = actor.require_user_id()
    check_key(idempotency_key)
    if data.pay_later and not providers.is_registered(providers.PAY_LATER):
        raise Conflict(N_("Pay later is not available."), code="pay_later_unavailable")
    item_ids = [line.item_id for line in data.lines]
    if len(set(item_ids)) != len(item_ids):
        raise ValidationFailed(
            N_("Check the order."), fields={"lines": N_("Each item may appear only once.")}
        )
    if ONE_STATEMENT and not data.pay_later and session.get_bind().dialect.name == "postgresql":
        placed = await _place_in_one_statement(session, user_id, data, idempotency_key)
        if placed is not None:
            return placed
    return await _place_in_steps(session, actor, user_id, data, idempotency_key)


def earlier_order(
    user_id: int | ColumnElement[int], idempotency_key: str | ColumnElement[str]
) -> ScalarSelect[Any]:
    return (
        select(Order.id)
        .where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
        .scalar_subquery()
    )


def _point(user_id: int, data: OrderIn) -> ScalarSelect[Any]:
    point_id: Any = (
        literal(data.pickup_point_id)
        if data.pickup_point_id is not None
        else pickup_points.home_point_id(user_id)
    )
    return pickup_points.open_point_id(point_id)


async def _place_in_steps(
    session: AsyncSession, actor: Actor, user_id: int, data: OrderIn, idempotency_key: str
) -> Checkout:
    """The checkout as a sequence of statements in the caller's transaction: the read, the
    quota upserts, the inserts (the ORM's), the intent (`payments.create_intent`, or
    `pay_deferred` for an order paid later), the expiry job, and the reservation last."""
    item_ids = [line.item_id for line in data.lines]
    earlier = earlier_order(user_id, idempotency_key)
    point = _point(user_id, data)
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
    now = clock.now()
    checked = _check(rows, data, now)
    campaign, by_item, total = checked.campaign, checked.by_item, checked.total
    fields: dict[str, str] = {}
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
    due_at = _due_at(campaign, now)
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
            pickup_point_id=checked.point_id,
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


@dataclass(frozen=True)
class _OneStatement:
    """The one-statement checkout for a number of lines, built once: its values are bound
    parameters (`p_user`, `p_key`, `p_campaign`, `p_point`, `p_accept`, `p_now`, and per line
    `p_item_{n}`, `p_qty_{n}` in the order's order and `p_sitem_{k}`, `p_sqty_{k}` in item
    order). Never a column's name: SQLAlchemy would take a parameter named like a column of
    a table the statement updates as a value to SET."""

    statement: Any
    intent: payments.IntentInsert
    placed_order: Any
    placed_line: Any


_ONE_STATEMENTS: dict[tuple[int, bool, bool], _OneStatement] = {}


# An order line as a statement inserts it (the one-statement checkout, the group commit):
# the columns, and their values from the placed order's id, the campaign item and a quantity.
LINE_COLUMNS = [
    "order_id",
    "item_id",
    "quantity",
    "unit_price_fen",
    "amount_fen",
    "no_reason_return_excluded",
    "group_failed",
    "picked_qty",
    "returned_qty",
    "refunded_fen",
    "claimed_qty",
    "claim_refunded_fen",
]


def line_values(order_id: Any, item: Any, quantity: Any) -> tuple[Any, ...]:
    return (
        order_id,
        item.id,
        quantity,
        item.group_price_fen,
        item.group_price_fen * quantity,
        item.return_exclusion.is_not(None),
        false(),
        *(literal(0) for _ in range(5)),  # picked, returned, refunded, claimed, claim refunded
    )


def _one_statement(lines: int, named_point: bool, move: bool) -> _OneStatement:
    built = _ONE_STATEMENTS.get((lines, named_point, move))
    if built is None:
        built = _ONE_STATEMENTS[(lines, named_point, move)] = _build(lines, named_point, move)
    return built


def _build(lines: int, named_point: bool, move: bool) -> _OneStatement:
    user_id = bindparam("p_user", type_=BigInteger)
    key = bindparam("p_key", type_=String)
    campaign_id = bindparam("p_campaign", type_=BigInteger)
    accept = bindparam("p_accept", type_=Boolean)
    now = bindparam("p_now", type_=UTCDateTime)
    asked = [
        select(
            literal(n, Integer).label("n"),
            bindparam(f"p_item_{n}", type_=BigInteger).label("item_id"),
            bindparam(f"p_qty_{n}", type_=Integer).label("quantity"),
        )
        for n in range(lines)
    ]
    wanted = (union_all(*asked) if lines > 1 else asked[0]).cte("wanted")
    earlier = earlier_order(user_id, key)
    point = pickup_points.open_point_id(
        bindparam("p_point", type_=BigInteger)
        if named_point
        else pickup_points.home_point_id(user_id)  # type: ignore[arg-type]  # a parameter
    )
    batch_status = batches.source.status_of(CampaignItem.batch_id)
    selling = Campaign.organisation_id.in_(selling_organisation_ids())
    item_of_campaign = and_(
        CampaignItem.id == wanted.c.item_id, CampaignItem.campaign_id == campaign_id
    )
    minutes = func.coalesce(func.nullif(Campaign.payment_window_minutes, 0), 15)
    due = func.least(
        now + minutes * literal_column("interval '1 minute'"),
        Campaign.cutoff_at,
        type_=UTCDateTime,
    )
    line_ok = and_(
        Campaign.status == PUBLISHED,
        Campaign.opens_at <= now,
        Campaign.cutoff_at > now,
        selling,
        or_(batch_status.is_(None), batch_status.not_in(sorted(batches.UNSELLABLE))),
        wanted.c.quantity <= CampaignItem.per_resident_limit,
        CampaignItem.remaining >= wanted.c.quantity,
        Campaign.return_rule_id.is_not(None),
        Campaign.return_rule_version.is_not(None),
        or_(accept, CampaignItem.return_exclusion.is_(None)),
    )
    total = func.sum(CampaignItem.group_price_fen * wanted.c.quantity)
    gate = (
        select(
            and_(
                func.count(CampaignItem.id) == lines,
                func.bool_and(line_ok),
                earlier.is_(None),
                point.is_not(None),
                total <= MAX_ORDER_FEN,
            ).label("ok"),
            total.label("total"),
            point.label("point"),
            func.max(Campaign.organisation_id).label("organisation_id"),
            func.max(Campaign.return_rule_id).label("return_rule_id"),
            func.max(Campaign.return_rule_version).label("return_rule_version"),
            func.max(due).label("due_at"),
        )
        .select_from(wanted)
        .outerjoin(CampaignItem, item_of_campaign)
        .outerjoin(Campaign, Campaign.id == CampaignItem.campaign_id)
    ).cte("gate")
    gate_open = select(gate.c.ok).scalar_subquery().is_(True)

    def count(cte: CTE) -> ScalarSelect[int]:
        return select(func.count()).select_from(cte).scalar_subquery()

    def wrote(cte: CTE) -> Exists:
        return exists(select(literal(1)).select_from(cte))

    # The resident's quota, each line in item order (each attempted after the one before,
    # whatever its outcome, so all refusals are known as the steps know them).
    # Each line's item and quantity in item order, shared by its quota and its reservation.
    sitem = [bindparam(f"p_sitem_{k}", type_=BigInteger) for k in range(lines)]
    sqty = [bindparam(f"p_sqty_{k}", type_=Integer) for k in range(lines)]
    taken: list[CTE] = []
    for k in range(lines):
        when = gate_open if not taken else and_(gate_open, count(taken[-1]) >= 0)
        taken.append(quotas.take_from(user_id, sitem[k], sqty[k], when, name=f"quota_{k}"))
    all_taken = sum((count(cte) for cte in taken), literal(0)) == lines
    placed = (
        pg_insert(Order)
        .from_select(
            [
                "user_id",
                "campaign_id",
                "organisation_id",
                "pickup_point_id",
                "status",
                "total_fen",
                "idempotency_key",
                "return_rule_id",
                "return_rule_version",
                "return_terms_accepted",
                "payment_due_at",
                "created_at",
                "refunded_fen",
            ],
            select(
                user_id,
                campaign_id,
                gate.c.organisation_id,
                gate.c.point,
                literal(PENDING_PAYMENT),
                gate.c.total,
                key,
                gate.c.return_rule_id,
                gate.c.return_rule_version,
                accept,
                gate.c.due_at,
                now,
                literal(0),
            ).where(all_taken),
        )
        .on_conflict_do_nothing(index_elements=[Order.user_id, Order.idempotency_key])
        .returning(*Order.__table__.c)
        .cte("placed")
    )
    line_item = aliased(CampaignItem)
    order_lines = (
        pg_insert(OrderLine)
        .from_select(
            LINE_COLUMNS,
            select(*line_values(placed.c.id, line_item, wanted.c.quantity))
            .select_from(placed)
            .join(wanted, true())
            .join(line_item, line_item.id == wanted.c.item_id)
            .order_by(wanted.c.n),  # line ids in the order's order, as the steps insert them
        )
        .returning(*OrderLine.__table__.c)
        .cte("placed_lines")
    )
    intent = payments.insert_intent_from(
        placed,
        payer_user_id=user_id,
        payee_organisation_id=placed.c.organisation_id,
        purpose=PURPOSE,
        reference=cast(placed.c.id, String),
        amount_fen=placed.c.total_fen,
        idempotency_key=literal("groupbuy-order-") + cast(placed.c.id, String),
        # Our expiry job cancels the intent at the deadline; payments' own expiry is a backstop.
        expires_at=placed.c.payment_due_at + literal(INTENT_GRACE),
    )
    expiry = outbox.schedule_from(
        ExpireOrder,
        placed.join(intent.intent, true()),
        {"order_id": placed.c.id, "intent_id": intent.intent.c.id},
        placed.c.payment_due_at,
        name="order_expiry",
    )
    # Last, the reservation, in item order, once everything above was inserted (the same order
    # as the steps: a concurrent order under the same key stops this one before its stock):
    # the conditional decrement is the only arbiter of stock.
    reserved: list[CTE] = []
    for k in range(lines):
        when = (
            and_(wrote(expiry), wrote(intent.job), wrote(order_lines))
            if not reserved
            else wrote(reserved[-1])
        )
        reserved.append(
            update(CampaignItem)
            .where(CampaignItem.id == sitem[k], CampaignItem.remaining >= sqty[k], when)
            .values(remaining=CampaignItem.remaining - sqty[k])
            .returning(CampaignItem.id, CampaignItem.remaining)
            .cte(f"stock_{k}")
        )
    # The stock left shows on public pages: the statement moves the content generation
    # itself when it reserved, so nothing runs between it and the commit.
    moved = db.generation_move(wrote(reserved[-1])) if move else None
    placed_order = aliased(Order, placed)
    placed_line = aliased(OrderLine, order_lines)
    statement = (
        select(
            CampaignItem,
            Campaign,
            earlier.label("earlier"),
            point.label("point"),
            selling.label("selling"),
            batch_status.label("batch_status"),
            select(gate.c.ok).scalar_subquery().label("gate_ok"),
            placed_order,
            placed_line,
            intent.entity,
            *(count(cte).label(f"taken_{k}") for k, cte in enumerate(taken)),
            *(
                select(cte.c.remaining).scalar_subquery().label(f"left_{k}")
                for k, cte in enumerate(reserved)
            ),
            select(expiry.c.due_at).scalar_subquery().label("expiry_due_at"),
            (wrote(moved) if moved is not None else false()).label("moved"),
        )
        .select_from(wanted)
        .outerjoin(CampaignItem, item_of_campaign)
        .outerjoin(Campaign, Campaign.id == CampaignItem.campaign_id)
        .outerjoin(placed_order, true())
        .outerjoin(placed_line, placed_line.item_id == wanted.c.item_id)
        .outerjoin(intent.entity, true())
        .add_cte(*taken, *reserved, placed, order_lines)
        .add_cte(intent.intent, intent.job, expiry, *([moved] if moved is not None else []))
        .order_by(wanted.c.n)
        .execution_options(populate_existing=True)
    )
    return _OneStatement(statement, intent, placed_order, placed_line)


async def _place_in_one_statement(
    session: AsyncSession, user_id: int, data: OrderIn, idempotency_key: str
) -> Checkout | None:
    """The checkout as one statement with data-modifying CTEs (PostgreSQL), last in the
    caller's transaction, so the hot row is locked from its reservation to the commit.

    The statement reads what `_place_in_steps` reads and computes in SQL a gate (no order
    under the key, every item of the campaign, open, sellable, within the limit and the stock,
    the return terms accepted, the total in range); each write is attempted only when the one
    before it wrote, in the steps' order: the quota upserts (each line, in item order), the
    order (ON CONFLICT DO NOTHING), its lines, the payment intent and its expiry job
    (payments' `insert_intent_from`), the order's expiry job (`outbox.schedule_from`), the
    conditional reservations last (in item order, stopping at the first that finds too
    little) and the content generation's move (`db.generation_move`). It returns the rows it
    read with what each write did. Python then answers exactly as the steps do: the same
    checks in the same order over the same rows (`_check`; a refusal rolls back whatever the
    statement wrote), then the quota, a concurrent order under the same key, the payee, the
    stock. If SQL refused where Python finds nothing to refuse (a check the two would disagree
    on), nothing was written and the caller runs the steps: None."""
    now = clock.now()
    lines_in = list(enumerate(data.lines))
    in_item_order = sorted(lines_in, key=lambda pair: pair[1].item_id)
    built = _one_statement(
        len(lines_in), data.pickup_point_id is not None, await db.has_generation_table(session)
    )
    values: dict[str, Any] = {
        "p_user": user_id,
        "p_key": idempotency_key,
        "p_campaign": data.campaign_id,
        "p_accept": data.accept_return_terms,
        "p_now": now,
    }
    if data.pickup_point_id is not None:
        values["p_point"] = data.pickup_point_id
    for n, line in lines_in:
        values[f"p_item_{n}"], values[f"p_qty_{n}"] = line.item_id, line.quantity
    for k, (_n, line) in enumerate(in_item_order):
        values[f"p_sitem_{k}"], values[f"p_sqty_{k}"] = line.item_id, line.quantity
    rows = (await session.execute(built.statement, values)).all()
    first = rows[0]
    if first.moved:
        await db.generation_moved(session)
    if first.earlier is not None:
        return await _replay(session, user_id, int(first.earlier), data)
    found = [row for row in rows if row.CampaignItem is not None]
    checked = _check(found, data, now)  # a refusal rolls back whatever was written
    if not first.gate_ok:
        log.warning("checkout: SQL's gate refused what Python accepts; placing it in steps")
        return None
    taken = {n: bool(getattr(first, f"taken_{k}")) for k, (n, _line) in enumerate(in_item_order)}
    fields = {
        f"lines.{n}.quantity": N_("More than each resident may buy.")
        for n, _line in lines_in
        if not taken[n]
    }
    if fields:
        # A concurrent request with the same key may have won (and taken the quota) meanwhile.
        winner = await session.scalar(select(earlier_order(user_id, idempotency_key)))
        if winner is not None:
            await quotas.release(
                session, user_id, [(ln.item_id, ln.quantity) for n, ln in lines_in if taken[n]]
            )
            return await _replay(session, user_id, int(winner), data)
        raise quotas.limit_exceeded(fields)
    order: Order | None = first[_ORDER]
    if order is None:
        # A concurrent request with the same key won: its order is the answer, and the quota
        # this request took is given back (the winner took its own).
        await quotas.release(session, user_id, [(ln.item_id, ln.quantity) for ln in data.lines])
        return await _after_race(session, user_id, idempotency_key, data)
    placed_intent = built.intent.check(first[_INTENT])
    left: dict[int, int] = {}
    for k, (_n, line) in enumerate(in_item_order):
        remaining = getattr(first, f"left_{k}")
        if remaining is None:  # someone else got the last units first
            raise sold_out(checked.by_item[line.item_id].product_name)
        left[line.item_id] = int(remaining)
    lines: list[tuple[OrderLine, CampaignItem]] = []
    for n, row in enumerate(rows):
        item = checked.by_item[data.lines[n].item_id]
        set_committed_value(item, "remaining", left[item.id])  # shown, not written again
        lines.append((row[_LINE], item))
    outbox.note_due(session, first.expiry_due_at)
    return Checkout(order, lines, placed_intent, created=True)


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
