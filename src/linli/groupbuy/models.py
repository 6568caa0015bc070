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
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime
from linli.groupbuy.states import CampaignStatus, DeliveryStatus, OrderStatus

# The enumerations' members under the short names the group-buying code uses.
DRAFT, PUBLISHED, CLOSED = CampaignStatus.DRAFT, CampaignStatus.PUBLISHED, CampaignStatus.CLOSED
CANCELLED = CampaignStatus.CANCELLED  # the same word for campaigns and orders
CAMPAIGN_STATUSES = tuple(CampaignStatus)
PENDING_PAYMENT, PAID = OrderStatus.PENDING_PAYMENT, OrderStatus.PAID
CONFIRMED, READY, PARTIAL, PICKED_UP, UNCOLLECTED = (
    OrderStatus.CONFIRMED,
    OrderStatus.READY,
    OrderStatus.PARTIAL,
    OrderStatus.PICKED_UP,
    OrderStatus.UNCOLLECTED,
)
# Orders whose pickup code is live at their pickup point.
AWAITING_PICKUP = (CONFIRMED, READY, PARTIAL)
# Orders that hold goods (not cancelled, not unpaid): what procurement buys.
FULFILLED = (CONFIRMED, READY, PARTIAL, PICKED_UP, UNCOLLECTED)
DELIVERY_CONFIRMED, SHIPPED, ARRIVED = (
    DeliveryStatus.CONFIRMED,
    DeliveryStatus.SHIPPED,
    DeliveryStatus.ARRIVED,
)


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
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    # The batch (lot) the item is sold from, when the merchant names it (traceability).
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("trace_batches.id", ondelete="SET NULL"), index=True
    )
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
        CheckConstraint(
            "status IN ('pending_payment', 'paid', 'confirmed', 'ready_for_pickup', "
            "'partially_picked_up', 'picked_up', 'uncollected', 'cancelled')",
            name="status",
        ),
        CheckConstraint("total_fen > 0", name="total_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= total_fen", name="refund_in_range"),
        # A pickup code is live once per pickup point (codes are reused after pickup).
        Index(
            "uq_groupbuy_orders_live_code",
            "pickup_point_id",
            "pickup_code",
            unique=True,
            sqlite_where=text("status IN ('confirmed', 'ready_for_pickup', 'partially_picked_up')"),
            postgresql_where=text(
                "status IN ('confirmed', 'ready_for_pickup', 'partially_picked_up')"
            ),
        ),
        Index("ix_groupbuy_orders_campaign_status", "campaign_id", "status"),
        Index("ix_groupbuy_orders_org_created", "organisation_id", "created_at"),
        # Supervision's screen of every OrderPaid: a merchant's orders paid in a window, and a
        # campaign's (one probe per campaign that sold the SKU at another price).
        Index("ix_groupbuy_orders_org_paid", "organisation_id", "paid_at"),
        Index("ix_groupbuy_orders_campaign_paid", "campaign_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_campaigns.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=PENDING_PAYMENT)
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
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    # Six digits, given at the cut-off when the group forms; shown once the goods arrived.
    pickup_code: Mapped[str | None] = mapped_column(String(6))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    picked_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OrderLine(Base):
    __tablename__ = "groupbuy_order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "item_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("picked_qty >= 0 AND picked_qty <= quantity", name="picked_in_range"),
        CheckConstraint(
            "returned_qty >= 0 AND returned_qty <= picked_qty", name="returned_in_range"
        ),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refund_in_range"),
        CheckConstraint("claimed_qty >= 0 AND claimed_qty <= picked_qty", name="claimed_in_range"),
        CheckConstraint(
            "claim_refunded_fen >= 0 AND claim_refunded_fen <= refunded_fen",
            name="claim_refund_in_range",
        ),
        # Supervision's screen of every OrderPaid: an item's lines at another unit price.
        Index("ix_groupbuy_order_lines_item_price", "item_id", "unit_price_fen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_orders.id", ondelete="CASCADE"), index=True
    )
    # Looked up by ix_groupbuy_order_lines_item_price (item first): no index of its own, which
    # a planner on a flash sale's stale statistics chose over the price ranges.
    item_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_campaign_items.id"))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]
    # True: excluded from the 7-day no-reason return (the resident confirmed at checkout).
    no_reason_return_excluded: Mapped[bool] = mapped_column(Boolean)
    # The group for this item at the order's pickup point did not reach its threshold.
    group_failed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    picked_qty: Mapped[int] = mapped_column(default=0, server_default="0")
    # Collected units the merchant refunded afterwards (their settlement was reversed).
    returned_qty: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    # Collected units held by quality claims (refund without return: they are never taken
    # back, so returns and take-backs leave them alone), and the money refunded on them.
    claimed_qty: Mapped[int] = mapped_column(default=0, server_default="0")
    claim_refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")


class GroupOutcome(Base):
    """Whether an item's group formed at a pickup point at the cut-off (paid quantity against
    the threshold). Written once by the cut-off; the record behind every failed-group refund."""

    __tablename__ = "groupbuy_group_outcomes"
    __table_args__ = (UniqueConstraint("item_id", "pickup_point_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_campaigns.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_campaign_items.id"))
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    quantity: Mapped[int]
    threshold: Mapped[int]
    formed: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One campaign's goods for one pickup point: shipped by the merchant, received by the
    leader. Created at the cut-off for every point where a group formed."""

    __tablename__ = "groupbuy_deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "pickup_point_id"),
        CheckConstraint("status IN ('confirmed', 'shipped', 'arrived')", name="status"),
        Index("ix_groupbuy_deliveries_point_status", "pickup_point_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_campaigns.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"))
    status: Mapped[str] = mapped_column(String(10), default=DELIVERY_CONFIRMED)
    orders: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Orders not collected by then are handled by the `groupbuy.uncollected` rule.
    collect_by: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Pickup(Base):
    """One hand-over at the pickup point (an order may be collected in several), with what it
    was worth and the settlement it triggered. Append-only."""

    __tablename__ = "groupbuy_pickups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_orders.id"), index=True)
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"))
    verified_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    how: Mapped[str] = mapped_column(String(10))  # typed | scanned
    goods_fen: Mapped[int]
    # The rates the settlement used, so a later refund reverses exactly what was booked.
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    commission_bp: Mapped[int]
    platform_fee_bp: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Commission(Base):
    """A group leader's commission: accrued on pickup (positive), reversed on a refund of
    collected goods (negative). Append-only; monthly statements sum it."""

    __tablename__ = "groupbuy_commissions"
    __table_args__ = (
        CheckConstraint("kind IN ('accrual', 'reversal')", name="kind"),
        CheckConstraint("amount_fen <> 0", name="amount_nonzero"),
        Index("ix_groupbuy_commissions_leader_created", "leader_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_orders.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("groupbuy_order_lines.id"))
    kind: Mapped[str] = mapped_column(String(10))
    base_fen: Mapped[int]  # the goods value it was computed on (signed like amount)
    rate_bp: Mapped[int]
    amount_fen: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommissionStatement(Base):
    """A leader's commission for one calendar month (Asia/Shanghai), paid out through the
    ledger when the month is closed."""

    __tablename__ = "groupbuy_commission_statements"
    __table_args__ = (UniqueConstraint("leader_user_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    accrued_fen: Mapped[int]
    reversed_fen: Mapped[int]
    net_fen: Mapped[int]
    pickups: Mapped[int]
    ledger_entry_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


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


class CartLine(Base):
    """What a resident put in the cart: items of any open campaigns, ordered together at
    checkout (one order, and one payment, per campaign)."""

    __tablename__ = "groupbuy_cart_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("groupbuy_campaign_items.id", ondelete="CASCADE"), primary_key=True
    )
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
