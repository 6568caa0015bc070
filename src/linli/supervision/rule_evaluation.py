"""The built-in rules evaluated: each reads the version in force for the merchant's
jurisdiction, decides against its threshold and raises (or merges) an alert with its inputs
and evidence."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.groupbuy.models import Order, OrderLine
from linli.merchants.models import Licence
from linli.supervision import alert_service
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import Signal
from linli.supervision.rule_history import PaidOrder
from linli.supervision.rule_service import RuleInForce, in_force, organisation_codes
from linli.trace.safety_models import RECALL_OPEN
from linli.trace.safety_models import TraceRecall as Recall

# signal kinds
ORDER_PAID = "order_paid"
COMPLAINT = "complaint"
RETURN_REQUESTED = "return_requested"
COUNTED = {
    R.RETURN_REFUND_OVERDUE: "return_refund_overdue",
    R.INSPECTION_FAILED: "inspection_failed",
    R.COLD_CHAIN: "cold_chain_excursion",
    R.RECALL_OVERDUE: "recall_overdue",
    R.PRESCRIPTION_UNREVIEWED: "prescription_unreviewed",
    R.PREPAID_OVER_LIMIT: "prepaid_over_limit",
}


async def _codes(session: AsyncSession, organisation_id: int) -> tuple[str, ...]:
    return organisation_codes(await session.get(Organisation, organisation_id))


async def counted_fact(
    session: AsyncSession,
    rule_id: str,
    organisation_id: int,
    ref: str,
    *,
    rule: RuleInForce | None = None,
    summary: str | None = None,
    inputs: dict[str, Any] | None = None,
) -> bool:
    """Record one fact of a counting rule; fire when `min_count` fall within the window.
    `rule`: the version in force when the caller read it already; `summary` and `inputs`:
    what the rule saw in this fact, added to the alert's count and window."""
    kind = COUNTED[rule_id]
    await alert_service.record_signal(session, organisation_id, kind, ref)
    await session.flush()
    rule = rule or await in_force(session, rule_id, await _codes(session, organisation_id))
    now = clock.now()
    since = now - timedelta(days=rule.params["window_days"])
    count = await alert_service.count_signals(session, organisation_id, kind, since, now)
    if count < rule.params["min_count"]:
        return False
    refs = await alert_service.recent_refs(session, organisation_id, kind, since)
    await alert_service.raise_alert(
        session,
        rule,
        organisation_id,
        subject="merchant",
        summary=f"{count} × {kind} in {rule.params['window_days']} days"
        + (f": {summary}" if summary else ""),
        inputs={**(inputs or {}), "count": count, "window_days": rule.params["window_days"]},
        evidence=[{"type": kind, "ref": ref} for ref in refs[:5]],
    )
    return True


async def complaint_rate(session: AsyncSession, organisation_id: int) -> bool:
    rule = await in_force(session, R.COMPLAINT_RATE, await _codes(session, organisation_id))
    now = clock.now()
    since = now - timedelta(days=rule.params["window_days"])
    orders = await alert_service.count_signals(session, organisation_id, ORDER_PAID, since, now)
    complaints = await alert_service.count_signals(session, organisation_id, COMPLAINT, since, now)
    if orders < rule.params["min_orders"]:
        return False
    rate = 100.0 * complaints / orders
    if rate <= rule.params["max_rate_pct"]:
        return False
    refs = await alert_service.recent_refs(session, organisation_id, COMPLAINT, since)
    await alert_service.raise_alert(
        session,
        rule,
        organisation_id,
        subject="merchant",
        summary=f"complaint rate {rate:.2f} % > {rule.params['max_rate_pct']} %",
        inputs={"orders": orders, "complaints": complaints, "rate_pct": round(rate, 4)},
        evidence=[{"type": "complaint", "ref": ref} for ref in refs[:5]],
    )
    return True


async def refund_spike(session: AsyncSession, organisation_id: int) -> bool:
    rule = await in_force(session, R.REFUND_SPIKE, await _codes(session, organisation_id))
    p = rule.params
    now = clock.now()
    recent_from = now - timedelta(days=p["window_days"])
    base_from = now - timedelta(days=p["baseline_days"])
    orders = await alert_service.count_signals(
        session, organisation_id, ORDER_PAID, recent_from, now
    )
    returns = await alert_service.count_signals(
        session, organisation_id, RETURN_REQUESTED, recent_from, now
    )
    if orders < p["min_orders"]:
        return False
    base_orders = await alert_service.count_signals(
        session, organisation_id, ORDER_PAID, base_from, recent_from
    )
    base_returns = await alert_service.count_signals(
        session, organisation_id, RETURN_REQUESTED, base_from, recent_from
    )
    rate = 100.0 * returns / orders
    base_rate = 100.0 * base_returns / base_orders if base_orders else 0.0
    limit = p["factor"] * base_rate if base_rate > 0 else p["floor_pct"]
    if rate <= limit:
        return False
    refs = await alert_service.recent_refs(session, organisation_id, RETURN_REQUESTED, recent_from)
    await alert_service.raise_alert(
        session,
        rule,
        organisation_id,
        subject="merchant",
        summary=f"return rate {rate:.2f} % against a baseline of {base_rate:.2f} %",
        inputs={
            "orders": orders,
            "returns": returns,
            "rate_pct": round(rate, 4),
            "baseline_orders": base_orders,
            "baseline_returns": base_returns,
            "baseline_rate_pct": round(base_rate, 4),
            "limit_pct": round(limit, 4),
        },
        evidence=[{"type": "return", "ref": ref} for ref in refs[:5]],
    )
    return True


async def paid_order(session: AsyncSession, order_id: int) -> PaidOrder | None:
    """Who paid whom when (one query, with the merchant's region for its rules)."""
    head = (
        await session.execute(
            select(
                Order.paid_at,
                Order.user_id,
                Order.organisation_id,
                Organisation.district_code,
                Organisation.city_code,
                Organisation.province_code,
            )
            .join(Organisation, Organisation.id == Order.organisation_id)
            .where(Order.id == order_id)
        )
    ).first()
    if head is None or head.paid_at is None:
        return None
    codes = (
        *dict.fromkeys(c for c in (head.district_code, head.city_code, head.province_code) if c),
        "CN",
    )
    return PaidOrder(order_id, head.user_id, head.organisation_id, head.paid_at, codes)


async def price_discrimination(
    session: AsyncSession, order_id: int, head: PaidOrder | None = None
) -> bool:
    """The order's items sold, within the window, to other residents at a different unit
    price (the same campaign item: one SKU, one advertised price)."""
    head = head or await paid_order(session, order_id)
    if head is None:
        return False
    codes = head.codes
    rule = await in_force(session, R.PRICE_DISCRIMINATION, codes)
    window = timedelta(minutes=rule.params["window_minutes"])
    mine = OrderLine.__table__.alias("mine")
    # One query: this order's lines, each with the lowest and highest unit price other
    # residents paid for the same item within the window.
    other = (
        select(OrderLine.item_id, OrderLine.unit_price_fen)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.id != order_id,
            Order.user_id != head.user_id,
            Order.paid_at.is_not(None),
            Order.paid_at >= head.paid_at - window,
            Order.paid_at <= head.paid_at + window,
        )
        .subquery()
    )
    rows = (
        await session.execute(
            select(
                mine.c.item_id,
                mine.c.unit_price_fen,
                func.min(other.c.unit_price_fen),
                func.max(other.c.unit_price_fen),
            )
            .select_from(mine)
            .outerjoin(other, other.c.item_id == mine.c.item_id)
            .where(mine.c.order_id == order_id)
            .group_by(mine.c.id, mine.c.item_id, mine.c.unit_price_fen)
            .order_by(mine.c.id)
        )
    ).all()
    fired = False
    for item_id, own_price, other_low, other_high in rows:
        prices = [own_price, *(p for p in (other_low, other_high) if p is not None)]
        low, high = min(prices), max(prices)
        if low <= 0:
            continue
        difference = 100.0 * (high - low) / low
        if difference <= rule.params["min_difference_pct"]:
            continue
        # Firing (rare): the differing orders as evidence.
        differing = (
            await session.execute(
                select(OrderLine.order_id, OrderLine.unit_price_fen)
                .join(Order, Order.id == OrderLine.order_id)
                .where(
                    OrderLine.item_id == item_id,
                    OrderLine.unit_price_fen != own_price,
                    Order.id != order_id,
                    Order.user_id != head.user_id,
                    Order.paid_at.is_not(None),
                    Order.paid_at >= head.paid_at - window,
                    Order.paid_at <= head.paid_at + window,
                )
                .order_by(OrderLine.order_id)
                .limit(5)
            )
        ).all()
        await alert_service.raise_alert(
            session,
            rule,
            head.organisation_id,
            subject=f"item:{item_id}",
            summary=f"one item at {low}-{high} fen to different residents",
            inputs={
                "item_id": item_id,
                "low_fen": low,
                "high_fen": high,
                "difference_pct": round(difference, 2),
                "window_minutes": rule.params["window_minutes"],
            },
            evidence=[
                {"type": "order", "order_id": order_id, "unit_price_fen": own_price},
                *({"type": "order", "order_id": o, "unit_price_fen": p} for o, p in differing),
            ],
        )
        fired = True
    return fired


async def licence_lapsed(session: AsyncSession, organisation_id: int, today: date) -> bool:
    """Selling (an order paid, a price set, or an open campaign at the sweep) while a licence
    on file has lapsed beyond the grace days and no valid one of its type replaced it."""
    # One Core query, the latest expiry per licence type: nothing lapsed is the common case,
    # and then no rule is read.
    latest = (
        await session.execute(
            select(Licence.licence_type, func.max(Licence.valid_to))
            .where(Licence.organisation_id == organisation_id)
            .group_by(Licence.licence_type)
        )
    ).all()
    if all(valid_to is None or valid_to >= today for _, valid_to in latest):
        return False
    rule = await in_force(session, R.LICENCE_LAPSED, await _codes(session, organisation_id))
    grace = timedelta(days=rule.params["grace_days"])
    licences = (
        await session.scalars(select(Licence).where(Licence.organisation_id == organisation_id))
    ).all()
    valid_types = {lic.licence_type for lic in licences if lic.valid_from <= today <= lic.valid_to}
    lapsed = [
        lic
        for lic in licences
        if lic.licence_type not in valid_types and lic.valid_to + grace < today
    ]
    if not lapsed:
        return False
    worst = min(lapsed, key=lambda lic: lic.valid_to)
    await alert_service.raise_alert(
        session,
        rule,
        organisation_id,
        subject=f"licence:{worst.licence_type}",
        summary=f"{worst.licence_type} lapsed on {worst.valid_to.isoformat()}",
        inputs={
            "licence_type": worst.licence_type,
            "valid_to": worst.valid_to.isoformat(),
            "grace_days": rule.params["grace_days"],
            "today": today.isoformat(),
        },
        evidence=[{"type": "licence", "licence_id": lic.id} for lic in lapsed[:5]],
    )
    return True


async def merchants_selling(session: AsyncSession, now: datetime) -> list[int]:
    """Merchants with a paid order in the last day: who the daily sweep looks at."""
    rows = await session.scalars(
        select(func.distinct(Order.organisation_id)).where(
            Order.paid_at.is_not(None), Order.paid_at >= now - timedelta(days=1)
        )
    )
    return sorted(int(r) for r in rows.all())


async def recalls_overdue(session: AsyncSession, now: datetime) -> int:
    """Open recalls past their completion deadline, each counted once (the sweep)."""
    late = (
        await session.scalars(
            select(Recall).where(Recall.status == RECALL_OPEN, Recall.complete_by < now)
        )
    ).all()
    counted = 0
    for recall in late:
        ref = f"recall:{recall.id}"
        seen = await session.scalar(
            select(Signal.id).where(
                Signal.organisation_id == recall.organisation_id,
                Signal.kind == COUNTED[R.RECALL_OVERDUE],
                Signal.ref == ref,
            )
        )
        if seen is not None:
            continue
        await counted_fact(session, R.RECALL_OVERDUE, recall.organisation_id, ref)
        counted += 1
    return counted
