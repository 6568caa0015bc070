"""Group-buying campaigns, their items (stock allocated from a SKU), orders and order lines.

Stock moves only by conditional UPDATE: `skus.stock` -> `remaining` at publish, `remaining`
down at checkout and back up when an unpaid order is cancelled. A resident's per-item limit is
a counter moved the same way (`groupbuy_resident_quotas`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime

DRAFT, PUBLISHED, CLOSED, CANCELLED = "draft", "published", "closed", "cancelled"
CAMPAIGN_STATUSES = (DRAFT, PUBLISHED, CLOSED, CANCELLED)
PENDING_PAYMENT, PAID = "pending_payment", "paid"
ORDER_STATUSES = (PENDING_PAYMENT, PAID, CANCELLED)
# Orders that count against a resident's per-item limit.
HOLDING = (PENDING_PAYMENT, PAID)


class Campaign(Base):
    """A merchant's group purchase: ordering window, pickup day, and the rules it was offered
    under (recorded at publication: what residents are shown is what checkout applies)."""

    __tablename__ = "groupbuy_campaigns"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'closed', 'cancelled')", name="status"),
        CheckConstraint("opens_at < cutoff_at", name="window"),
        Index("ix_groupbuy_campaigns_status_cutoff", "status", "cutoff_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime)
    pickup_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=DRAFT)
    return_rule_id: Mapped[str | None] = mapped_column(String(80))
    return_rule_version: Mapped[int | None]
    return_days: Mapped[int | None]
    payment_rule_version: Mapped[int | None]
    payment_window_minutes: Mapped[int | None]
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignItem(Base):
    """One SKU in a campaign. `stock` is what was allocated, `remaining` what is unreserved."""

    __tablename__ = "groupbuy_campaign_items"
    __table_args__ = (
        UniqueConstraint("campaign_id", "sku_id"),
        CheckConstraint("group_price_fen > 0", name="price_positive"),
        CheckConstraint("per_resident_limit >= 1", name="limit_positive"),
        CheckConstraint("min_group_qty >= 1", name="threshold_positive"),
        CheckConstraint("stock >= 1", name="stock_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= stock", name="remaining_in_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_campaigns.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    product_name: Mapped[str] = mapped_column(String(120))
    sku_code: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(20))
    list_price_fen: Mapped[int]
    group_price_fen: Mapped[int]
    per_resident_limit: Mapped[int]
    stock: Mapped[int]
    remaining: Mapped[int] = mapped_column(default=0)
    min_group_qty: Mapped[int]
    storage_class: Mapped[str] = mapped_column(String(10))
    # Set at publication from the no-reason-return rule: why the item is excluded (e.g.
    # "storage:chilled", "category:fresh_food"), or None when the 7-day return applies.
    return_exclusion: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    """A resident's order in one campaign. A resident may hold several (unpaid ones expire);
    what they hold of each item is bounded by `ResidentQuota`."""

    __tablename__ = "groupbuy_orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint("status IN ('pending_payment', 'paid', 'cancelled')", name="status"),
        CheckConstraint("total_fen > 0", name="total_positive"),
        Index("ix_groupbuy_orders_campaign_status", "campaign_id", "status"),
        Index("ix_groupbuy_orders_org_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_campaigns.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING_PAYMENT)
    total_fen: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(String(64))
    return_rule_id: Mapped[str] = mapped_column(String(80))
    return_rule_version: Mapped[int]
    return_terms_accepted: Mapped[bool] = mapped_column(Boolean)
    payment_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(30))


class OrderLine(Base):
    __tablename__ = "groupbuy_order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "item_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_orders.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_campaign_items.id"), index=True)
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]
    # True: excluded from the 7-day no-reason return (the resident confirmed at checkout).
    no_reason_return_excluded: Mapped[bool] = mapped_column(Boolean)


class ResidentQuota(Base):
    """How many units of a campaign item a resident holds in unpaid and paid orders.

    Checkout takes units by one conditional upsert per line (`quantity + n <= limit`, on
    PostgreSQL and SQLite alike), so concurrent orders of one resident never exceed the
    per-resident limit; an expired (or otherwise released) order gives its units back.
    """

    __tablename__ = "groupbuy_resident_quotas"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_campaign_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    quantity: Mapped[int]
