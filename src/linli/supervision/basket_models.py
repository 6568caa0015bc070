"""The basket of necessities behind an authority's price index (docs/supervision.md, "Charts").

One basket per regulator: a base date and a fixed list of SKUs with their base quantities.
The index is Laspeyres: the basket's cost at each day's prices over its cost at the base
date's prices, both read from the catalogue's price history. Replacing the basket is audited
(`supervision.basket_saved`, with the old and the new contents)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime


class PriceBasket(Base):
    __tablename__ = "supervision_price_baskets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    regulator_organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(String(120))
    base_date: Mapped[date]  # a day in Asia/Shanghai: prices in force at its end are the base
    updated_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PriceBasketItem(Base):
    __tablename__ = "supervision_price_basket_items"
    __table_args__ = (
        UniqueConstraint("basket_id", "sku_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    basket_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_price_baskets.id", ondelete="CASCADE"), index=True
    )
    # A SKU removed from the catalogue leaves the basket with it (its history goes too).
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    quantity: Mapped[int]  # the base quantity q0 (units of the SKU)
