"""An authority's basket of necessities (the price index's fixed basket): read by its
regulators, replaced whole by a supervisor, audited with the old and new contents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import SUPERVISION_MANAGE, Actor
from linli.catalog.models import PriceChange, Product, Sku
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.supervision.alert_service import regulator_of
from linli.supervision.basket_models import PriceBasket, PriceBasketItem
from linli.supervision.chart_figures import EARLIEST, basket_of, day_of, end_of
from linli.trace.reach import regulator_reach

MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class BasketEntry:
    sku_id: int
    quantity: int


async def entries(session: AsyncSession, basket: PriceBasket) -> list[BasketEntry]:
    rows = await session.execute(
        select(PriceBasketItem.sku_id, PriceBasketItem.quantity)
        .where(PriceBasketItem.basket_id == basket.id)
        .order_by(PriceBasketItem.id)
    )
    return [BasketEntry(int(sku), int(q)) for sku, q in rows.all()]


def _refuse(field: str, message: str, problem: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: problem})


async def _first_basket(
    session: AsyncSession, regulator_id: int, title: str, base_date: date
) -> PriceBasket:
    """The authority's basket row, made now; two first saves at once meet the unique
    constraint, and the later one then edits the row the earlier one made."""
    try:
        async with session.begin_nested():
            basket = PriceBasket(
                regulator_organisation_id=regulator_id,
                title=title[:120],
                base_date=base_date,
                updated_at=clock.now(),
            )
            session.add(basket)
            await session.flush()
        return basket
    except IntegrityError:
        made = await basket_of(session, regulator_id)
        assert made is not None
        return made


async def save(
    session: AsyncSession,
    actor: Actor,
    *,
    title: str,
    base_date: date,
    items: list[BasketEntry],
) -> PriceBasket:
    """Replace the authority's basket. Every SKU must be sold by a merchant in the
    jurisdiction (others are answered as unknown: their existence is not revealed) and have a
    price at the end of the base date, which is not in the future."""
    regulator_id = regulator_of(actor, SUPERVISION_MANAGE)
    title = title.strip()
    if not title:
        raise _refuse("title", N_("Give the basket a title."), N_("Required."))
    if base_date < EARLIEST:
        raise _refuse("base_date", N_("Choose a day between 2000 and 2100."), N_("Out of range."))
    if base_date > day_of(clock.now()):
        raise _refuse("base_date", N_("The base date cannot be in the future."), N_("Future."))
    if not 1 <= len(items) <= MAX_ITEMS:
        raise _refuse("items", N_("A basket holds 1 to 100 SKUs."), N_("Out of range."))
    seen: set[int] = set()
    for n, item in enumerate(items):
        if item.sku_id in seen:
            raise _refuse(f"items.{n}.sku_id", N_("Each SKU once."), N_("Repeated."))
        seen.add(item.sku_id)
        if not 1 <= item.quantity <= MAX_QUANTITY:
            raise _refuse(
                f"items.{n}.quantity",
                N_("A quantity is between 1 and 1,000,000."),
                N_("Out of range."),
            )
    reach = await regulator_reach(session, actor)
    known = set(
        (
            await session.scalars(
                select(Sku.id)
                .join(Product, Product.id == Sku.product_id)
                .where(Sku.id.in_(seen), reach.covers(Product.organisation_id))
            )
        ).all()
    )
    priced = set(
        (
            await session.scalars(
                select(PriceChange.sku_id).where(
                    PriceChange.sku_id.in_(known), PriceChange.changed_at < end_of(base_date)
                )
            )
        ).all()
    )
    for n, item in enumerate(items):
        if item.sku_id not in known:
            raise _refuse(
                f"items.{n}.sku_id",
                N_("No such SKU in your jurisdiction."),
                N_("Unknown."),
            )
        if item.sku_id not in priced:
            raise _refuse(
                f"items.{n}.sku_id",
                N_("This SKU had no price on the base date."),
                N_("No base price."),
            )

    basket = await basket_of(session, regulator_id)
    before = None
    if basket is None:
        basket = await _first_basket(session, regulator_id, title, base_date)
    else:
        before = {
            "title": basket.title,
            "base_date": basket.base_date.isoformat(),
            "items": [[e.sku_id, e.quantity] for e in await entries(session, basket)],
        }
    basket.title = title[:120]
    basket.base_date = base_date
    basket.updated_by_user_id = actor.user_id
    basket.updated_at = clock.now()
    await session.flush()
    await session.execute(delete(PriceBasketItem).where(PriceBasketItem.basket_id == basket.id))
    session.add_all(
        PriceBasketItem(basket_id=basket.id, sku_id=i.sku_id, quantity=i.quantity) for i in items
    )
    await session.flush()
    audit.record(
        session,
        actor,
        "supervision.basket_saved",
        target_type="supervision_price_basket",
        target_id=basket.id,
        before=before,
        after={
            "title": basket.title,
            "base_date": base_date.isoformat(),
            "items": [[i.sku_id, i.quantity] for i in items],
        },
    )
    return basket
