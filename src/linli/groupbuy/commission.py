"""Group leaders' commission: accrued when goods are collected, reversed when collected goods
are refunded, and paid out in monthly statements (calendar months in Asia/Shanghai).

The commission is booked in the ledger at the same time as the rest of the goods' value
(`ledger.settle`: clearing -> merchant payable, leader commission, platform revenue); the
`groupbuy_commissions` rows are the leader's itemised view of the same fen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.community import points
from linli.events import CommissionStatementIssued
from linli.groupbuy.models import (
    Commission,
    CommissionStatement,
    Order,
    OrderLine,
    Pickup,
)
from linli.jobs import CommissionStatements
from linli.payments import ledger
from linli.rules import service as rules

LOCAL = clock.LOCAL
FEE_RULE = "groupbuy.platform_fee"
STATEMENT_JOB = CommissionStatements.job_kind
PAYOUT_ACCOUNT = "cash:bank"  # leaders are paid by bank transfer
BP = ledger.BP


def share(amount_fen: int, rate_bp: int) -> int:
    """A rate's share of an amount, rounded down (the merchant keeps the remainder)."""
    return ledger.share(amount_fen, rate_bp)


async def rates(session: AsyncSession, leader_user_id: int) -> tuple[int, int]:
    """(leader commission, platform fee) in basis points in force now."""
    commission_bp = await points.commission_bp(session, leader_user_id)
    fee = await rules.in_force(session, FEE_RULE)
    return int(commission_bp or 0), int(fee.values["bp"])


async def accrue(
    session: AsyncSession,
    order: Order,
    pickup: Pickup,
    handed: Sequence[tuple[OrderLine, int]],
) -> int:
    """Book the settlement of one hand-over and the leader's commission per line; returns
    the commission in fen."""
    leader_fen = 0
    now = clock.now()
    for line, quantity in handed:
        base = line.unit_price_fen * quantity
        amount = share(base, pickup.commission_bp)
        leader_fen += amount
        if amount:
            session.add(
                Commission(
                    leader_user_id=pickup.leader_user_id,
                    pickup_point_id=pickup.pickup_point_id,
                    order_id=order.id,
                    order_line_id=line.id,
                    kind="accrual",
                    base_fen=base,
                    rate_bp=pickup.commission_bp,
                    amount_fen=amount,
                    created_at=now,
                )
            )
    platform_fen = share(pickup.goods_fen, pickup.platform_fee_bp)
    await ledger.settle(
        session,
        f"groupbuy-pickup-{pickup.id}",
        amount_fen=pickup.goods_fen,
        merchant_organisation_id=order.organisation_id,
        merchant_fen=pickup.goods_fen - leader_fen - platform_fen,
        leader_user_id=pickup.leader_user_id,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    return leader_fen


async def reverse(
    session: AsyncSession, order: Order, line: OrderLine, quantity: int, sequence: int
) -> int:
    """Undo the settlement of `quantity` collected units of `line` at the rates it was booked
    with (the line's latest hand-over): the amount returns to clearing, ready to be refunded.
    Returns the leader's commission reversed."""
    pickup = await session.scalar(
        select(Pickup).where(Pickup.order_id == order.id).order_by(Pickup.id.desc()).limit(1)
    )
    if pickup is None:
        raise RuntimeError(f"order {order.id} has collected goods but no pickup")
    amount = line.unit_price_fen * quantity
    leader_fen = share(amount, pickup.commission_bp)
    platform_fen = share(amount, pickup.platform_fee_bp)
    merchant_fen = amount - leader_fen - platform_fen
    if leader_fen:
        session.add(
            Commission(
                leader_user_id=pickup.leader_user_id,
                pickup_point_id=pickup.pickup_point_id,
                order_id=order.id,
                order_line_id=line.id,
                kind="reversal",
                base_fen=-amount,
                rate_bp=pickup.commission_bp,
                amount_fen=-leader_fen,
                created_at=clock.now(),
            )
        )
    await ledger.reverse_settlement(
        session,
        f"groupbuy-line-{line.id}-return-{sequence}",
        amount_fen=amount,
        merchant_organisation_id=order.organisation_id,
        merchant_fen=merchant_fen,
        leader_user_id=pickup.leader_user_id,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    return leader_fen


async def reverse_amount(
    session: AsyncSession, order: Order, line: OrderLine, amount: int, key: str
) -> int:
    """Undo the settlement of `amount` fen of `line`'s collected goods (a refund without
    return: a quality claim), in proportion at the rates they were booked with (the line's
    latest hand-over): the amount returns to clearing, ready to be refunded. `key` names the
    ledger entry (once per key). Returns the leader's commission reversed."""
    pickup = await session.scalar(
        select(Pickup).where(Pickup.order_id == order.id).order_by(Pickup.id.desc()).limit(1)
    )
    if pickup is None:
        raise RuntimeError(f"order {order.id} has collected goods but no pickup")
    leader_fen = share(amount, pickup.commission_bp)
    platform_fen = share(amount, pickup.platform_fee_bp)
    merchant_fen = amount - leader_fen - platform_fen
    if leader_fen:
        session.add(
            Commission(
                leader_user_id=pickup.leader_user_id,
                pickup_point_id=pickup.pickup_point_id,
                order_id=order.id,
                order_line_id=line.id,
                kind="reversal",
                base_fen=-amount,
                rate_bp=pickup.commission_bp,
                amount_fen=-leader_fen,
                created_at=clock.now(),
            )
        )
    await ledger.reverse_settlement(
        session,
        key,
        amount_fen=amount,
        merchant_organisation_id=order.organisation_id,
        merchant_fen=merchant_fen,
        leader_user_id=pickup.leader_user_id,
        leader_fen=leader_fen,
        platform_fen=platform_fen,
    )
    return leader_fen


# --- earnings and statements ----------------------------------------------------------------


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """UTC bounds [start, end) of a calendar month in Asia/Shanghai, 'YYYY-MM'."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    start = datetime.combine(first, time(), LOCAL).astimezone(UTC)
    end = datetime.combine(following, time(), LOCAL).astimezone(UTC)
    return start, end


def month_of(moment: datetime) -> str:
    local = moment.astimezone(LOCAL)
    return f"{local.year:04d}-{local.month:02d}"


def previous_month(moment: datetime) -> str:
    local = moment.astimezone(LOCAL)
    year, number = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{number:02d}"


@dataclass(frozen=True)
class Earnings:
    accrued_fen: int
    reversed_fen: int
    pickups: int

    @property
    def net_fen(self) -> int:
        return self.accrued_fen - self.reversed_fen


async def earnings(
    session: AsyncSession, leader_user_id: int, start: datetime, end: datetime
) -> Earnings:
    accrued = func.coalesce(func.sum(Commission.amount_fen).filter(Commission.amount_fen > 0), 0)
    reversed_ = func.coalesce(func.sum(Commission.amount_fen).filter(Commission.amount_fen < 0), 0)
    orders = func.count(func.distinct(Commission.order_id)).filter(Commission.kind == "accrual")
    row = (
        await session.execute(
            select(accrued, reversed_, orders).where(
                Commission.leader_user_id == leader_user_id,
                Commission.created_at >= start,
                Commission.created_at < end,
            )
        )
    ).one()
    return Earnings(int(row[0]), -int(row[1]), int(row[2]))


async def my_commissions(
    session: AsyncSession, actor: Actor, *, limit: int = 100
) -> Sequence[Commission]:
    return (
        await session.scalars(
            select(Commission)
            .where(Commission.leader_user_id == actor.require_user_id())
            .order_by(Commission.id.desc())
            .limit(limit)
        )
    ).all()


async def my_statements(session: AsyncSession, actor: Actor) -> Sequence[CommissionStatement]:
    return (
        await session.scalars(
            select(CommissionStatement)
            .where(CommissionStatement.leader_user_id == actor.require_user_id())
            .order_by(CommissionStatement.month.desc())
        )
    ).all()


async def close_month(session: AsyncSession, month: str) -> list[CommissionStatement]:
    """Issue every leader's statement for `month` (once: a leader with a statement for the
    month is skipped) and pay the net commission out through the ledger. A negative net
    (refunds after the month's accruals) is carried in the leader's ledger balance."""
    start, end = month_bounds(month)
    done = select(CommissionStatement.leader_user_id).where(CommissionStatement.month == month)
    leaders = (
        await session.scalars(
            select(Commission.leader_user_id)
            .where(
                Commission.created_at >= start,
                Commission.created_at < end,
                Commission.leader_user_id.not_in(done),
            )
            .distinct()
            .order_by(Commission.leader_user_id)
        )
    ).all()
    issued: list[CommissionStatement] = []
    for leader_user_id in leaders:
        earned = await earnings(session, leader_user_id, start, end)
        statement = CommissionStatement(
            leader_user_id=leader_user_id,
            month=month,
            accrued_fen=earned.accrued_fen,
            reversed_fen=earned.reversed_fen,
            net_fen=earned.net_fen,
            pickups=earned.pickups,
            created_at=clock.now(),
        )
        session.add(statement)
        await session.flush()
        if earned.net_fen > 0:
            statement.ledger_entry_id = await ledger.post(
                session,
                "commission_payout",
                f"statement-{statement.id}",
                [
                    (ledger.leader_commission(leader_user_id), earned.net_fen),
                    (PAYOUT_ACCOUNT, -earned.net_fen),
                ],
            )
        outbox.publish(
            session,
            CommissionStatementIssued(
                statement_id=statement.id,
                leader_user_id=leader_user_id,
                month=month,
                net_fen=earned.net_fen,
            ),
        )
        audit.record(
            session,
            Actor.for_system(),
            "groupbuy.commission_statement_issued",
            target_type="commission_statement",
            target_id=statement.id,
            month=month,
            net_fen=earned.net_fen,
        )
        issued.append(statement)
    return issued


def next_statement_run(now: datetime) -> datetime:
    """02:00 Asia/Shanghai on the first day of the month after `now`'s."""
    local = now.astimezone(LOCAL)
    year, number = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
    return datetime(year, number, 1, 2, 0, tzinfo=LOCAL).astimezone(UTC)
