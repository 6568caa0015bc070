"""Group commit of group-buy orders (PostgreSQL): the orders of one campaign item that arrive
while a statement for that item is running wait in a queue of this process; when it has
finished, ONE statement places every waiting order (at most `checkout_batch_size`, one per
resident) and ONE commit makes them durable, and only then is each request answered.

The statement (`_build`) reads the item and its campaign, locks the item's row (`FOR UPDATE`:
it then reads the stock as committed by everyone before it), gates each order as the
one-statement checkout does, gives the stock to the gated orders in arrival order (a
recursive CTE: each takes its units if that many remain, as one order after the other
would), and for those takes the resident's quota (`quotas.take_many_from`), inserts the
orders, their lines, their payment intents and the intents' expiry jobs
(`payments.insert_intents_from`), the orders' expiry jobs (`outbox.schedule_from`), and
decrements the stock by what was placed, conditionally (`remaining >= placed`: the
decrement is still the only arbiter of stock), moving the content generation.

Python then checks that every write agrees with the plan (the quota and an order under the
same key are arbitrated by their own conditional writes, which a concurrent transaction can
make disagree). If anything disagrees, or the statement fails, the batch is rolled back and
each of its orders is placed on its own (`checkout.place_order`, in its own request's
session): one failing order never fails the others. An order the plan refused is answered
with `checkout._check`'s refusal over what the statement read, with the stock as it stood
at that order's turn; one it refused where `_check` finds nothing (the quota, a key used
before) is placed on its own as well, which answers it as it answers today.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

from linli import clock, db, outbox
from linli.authz import Actor
from linli.community import points as pickup_points
from linli.db import UTCDateTime
from linli.errors import DomainError
from linli.group_commit import ALONE, GroupCommit, Queue
from linli.groupbuy import batches, checkout, quotas
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
from linli.payments import service as payments

log = logging.getLogger(__name__)

# Off: every order on its own (the tests that pin the single paths turn it off).
ENABLED = True


@dataclass(frozen=True)
class _Ticket:
    user_id: int
    key: str
    data: OrderIn


def _joins(batch: Sequence[_Ticket], ticket: _Ticket) -> bool:
    """One order per resident in a batch (a counter is upserted once per statement), of the
    batch's campaign; arrival order is kept: a second order of a resident starts the next."""
    return ticket.data.campaign_id == batch[0].data.campaign_id and all(
        ticket.user_id != earlier.user_id for earlier in batch
    )


_ORDERS: GroupCommit[_Ticket] = GroupCommit(
    "group buying's group commit",
    # Looked up at each batch, so that a test can wrap `_run`.
    lambda session, batch: _run(session, batch[0].data.campaign_id, batch),
    _joins,
)


def queue_of(engine: Any, item_id: int) -> Queue[_Ticket]:
    """The queue of an item's orders in this process, for a database (its sync Engine)."""
    return _ORDERS.queue_of(engine, item_id)


_MORE_THAN_LIMIT = N_("More than each resident may buy.")
_ORDER, _LINE, _INTENT = 10, 11, 12  # where the statement's row has the rows it inserted


class _Disagreed(Exception):
    """A write of the batch did not do what its plan said (a concurrent transaction)."""


def eligible(session: AsyncSession, data: OrderIn, batch_size: int) -> bool:
    return (
        ENABLED
        and checkout.ONE_STATEMENT
        and batch_size > 1
        and len(data.lines) == 1
        and not data.pay_later
        and session.get_bind().dialect.name == "postgresql"
    )


async def place_order(
    session: AsyncSession, actor: Actor, data: OrderIn, idempotency_key: str, batch_size: int
) -> checkout.Checkout:
    """`checkout.place_order` for a request of its own (the route's): an order of one line
    on PostgreSQL joins its item's queue and is placed by a group commit; its session's
    transaction is committed by then (the caller commits nothing more of it). Anything
    else, and every order a batch cannot place, goes through `checkout.place_order`."""
    if not eligible(session, data, batch_size):
        return await _alone(session, actor, data, idempotency_key)
    checkout.check_key(idempotency_key)
    ticket = _Ticket(actor.require_user_id(), idempotency_key, data)
    answer = await _ORDERS.submit(session, data.lines[0].item_id, ticket, batch_size)
    if answer is ALONE:
        return await _alone(session, actor, data, idempotency_key)
    if isinstance(answer, BaseException):
        raise answer
    assert isinstance(answer, checkout.Checkout)
    return answer


DEADLOCK_ATTEMPTS = 3


async def _alone(
    session: AsyncSession, actor: Actor, data: OrderIn, idempotency_key: str
) -> checkout.Checkout:
    """`checkout.place_order`, run again when PostgreSQL made it a deadlock's victim. The
    one-order path locks the resident's quota before the item's stock, a batch the item
    before the quotas (it must read the stock to know whose quota to take), so one resident
    ordering one item through both at once can deadlock; the other transaction goes on and
    this one, rolled back, is placed again (nothing of it was kept)."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            return await checkout.place_order(session, actor, data, idempotency_key)
        except DBAPIError as exc:
            if not db.is_deadlock(exc) or attempt == DEADLOCK_ATTEMPTS:
                raise
            log.info("group buying: an order was a deadlock's victim; placed again")
            await session.rollback()
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class _Batch:
    statement: Any
    intent: payments.IntentInsert
    placed_order: Any
    placed_line: Any


_BUILT: dict[bool, _Batch] = {}


async def _run(session: AsyncSession, campaign_id: int, batch: Sequence[_Ticket]) -> list[Any]:
    """The batch's statement and commit; each order's answer (a Checkout, a refusal, ALONE)."""
    move = await db.has_generation_table(session)
    built = _BUILT.get(move) or _BUILT.setdefault(move, _build(move))
    now = clock.now()
    values = {
        "g_item": batch[0].data.lines[0].item_id,
        "g_campaign": campaign_id,
        "g_now": now,
        "g_users": [t.user_id for t in batch],
        "g_keys": [t.key for t in batch],
        "g_qtys": [t.data.lines[0].quantity for t in batch],
        "g_points": [t.data.pickup_point_id for t in batch],
        "g_accepts": [t.data.accept_return_terms for t in batch],
    }
    try:
        rows = (await session.execute(built.statement, values)).all()
        answers = _answers(rows, batch, built, now)
        first = rows[0]
        if first.moved:
            await db.generation_moved(session)
        if first.expiry_due_at is None:
            await session.rollback()  # nothing was placed: nothing to commit (nor to move)
            return answers
        outbox.note_due(session, first.expiry_due_at)
        await session.commit()
        # The answers leave this session: whatever it does next (a rollback expires what
        # it holds) must not touch the rows other requests are presenting.
        for answer in answers:
            if isinstance(answer, checkout.Checkout):
                for held in (answer.order, *answer.lines[0], answer.intent):
                    if held is not None and held in session:
                        session.expunge(held)
    except _Disagreed as exc:
        log.info("group commit: %s; its orders are placed one by one", exc)
        await session.rollback()
        return [ALONE] * len(batch)
    return answers


def _answers(
    rows: Sequence[Any], batch: Sequence[_Ticket], built: _Batch, now: datetime
) -> list[Any]:
    if len(rows) != len(batch):
        raise _Disagreed("not one row per order")
    left = rows[0].locked_remaining
    placed_units = 0
    answers: list[Any] = []
    for ticket, row in zip(batch, rows, strict=True):
        quantity = ticket.data.lines[0].quantity
        order: Order | None = row[_ORDER]
        if order is not None:
            line: OrderLine | None = row[_LINE]
            intent = row[_INTENT]
            if line is None or intent is None or not row.fits or row.taken is None:
                raise _Disagreed("an order was placed without all of its parts")
            placed_units += quantity
            left -= quantity
            answers.append((order, line, intent))
            continue
        if row.fits:  # given its units, but its quota or its key said otherwise
            raise _Disagreed("an order given stock was not placed")
        if row.earlier is not None or row.CampaignItem is None or left is None:
            answers.append(ALONE)  # answered as today: the order placed with the key, ...
            continue
        item: CampaignItem = row.CampaignItem
        set_committed_value(item, "remaining", left)  # the stock at this order's turn
        read = SimpleNamespace(
            CampaignItem=item,
            Campaign=row.Campaign,
            point=row.point,
            selling=row.selling,
            batch_status=row.batch_status,
        )
        try:
            checkout.check(read, ticket.data, now)
        except DomainError as refusal:
            answers.append(refusal)
            continue
        if row.quota_ok is False:  # the resident holds too many already (as read)
            answers.append(quotas.limit_exceeded({"lines.0.quantity": _MORE_THAN_LIMIT}))
        else:
            answers.append(ALONE)  # SQL refused where Python did not: placed on its own
    if placed_units and rows[0].stock_left is None:
        raise _Disagreed("the stock's decrement refused what was placed")
    done: list[Any] = []
    for answer in answers:
        if isinstance(answer, tuple):
            order, line, intent = answer
            item = rows[0].CampaignItem
            set_committed_value(item, "remaining", rows[0].stock_left)
            done.append(
                checkout.Checkout(order, [(line, item)], built.intent.check(intent), created=True)
            )
        else:
            done.append(answer)
    return done


def _build(move: bool) -> _Batch:
    """The group commit's statement for orders of one line of one item, built once; its
    values are arrays in arrival order (`g_users`, `g_keys`, `g_qtys`, `g_points`,
    `g_accepts`) and `g_item`, `g_campaign`, `g_now`."""
    item_id = bindparam("g_item", type_=BigInteger)
    campaign_id = bindparam("g_campaign", type_=BigInteger)
    now = bindparam("g_now", type_=UTCDateTime)

    def array(name: str, of: Any) -> Any:
        return cast(bindparam(name, type_=ARRAY(of)), ARRAY(of))

    asked = (
        select(
            literal_column("a.n", BigInteger).label("n"),
            literal_column("a.user_id", BigInteger).label("user_id"),
            literal_column("a.key", String).label("key"),
            literal_column("a.quantity", Integer).label("quantity"),
            literal_column("a.point", BigInteger).label("point"),
            literal_column("a.accept", Boolean).label("accept"),
        )
        .select_from(
            func.unnest(
                array("g_users", BigInteger),
                array("g_keys", String),
                array("g_qtys", Integer),
                array("g_points", BigInteger),
                array("g_accepts", Boolean),
            )
            .table_valued("user_id", "key", "quantity", "point", "accept", with_ordinality="n")
            .render_derived(name="a")
        )
        .cte("asked")
    )
    # The item's row, locked: what it reads is the stock as committed before this batch.
    locked = (
        select(CampaignItem.id, CampaignItem.remaining)
        .where(CampaignItem.id == item_id, CampaignItem.campaign_id == campaign_id)
        .with_for_update()
        .cte("locked")
    )
    batch_status = batches.source.status_of(CampaignItem.batch_id)
    selling = Campaign.organisation_id.in_(selling_organisation_ids())
    resident: Any = asked.c.user_id  # a column: the subquery correlates with `asked`
    home = pickup_points.home_point_id(resident).correlate(asked)
    point = pickup_points.open_point_id(func.coalesce(asked.c.point, home))
    earlier = checkout.earlier_order(asked.c.user_id, asked.c.key)
    total = CampaignItem.group_price_fen * asked.c.quantity
    ok = and_(
        Campaign.status == PUBLISHED,
        Campaign.opens_at <= now,
        Campaign.cutoff_at > now,
        selling,
        or_(batch_status.is_(None), batch_status.not_in(sorted(batches.UNSELLABLE))),
        asked.c.quantity <= CampaignItem.per_resident_limit,
        Campaign.return_rule_id.is_not(None),
        Campaign.return_rule_version.is_not(None),
        or_(asked.c.accept, CampaignItem.return_exclusion.is_(None)),
        earlier.is_(None),
        point.is_not(None),
        total <= checkout.MAX_ORDER_FEN,
    )
    quota_ok = (
        quotas.held_of(asked.c.user_id, CampaignItem.id) + asked.c.quantity
        <= CampaignItem.per_resident_limit
    )
    of_item = and_(CampaignItem.id == item_id, CampaignItem.campaign_id == campaign_id)
    gate = (
        select(
            asked.c.n,
            asked.c.user_id,
            asked.c.key,
            asked.c.quantity,
            asked.c.accept,
            point.label("point"),
            earlier.label("earlier"),
            and_(ok, quota_ok).label("ok"),
            quota_ok.label("quota_ok"),
            total.label("total"),
        )
        .select_from(asked)
        .join(CampaignItem, of_item)
        .join(Campaign, Campaign.id == CampaignItem.campaign_id)
    ).cte("gate")
    # The stock, given in arrival order to each gated order that still finds its units.
    candidates = (
        select(
            gate.c.n,
            gate.c.quantity,
            func.row_number().over(order_by=gate.c.n).label("k"),
        )
        .where(gate.c.ok)
        .cte("candidates")
    )
    start = select(
        literal(0, BigInteger).label("k"),
        literal(0, BigInteger).label("n"),
        locked.c.remaining.label("left"),
        false().label("fits"),
    ).select_from(locked)
    given = start.cte("given", recursive=True)
    before = given.alias("before")
    given = given.union_all(
        select(
            candidates.c.k,
            candidates.c.n,
            case(
                (before.c.left >= candidates.c.quantity, before.c.left - candidates.c.quantity),
                else_=before.c.left,
            ),
            before.c.left >= candidates.c.quantity,
        ).select_from(before.join(candidates, candidates.c.k == before.c.k + 1))
    )
    fits = (
        select(gate)
        .join(given, and_(given.c.n == gate.c.n, given.c.k > 0))
        .where(given.c.fits)
        .cte("fits")
    )
    taken = quotas.take_many_from(fits, fits.c.user_id, item_id, fits.c.quantity, name="quota")
    minutes = func.coalesce(func.nullif(Campaign.payment_window_minutes, 0), 15)
    due = func.least(
        now + minutes * literal_column("interval '1 minute'"),
        Campaign.cutoff_at,
        type_=UTCDateTime,
    )
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
                fits.c.user_id,
                campaign_id,
                Campaign.organisation_id,
                fits.c.point,
                literal(PENDING_PAYMENT),
                fits.c.total,
                fits.c.key,
                Campaign.return_rule_id,
                Campaign.return_rule_version,
                fits.c.accept,
                due,
                now,
                literal(0),
            )
            .select_from(fits)
            .join(taken, taken.c.user_id == fits.c.user_id)
            .join(Campaign, Campaign.id == campaign_id)
            .order_by(fits.c.n),  # order ids in arrival order
        )
        .on_conflict_do_nothing(index_elements=[Order.user_id, Order.idempotency_key])
        .returning(*Order.__table__.c)
        .cte("placed")
    )
    line_item = aliased(CampaignItem)
    order_lines = (
        pg_insert(OrderLine)
        .from_select(
            checkout.LINE_COLUMNS,
            select(*checkout.line_values(placed.c.id, line_item, fits.c.quantity))
            .select_from(placed)
            .join(fits, fits.c.user_id == placed.c.user_id)
            .join(line_item, line_item.id == item_id)
            .order_by(placed.c.id),
        )
        .returning(*OrderLine.__table__.c)
        .cte("placed_lines")
    )
    intent = payments.insert_intents_from(
        placed,
        payer_user_id=placed.c.user_id,
        payee_organisation_id=placed.c.organisation_id,
        purpose=checkout.PURPOSE,
        reference=cast(placed.c.id, String),
        amount_fen=placed.c.total_fen,
        idempotency_key=literal("groupbuy-order-") + cast(placed.c.id, String),
        expires_at=placed.c.payment_due_at + literal(checkout.INTENT_GRACE),
    )
    expiry = outbox.schedule_from(
        ExpireOrder,
        placed.join(intent.intent, intent.intent.c.reference == cast(placed.c.id, String)),
        {"order_id": placed.c.id, "intent_id": intent.intent.c.id},
        placed.c.payment_due_at,
        name="order_expiry",
    )
    units = select(func.coalesce(func.sum(order_lines.c.quantity), 0)).scalar_subquery()
    stock = (
        update(CampaignItem)
        .where(
            CampaignItem.id == item_id,
            exists(select(literal(1)).select_from(order_lines)),
            CampaignItem.remaining >= units,
        )
        .values(remaining=CampaignItem.remaining - units)
        .returning(CampaignItem.remaining)
        .cte("stock")
    )
    moved = db.generation_move(exists(select(literal(1)).select_from(stock))) if move else None
    placed_order = aliased(Order, placed)
    placed_line = aliased(OrderLine, order_lines)
    statement = (
        select(
            asked.c.n,
            CampaignItem,
            Campaign,
            selling.label("selling"),
            batch_status.label("batch_status"),
            gate.c.point,
            gate.c.earlier,
            gate.c.quota_ok,
            given.c.fits,
            taken.c.quantity.label("taken"),
            placed_order,
            placed_line,
            intent.entity,
            select(locked.c.remaining).scalar_subquery().label("locked_remaining"),
            select(stock.c.remaining).scalar_subquery().label("stock_left"),
            select(func.max(expiry.c.due_at)).scalar_subquery().label("expiry_due_at"),
            (exists(select(literal(1)).select_from(moved)) if moved is not None else false()).label(
                "moved"
            ),
        )
        .select_from(asked)
        .outerjoin(CampaignItem, of_item)
        .outerjoin(Campaign, Campaign.id == CampaignItem.campaign_id)
        .outerjoin(gate, gate.c.n == asked.c.n)
        .outerjoin(given, and_(given.c.n == asked.c.n, given.c.k > 0))
        .outerjoin(taken, taken.c.user_id == asked.c.user_id)
        .outerjoin(
            placed_order,
            and_(
                placed_order.user_id == asked.c.user_id,
                placed_order.idempotency_key == asked.c.key,
            ),
        )
        .outerjoin(placed_line, placed_line.order_id == placed_order.id)
        .outerjoin(intent.entity, intent.entity.reference == cast(placed_order.id, String))
        .add_cte(locked, taken, placed, order_lines, intent.intent, intent.job, expiry, stock)
        .add_cte(*([moved] if moved is not None else []))
        .order_by(asked.c.n)
        .execution_options(populate_existing=True)
    )
    return _Batch(statement, intent, placed_order, placed_line)
