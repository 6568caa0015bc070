"""Products, SKUs, images and the append-only price history (categories: linli.categories)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime

STORAGE_CLASSES = ("ambient", "chilled", "frozen")


class ProductStatus(StrEnum):
    DRAFT = "draft"
    LISTED = "listed"
    DELISTED = "delisted"


PRODUCT_STATUSES = tuple(ProductStatus)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("storage_class IN ('ambient', 'chilled', 'frozen')", name="storage"),
        CheckConstraint("status IN ('draft', 'listed', 'delisted')", name="status"),
        Index("ix_products_org_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(20))
    shelf_life_days: Mapped[int | None]
    storage_class: Mapped[str] = mapped_column(String(10), default="ambient")
    origin: Mapped[str] = mapped_column(String(120), default="")
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    status: Mapped[str] = mapped_column(String(10), default=ProductStatus.DRAFT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Sku(Base):
    """A sellable variant. Stock only ever changes through a conditional UPDATE."""

    __tablename__ = "skus"
    __table_args__ = (
        UniqueConstraint("product_id", "code"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen > 0", name="price_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    specs: Mapped[dict[str, Any]] = mapped_column(JSONData)
    price_fen: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProductImage(Base):
    __tablename__ = "product_images"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    thumbnail_file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    position: Mapped[int] = mapped_column(default=0)


class PriceChange(Base):
    """Every price a SKU ever had, who set it and when (supervision reads this)."""

    __tablename__ = "price_changes"
    __table_args__ = (Index("ix_price_changes_sku_at", "sku_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    old_price_fen: Mapped[int | None]
    new_price_fen: Mapped[int]
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(20))  # create | edit | api | import
