"""Price gouging during an emergency declaration (supervision.price_gouging), on every
`PriceChanged`: a price in a declaration's categories and region above its pre-emergency
reference by more than the threshold (or, without a reference, above the SKU's first price in
the emergency by more than the lower threshold).

Every price event runs this, so (docs/supervision.md, "Cost"): the declarations not yet ended
are cached like rule versions (a declaration clears this process's cache at once); the SKU with
its merchant's region and category, its reference, first and current prices and the alerts of
the subject (for the "already judged" check and the merge) are one statement built once at
import; a merge is one prebuilt UPDATE; a first firing writes its alert, audit entry and event
as three Core INSERTs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    String,
    bindparam,
    literal,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.catalog.models import PriceChange, Product, Sku
from linli.categories.models import Category
from linli.db import UTCDateTime
from linli.supervision import alert_service
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import OPEN, Alert
from linli.supervision.emergency_models import EmergencyDeclaration
from linli.supervision.rule_service import (
    NATIONAL,
    RuleInForce,
    cache_space,
    cached,
    in_force,
    keep,
)

REFERENCE, FIRST, CURRENT, ALERT = "reference", "first", "current", "alert"


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


def _judge_statement() -> Select[Any]:
    """Everything one price event is judged on, in one round trip: the SKU's code, product
    name, merchant, the merchant's region codes and the category with its parent (the first
    eight columns of every row), each joined to up to three prices (`role`: the price in force
    at the reference moment, the first price after it, the price in force now) and to the
    alerts of this rule on the SKU in the declaration (`role` "alert": id, status, evidence).
    No row: no such SKU."""
    skus, products, organisations = Sku.__table__, Product.__table__, Organisation.__table__
    prices = PriceChange.__table__
    category, parent = Category.__table__.alias("category"), Category.__table__.alias("parent")
    sku_id: BindParameter[int] = bindparam("sku_id")
    reference_at = bindparam("reference_at", type_=UTCDateTime)
    now = bindparam("now", type_=UTCDateTime)
    facts = (
        select(
            skus.c.code.label("sku_code"),
            products.c.name.label("product_name"),
            products.c.organisation_id.label("merchant_id"),
            organisations.c.district_code,
            organisations.c.city_code,
            organisations.c.province_code,
            category.c.code.label("category"),
            parent.c.code.label("parent_category"),
        )
        .select_from(
            skus.join(products, products.c.id == skus.c.product_id)
            .join(organisations, organisations.c.id == products.c.organisation_id)
            .join(category, category.c.id == products.c.category_id)
            .outerjoin(parent, parent.c.id == category.c.parent_id)
        )
        .where(skus.c.id == sku_id)
        .subquery("facts")
    )
    evidence_type = Alert.__table__.c.evidence.type

    def price(role: str, where: Any, *order: Any) -> Select[Any]:
        return (
            select(
                literal(role).label("role"),
                prices.c.id,
                prices.c.old_price_fen,
                prices.c.new_price_fen,
                prices.c.changed_at,
                sa.cast(null(), String).label("status"),
                sa.cast(null(), evidence_type).label("evidence"),
            )
            .where(prices.c.sku_id == sku_id, where)
            .order_by(*order)
            .limit(1)
        )

    merchant = (
        select(products.c.organisation_id)
        .join(skus, skus.c.product_id == products.c.id)
        .where(skus.c.id == sku_id)
        .scalar_subquery()
    )
    alerts = alert_service.subject_alerts(
        alert_service.dedupe_key_of(R.PRICE_GOUGING, merchant, bindparam("subject"))
    ).subquery()
    parts = [
        price(
            REFERENCE,
            prices.c.changed_at <= reference_at,
            prices.c.changed_at.desc(),
            prices.c.id.desc(),
        ),
        price(FIRST, prices.c.changed_at >= reference_at, prices.c.changed_at, prices.c.id),
        price(CURRENT, prices.c.changed_at <= now, prices.c.changed_at.desc(), prices.c.id.desc()),
        select(
            literal(ALERT).label("role"),
            alerts.c.id,
            sa.cast(null(), Integer).label("old_price_fen"),
            sa.cast(null(), Integer).label("new_price_fen"),
            sa.cast(null(), UTCDateTime).label("changed_at"),
            alerts.c.status,
            alerts.c.evidence,
        ),
    ]
    rows = union_all(*(p.subquery().select() for p in parts)).subquery("judged")
    return select(facts, rows).select_from(facts.outerjoin(rows, true()))


_JUDGE = _judge_statement()


async def _judged(
    connection: AsyncConnection, sku_id: int, declaration: Declaration, now: datetime
) -> list[Any]:
    params = {
        "sku_id": sku_id,
        "reference_at": declaration.reference_at,
        "now": now,
        "subject": _subject(sku_id, declaration),
    }
    return list((await connection.execute(_JUDGE, params)).all())


def _subject(sku_id: int, declaration: Declaration) -> str:
    return f"sku:{sku_id}:emergency:{declaration.id}"


def _price_row(row: Any, role: str, sku_id: int) -> dict[str, object]:
    return {
        "type": "price",
        "role": role,
        "price_change_id": row.id,
        "sku_id": sku_id,
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
    # Judged against the first declaration in force (most often the only one); another
    # covering declaration reads its own prices and alerts below.
    first = await _judged(connection, sku_id, active[0], now)
    if not first:
        return False
    facts = first[0]
    own = facts.district_code or facts.city_code or facts.province_code
    categories = {facts.category, *([facts.parent_category] if facts.parent_category else [])}
    covering = [
        d
        for d in active
        if own and str(own).startswith(_region_prefix(d.region_code)) and d.categories & categories
    ]
    if not covering:
        return False
    codes = (
        *dict.fromkeys(c for c in (facts.district_code, facts.city_code, facts.province_code) if c),
        NATIONAL,
    )
    rule = await in_force(session, R.PRICE_GOUGING, codes)
    fired = False
    for declaration in covering:
        rows = (
            first
            if declaration is active[0]
            else await _judged(connection, sku_id, declaration, now)
        )
        if await _judge(session, rule, facts, rows, declaration, sku_id, new_price_fen):
            fired = True
    return fired


async def _judge(
    session: AsyncSession,
    rule: RuleInForce,
    facts: Any,
    rows: list[Any],
    declaration: Declaration,
    sku_id: int,
    new_price_fen: int,
) -> bool:
    """Fire (raise or merge) if the new price rises above the declaration's threshold and this
    price was not judged already."""
    by_role = {row.role: row for row in rows if row.role in (REFERENCE, FIRST, CURRENT)}
    alerts = [row for row in rows if row.role == ALERT]
    reference = by_role.get(REFERENCE)
    if reference is not None:
        threshold = float(rule.params["threshold_pct"])
        basis = "pre_emergency_price"
    else:
        reference = by_role.get(FIRST)
        if reference is None:
            return False
        threshold = float(rule.params["no_reference_pct"])
        basis = "first_price_in_emergency"
    base = reference.new_price_fen
    if base <= 0:
        return False
    rise = 100.0 * (new_price_fen - base) / base
    if rise <= threshold:
        return False
    latest = by_role.get(CURRENT)
    if latest is not None and any(
        isinstance(item, dict) and item.get("price_change_id") == latest.id
        for alert in alerts
        for item in alert.evidence
    ):
        return False  # this price was already judged (an event delivered again, or late)
    summary = f"{facts.product_name} {facts.sku_code}: +{rise:.1f} % over {base} fen ({basis})"
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
        _price_row(reference, "reference", sku_id),
        *([_price_row(latest, "current", sku_id)] if latest is not None else []),
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
            facts.merchant_id,
            subject=_subject(sku_id, declaration),
            summary=summary,
            inputs=inputs,
            evidence=evidence,
            open_alert=None,
        )
    return True
