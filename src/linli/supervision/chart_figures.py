"""The numbers behind the regulator's charts (docs/supervision.md, "Charts"): alerts by rule
and day, the complaint-rate trend, and the Laspeyres price index of the authority's basket of
necessities with its emergency windows. Days are calendar days in Asia/Shanghai.

Scope: alerts are the authority's own (`regulator_organisation_id`); complaints, orders and
basket SKUs are those of the merchants registered in its jurisdiction (`trace.reach`), the
rule the inspection draw and the recall desk use. Rows are bucketed into days in Python, not
SQL: a Shanghai day boundary is written differently on SQLite and PostgreSQL, and a span is at
most `MAX_DAYS` of one authority's rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.authz import SUPERVISION_READ, Actor
from linli.catalog.models import PriceChange, Product, Sku
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import Alert, Signal
from linli.supervision.alert_service import regulator_of
from linli.supervision.basket_models import PriceBasket, PriceBasketItem
from linli.supervision.emergency_models import EmergencyDeclaration
from linli.supervision.rule_evaluation import COMPLAINT, ORDER_PAID
from linli.supervision.rule_service import in_force, organisation_codes
from linli.trace.reach import regulator_reach

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 366
DEFAULT_DAYS = 30
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# Days a chart may show (and a basket's base date): no price history is older, and the date
# arithmetic stays far from the calendar's ends.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


# --- days --------------------------------------------------------------------------------


def day_of(at: datetime) -> date:
    """The Shanghai calendar day of a UTC moment."""
    return at.astimezone(SHANGHAI).date()


def start_of(day: date) -> datetime:
    """The UTC moment a Shanghai day begins."""
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


def end_of(day: date) -> datetime:
    """The UTC moment a Shanghai day ends (the next one begins): prices in force just before
    it are the day's prices."""
    return start_of(day + timedelta(days=1))


def span(days: int, until: date | None = None) -> list[date]:
    """`days` consecutive days ending with `until` (default: today in Shanghai)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(
            N_("Choose between 1 and 366 days."), fields={"days": N_("Out of range.")}
        )
    last = until or day_of(clock.now())
    if not EARLIEST <= last <= LATEST:
        raise ValidationFailed(
            N_("Choose a day between 2000 and 2100."), fields={"until": N_("Out of range.")}
        )
    return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


# --- the index maths -----------------------------------------------------------------------


def laspeyres(
    quantities: Mapping[int, int], base: Mapping[int, int], current: Mapping[int, int]
) -> Decimal | None:
    """100 × Σ p_t·q_0 / Σ p_0·q_0 over the basket, rounded to 0.01; None when any SKU of the
    basket has no base or no current price (a fixed basket is compared whole or not at all)."""
    if not quantities or any(sku not in base or sku not in current for sku in quantities):
        return None
    cost_then = sum(base[sku] * q for sku, q in quantities.items())
    cost_now = sum(current[sku] * q for sku, q in quantities.items())
    if cost_then <= 0:
        return None
    return (Decimal(cost_now) * HUNDRED / Decimal(cost_then)).quantize(CENT, ROUND_HALF_UP)


def prices_at(
    history: Sequence[tuple[int, datetime, int]], moments: Sequence[datetime]
) -> list[dict[int, int]]:
    """For each moment (ascending), each SKU's price in force just before it: the newest
    history row (sku, changed_at, price) strictly earlier. `history` is sorted by time."""
    found: list[dict[int, int]] = []
    current: dict[int, int] = {}
    position = 0
    for moment in moments:
        while position < len(history) and history[position][1] < moment:
            sku, _at, price = history[position]
            current[sku] = price
            position += 1
        found.append(dict(current))
    return found


def rate_pct(complaints: int, orders: int) -> Decimal | None:
    if orders <= 0:
        return None
    return (Decimal(complaints) * HUNDRED / Decimal(orders)).quantize(CENT, ROUND_HALF_UP)


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertSeries:
    rule_id: str
    title: str  # a msgid (the built-in rule's title)
    counts: list[int]


@dataclass(frozen=True)
class AlertsByDay:
    days: list[date]
    series: list[AlertSeries]


@dataclass(frozen=True)
class ComplaintTrend:
    days: list[date]
    complaints: list[int]  # filed that day
    orders: list[int]  # paid that day
    rates: list[Decimal | None]  # complaints / paid orders over the trailing window, in %
    window_days: int
    threshold_pct: Decimal


@dataclass(frozen=True)
class Window:
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class BasketLine:
    sku_id: int
    product: str
    sku_code: str
    merchant: str
    quantity: int
    base_price_fen: int | None
    last_price_fen: int | None


@dataclass(frozen=True)
class PriceIndex:
    title: str
    base_date: date | None
    days: list[date]
    values: list[Decimal | None]
    in_emergency: list[bool]
    emergencies: list[Window]
    lines: list[BasketLine] = field(default_factory=list)


async def alerts_by_day(session: AsyncSession, actor: Actor, days: list[date]) -> AlertsByDay:
    """Alerts raised (first firing) per rule and day, the authority's own."""
    regulator_id = regulator_of(actor, SUPERVISION_READ)
    rows = await session.execute(
        select(Alert.rule_id, Alert.first_at).where(
            Alert.regulator_organisation_id == regulator_id,
            Alert.first_at >= start_of(days[0]),
            Alert.first_at < end_of(days[-1]),
        )
    )
    index = {day: n for n, day in enumerate(days)}
    counts: dict[str, list[int]] = {}
    for rule_id, first_at in rows.all():
        slot = index.get(day_of(first_at))
        if slot is not None:
            counts.setdefault(rule_id, [0] * len(days))[slot] += 1
    series = [
        AlertSeries(rule.rule_id, rule.title, counts[rule.rule_id])
        for rule in R.BUILT_INS
        if rule.rule_id in counts
    ]
    series += [
        AlertSeries(rule_id, rule_id, values)
        for rule_id, values in sorted(counts.items())
        if rule_id not in R.BY_ID
    ]
    return AlertsByDay(days, series)


async def complaint_trend(session: AsyncSession, actor: Actor, days: list[date]) -> ComplaintTrend:
    """Complaints over paid orders of the merchants in the jurisdiction, each day over the
    trailing window and against the threshold of the complaint-rate rule in force for the
    authority's jurisdiction."""
    regulator_id = regulator_of(actor, SUPERVISION_READ)
    regulator = await session.get(Organisation, regulator_id)
    rule = await in_force(session, R.COMPLAINT_RATE, organisation_codes(regulator))
    window = int(rule.params["window_days"])
    reach = await regulator_reach(session, actor)
    first = days[0] - timedelta(days=window - 1)
    rows = await session.execute(
        select(Signal.kind, Signal.at).where(
            reach.covers(Signal.organisation_id),
            Signal.kind.in_((COMPLAINT, ORDER_PAID)),
            Signal.at >= start_of(first),
            Signal.at < end_of(days[-1]),
        )
    )
    every_day = [first + timedelta(days=n) for n in range((days[-1] - first).days + 1)]
    index = {day: n for n, day in enumerate(every_day)}
    complaints = [0] * len(every_day)
    orders = [0] * len(every_day)
    for kind, at in rows.all():
        slot = index.get(day_of(at))
        if slot is not None:
            (complaints if kind == COMPLAINT else orders)[slot] += 1
    shown = len(every_day) - len(days)
    rates = [
        rate_pct(sum(complaints[n - window + 1 : n + 1]), sum(orders[n - window + 1 : n + 1]))
        for n in range(shown, len(every_day))
    ]
    return ComplaintTrend(
        days=days,
        complaints=complaints[shown:],
        orders=orders[shown:],
        rates=rates,
        window_days=window,
        threshold_pct=Decimal(str(rule.params["max_rate_pct"])).quantize(CENT, ROUND_HALF_UP),
    )


async def emergencies_of(
    session: AsyncSession, regulator_id: int, first: datetime, last: datetime
) -> list[Window]:
    rows = await session.scalars(
        select(EmergencyDeclaration)
        .where(
            EmergencyDeclaration.regulator_organisation_id == regulator_id,
            EmergencyDeclaration.starts_at < last,
            EmergencyDeclaration.ends_at > first,
        )
        .order_by(EmergencyDeclaration.starts_at, EmergencyDeclaration.id)
    )
    return [Window(d.id, d.title, d.starts_at, d.ends_at) for d in rows.all()]


async def basket_of(session: AsyncSession, regulator_id: int) -> PriceBasket | None:
    return await session.scalar(
        select(PriceBasket).where(PriceBasket.regulator_organisation_id == regulator_id)
    )


async def price_index(session: AsyncSession, actor: Actor, days: list[date]) -> PriceIndex:
    """The basket's Laspeyres index for each day (prices in force at the day's end) against the
    base date, with the authority's emergency declarations marked."""
    regulator_id = regulator_of(actor, SUPERVISION_READ)
    windows = await emergencies_of(session, regulator_id, start_of(days[0]), end_of(days[-1]))
    in_emergency = [
        any(w.starts_at < end_of(day) and w.ends_at > start_of(day) for w in windows)
        for day in days
    ]
    basket = await basket_of(session, regulator_id)
    if basket is None:
        return PriceIndex("", None, days, [None] * len(days), in_emergency, windows)
    reach = await regulator_reach(session, actor)
    items = (
        await session.execute(
            select(PriceBasketItem.sku_id, PriceBasketItem.quantity, Sku.code, Product.name)
            .join(Sku, Sku.id == PriceBasketItem.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(PriceBasketItem.basket_id == basket.id)
            .order_by(PriceBasketItem.id)
        )
    ).all()
    # Only SKUs still in the jurisdiction count (a merchant may have moved away since).
    merchants = dict(
        (
            await session.execute(
                select(Sku.id, Organisation.name)
                .join(Product, Product.id == Sku.product_id)
                .join(Organisation, Organisation.id == Product.organisation_id)
                .where(
                    Sku.id.in_([i.sku_id for i in items]),
                    reach.covers(Product.organisation_id),
                )
            )
        ).all()
    )
    quantities = {i.sku_id: i.quantity for i in items if i.sku_id in merchants}
    history = [
        (r.sku_id, r.changed_at, r.new_price_fen)
        for r in (
            await session.execute(
                select(PriceChange.sku_id, PriceChange.changed_at, PriceChange.new_price_fen)
                .where(
                    PriceChange.sku_id.in_(list(quantities)),
                    PriceChange.changed_at < end_of(max(days[-1], basket.base_date)),
                )
                .order_by(PriceChange.changed_at, PriceChange.id)
            )
        ).all()
    ]
    (base,) = prices_at(history, [end_of(basket.base_date)])
    daily = prices_at(history, [end_of(day) for day in days])
    lines = [
        BasketLine(
            sku_id=i.sku_id,
            product=i.name,
            sku_code=i.code,
            merchant=merchants.get(i.sku_id, ""),
            quantity=i.quantity,
            base_price_fen=base.get(i.sku_id),
            last_price_fen=daily[-1].get(i.sku_id),
        )
        for i in items
        if i.sku_id in quantities
    ]
    return PriceIndex(
        title=basket.title,
        base_date=basket.base_date,
        days=days,
        values=[laspeyres(quantities, base, prices) for prices in daily],
        in_emergency=in_emergency,
        emergencies=windows,
        lines=lines,
    )
