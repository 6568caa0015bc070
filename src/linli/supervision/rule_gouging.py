"""Price gouging during an emergency declaration (supervision.price_gouging), on every
`PriceChanged`: a price in a declaration's categories and region above its pre-emergency
reference by more than the threshold (or, without a reference, above the SKU's first price in
the emergency by more than the lower threshold).

Every price event runs this, so (docs/supervision.md, "Cost"): the declarations not yet ended
are cached like rule versions (a declaration clears this process's cache at once); the SKU
with its merchant's region and category, and the SKU's reference, first and current prices,
are two statements built once at import; the alerts of the subject are read once for both the
"already judged" check and the merge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BindParameter, Select, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.catalog.models import PriceChange, Product, Sku
from linli.categories.models import Category
from linli.db import UTCDateTime
from linli.supervision import alert_service
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import OPEN
from linli.supervision.emergency_models import EmergencyDeclaration
from linli.supervision.rule_service import NATIONAL, cache_space, cached, in_force, keep

REFERENCE, FIRST, CURRENT = "reference", "first", "current"


@dataclass(frozen=True)
class Declaration:
    id: int
    region_code: str
    categories: frozenset[str]
    starts_at: datetime
    ends_at: datetime
    reference_at: datetime


async def declarations_in_force(session: AsyncSession, at: datetime) -> list[Declaration]:
    """Declarations are few (a handful a year): all of them are kept, filtered by time here."""
    space = cache_space(session, "declarations")
    hit, value = cached(space, "all")
    if hit:
        found = cast(list[Declaration], value)
    else:
        rows = await session.scalars(select(EmergencyDeclaration))
        found = [
            Declaration(
                d.id, d.region_code, frozenset(d.categories), d.starts_at, d.ends_at, d.reference_at
            )
            for d in rows.all()
        ]
        keep(space, "all", found)
    return [d for d in found if d.starts_at <= at < d.ends_at]


def _region_prefix(code: str) -> str:
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _sku_statement() -> Select[Any]:
    skus, products, organisations = Sku.__table__, Product.__table__, Organisation.__table__
    category, parent = Category.__table__.alias("category"), Category.__table__.alias("parent")
    return (
        select(
            skus.c.code,
            products.c.name,
            products.c.organisation_id,
            organisations.c.district_code,
            organisations.c.city_code,
            organisations.c.province_code,
            category.c.code,
            parent.c.code,
        )
        .select_from(
            skus.join(products, products.c.id == skus.c.product_id)
            .join(organisations, organisations.c.id == products.c.organisation_id)
            .join(category, category.c.id == products.c.category_id)
            .outerjoin(parent, parent.c.id == category.c.parent_id)
        )
        .where(skus.c.id == bindparam("sku_id"))
    )


def _prices_statement() -> Select[Any]:
    """The price in force at the reference moment, the first price after it, and the price in
    force now: up to three rows, each labelled."""
    prices = PriceChange.__table__
    sku_id: BindParameter[int] = bindparam("sku_id")
    columns = (
        prices.c.id,
        prices.c.sku_id,
        prices.c.old_price_fen,
        prices.c.new_price_fen,
        prices.c.changed_at,
    )

    def one(role: str, where: Any, *order: Any) -> Select[Any]:
        return (
            select(literal(role).label("role"), *columns)
            .where(prices.c.sku_id == sku_id, where)
            .order_by(*order)
            .limit(1)
        )

    reference_at = bindparam("reference_at", type_=UTCDateTime)
    now = bindparam("now", type_=UTCDateTime)
    parts = [
        one(
            REFERENCE,
            prices.c.changed_at <= reference_at,
            prices.c.changed_at.desc(),
            prices.c.id.desc(),
        ),
        one(FIRST, prices.c.changed_at >= reference_at, prices.c.changed_at, prices.c.id),
        one(CURRENT, prices.c.changed_at <= now, prices.c.changed_at.desc(), prices.c.id.desc()),
    ]
    merged = union_all(*(p.subquery().select() for p in parts)).subquery()
    return select(merged)


_SKU = _sku_statement()
_PRICES = _prices_statement()


def _price_row(row: Any, role: str) -> dict[str, object]:
    return {
        "type": "price",
        "role": role,
        "price_change_id": row.id,
        "sku_id": row.sku_id,
        "old_price_fen": row.old_price_fen,
        "new_price_fen": row.new_price_fen,
        "changed_at": row.changed_at.isoformat(),
    }


async def price_gouging(session: AsyncSession, sku_id: int, new_price_fen: int) -> bool:
    now = clock.now()
    active = await declarations_in_force(session, now)
    if not active:  # the common case: no declaration in force, no query at all
        return False
    connection = await session.connection()  # Core statements: no ORM execution work
    found = (await connection.execute(_SKU, {"sku_id": sku_id})).first()
    if found is None:
        return False
    sku_code, product_name, merchant_id, district, city, province, category, parent = found
    own = district or city or province
    categories = {category, *([parent] if parent else [])}
    covering = [
        d
        for d in active
        if own and str(own).startswith(_region_prefix(d.region_code)) and d.categories & categories
    ]
    if not covering:
        return False
    codes = (*dict.fromkeys(c for c in (district, city, province) if c), NATIONAL)
    rule = await in_force(session, R.PRICE_GOUGING, codes)
    fired = False
    for declaration in covering:
        rows = (
            await connection.execute(
                _PRICES,
                {"sku_id": sku_id, "reference_at": declaration.reference_at, "now": now},
            )
        ).all()
        by_role = {row.role: row for row in rows}
        reference = by_role.get(REFERENCE)
        if reference is not None:
            threshold = float(rule.params["threshold_pct"])
            basis = "pre_emergency_price"
        else:
            reference = by_role.get(FIRST)
            if reference is None:
                continue
            threshold = float(rule.params["no_reference_pct"])
            basis = "first_price_in_emergency"
        base = reference.new_price_fen
        if base <= 0:
            continue
        rise = 100.0 * (new_price_fen - base) / base
        if rise <= threshold:
            continue
        latest = by_role.get(CURRENT)
        subject = f"sku:{sku_id}:emergency:{declaration.id}"
        alerts = await alert_service.alerts_of_subject(session, rule.rule_id, merchant_id, subject)
        if latest is not None and any(
            isinstance(item, dict) and item.get("price_change_id") == latest.id
            for alert in alerts
            for item in alert.evidence
        ):
            continue  # this price was already judged (an event delivered again, or late)
        summary = f"{product_name} {sku_code}: +{rise:.1f} % over {base} fen ({basis})"
        inputs = {
            "emergency_id": declaration.id,
            "sku_id": sku_id,
            "reference_fen": base,
            "reference_basis": basis,
            "base": rule.params.get("base", "sale_price"),
            "price_fen": new_price_fen,
            "rise_pct": round(rise, 2),
            "threshold_pct": threshold,
        }
        evidence = [
            _price_row(reference, "reference"),
            *([_price_row(latest, "current")] if latest is not None else []),
        ]
        open_alert = next((a for a in alerts if a.status == OPEN), None)
        if open_alert is not None:
            await alert_service.merge(
                session,
                open_alert.id,
                list(open_alert.evidence),
                rule,
                summary=summary,
                inputs=inputs,
                evidence=evidence,
            )
        else:
            await alert_service.raise_alert(
                session,
                rule,
                merchant_id,
                subject=subject,
                summary=summary,
                inputs=inputs,
                evidence=evidence,
                open_alert=None,
            )
        fired = True
    return fired
