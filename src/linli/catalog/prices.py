"""SKU prices and their history. Every price a SKU gets is written to `price_changes` by
`record_price`, the only place that writes it (with who, when and how: `PRICE_SOURCES`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import CATALOG_MANAGE, Actor
from linli.catalog import policies
from linli.catalog.models import PriceChange, Sku
from linli.catalog.schemas import MAX_PRICE_FEN
from linli.errors import NotFound, ValidationFailed
from linli.events import PriceChanged
from linli.i18n import N_

PRICE_SOURCES = ("create", "edit", "api")


async def price_history(session: AsyncSession, actor: Actor, sku_id: int) -> Sequence[PriceChange]:
    owned = policies.own_skus(actor).with_only_columns(Sku.id).where(Sku.id == sku_id)
    if await session.scalar(owned) is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    return (
        await session.scalars(
            select(PriceChange)
            .where(PriceChange.sku_id == sku_id)
            .order_by(PriceChange.changed_at, PriceChange.id)
        )
    ).all()


async def product_price_history(
    session: AsyncSession, actor: Actor, product_id: int
) -> dict[int, list[PriceChange]]:
    """The price history of each SKU of one of the actor's products, newest first."""
    owned = policies.own_skus(actor).with_only_columns(Sku.id).where(Sku.product_id == product_id)
    history: dict[int, list[PriceChange]] = {}
    for row in await session.scalars(
        select(PriceChange)
        .where(PriceChange.sku_id.in_(owned))
        .order_by(PriceChange.changed_at.desc(), PriceChange.id.desc())
    ):
        history.setdefault(row.sku_id, []).append(row)
    return history


async def access_sku(session: AsyncSession, actor: Actor, sku_id: int, *, lock: bool) -> Sku:
    query = policies.own_skus(actor, CATALOG_MANAGE).where(Sku.id == sku_id)
    if lock:
        query = query.with_for_update()
    sku = await session.scalar(query.execution_options(populate_existing=True))
    if sku is None:
        raise NotFound(N_("No such SKU in your catalogue."))
    return sku


def check_price(price_fen: int, field_name: str = "price_fen") -> None:
    """The schemas bound prices already; services called from elsewhere get the same rule."""
    if not 1 <= price_fen <= MAX_PRICE_FEN:
        raise ValidationFailed(
            N_("Enter a price between ¥0.01 and ¥10,000,000."),
            fields={field_name: N_("Out of range.")},
        )


def record_price(
    session: AsyncSession, actor: Actor, sku: Sku, old: int | None, source: str
) -> None:
    """The one place that writes price history: every price a SKU gets, by whom, how."""
    if source not in PRICE_SOURCES:
        raise ValueError(f"unknown price source {source!r}")
    session.add(
        PriceChange(
            sku_id=sku.id,
            old_price_fen=old,
            new_price_fen=sku.price_fen,
            changed_at=clock.now(),
            user_id=actor.user_id,
            organisation_id=actor.organisation_id,
            source=source,
        )
    )
    outbox.publish(
        session,
        PriceChanged(
            sku_id=sku.id,
            product_id=sku.product_id,
            organisation_id=actor.organisation_id,
            old_price_fen=old,
            new_price_fen=sku.price_fen,
            source=source,
            user_id=actor.user_id,
        ),
    )


async def change_price(
    session: AsyncSession, actor: Actor, sku_id: int, price_fen: int, *, source: str
) -> Sku:
    """Set a SKU's price; the change goes to the price history with who, when and how.

    `source` says which way it came: "edit" (the console), "api" (an integration).
    """
    if source not in ("edit", "api"):
        raise ValueError(f"price changes come from 'edit' or 'api', not {source!r}")
    check_price(price_fen)
    sku = await access_sku(session, actor, sku_id, lock=True)  # two changes queue, none is lost
    old = sku.price_fen
    if old == price_fen:
        return sku
    sku.price_fen = price_fen
    record_price(session, actor, sku, old, source)
    audit.record(
        session,
        actor,
        "catalog.price_changed",
        target_type="sku",
        target_id=sku.id,
        product_id=sku.product_id,
        old_price_fen=old,
        new_price_fen=price_fen,
        source=source,
    )
    await session.flush()
    return sku
