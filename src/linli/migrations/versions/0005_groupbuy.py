"""group buying: campaigns, campaign items (allocated stock), orders and order lines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:29:07.299348
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groupbuy_campaigns",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("opens_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cutoff_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pickup_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("return_rule_id", sa.String(length=80), nullable=True),
        sa.Column("return_rule_version", sa.Integer(), nullable=True),
        sa.Column("return_days", sa.Integer(), nullable=True),
        sa.Column("payment_rule_version", sa.Integer(), nullable=True),
        sa.Column("payment_window_minutes", sa.Integer(), nullable=True),
        sa.Column(
            "created_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'closed', 'cancelled')",
            name=op.f("ck_groupbuy_campaigns_status"),
        ),
        sa.CheckConstraint("opens_at < cutoff_at", name=op.f("ck_groupbuy_campaigns_window")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_groupbuy_campaigns_created_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_groupbuy_campaigns_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_campaigns")),
    )
    with op.batch_alter_table("groupbuy_campaigns", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_groupbuy_campaigns_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            "ix_groupbuy_campaigns_status_cutoff", ["status", "cutoff_at"], unique=False
        )

    op.create_table(
        "groupbuy_orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "pickup_point_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_fen", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("return_rule_id", sa.String(length=80), nullable=False),
        sa.Column("return_rule_version", sa.Integer(), nullable=False),
        sa.Column("return_terms_accepted", sa.Boolean(), nullable=False),
        sa.Column("payment_due_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=30), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'cancelled')",
            name=op.f("ck_groupbuy_orders_status"),
        ),
        sa.CheckConstraint("total_fen > 0", name=op.f("ck_groupbuy_orders_total_positive")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["groupbuy_campaigns.id"],
            name=op.f("fk_groupbuy_orders_campaign_id_groupbuy_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_groupbuy_orders_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_point_id"],
            ["pickup_points.id"],
            name=op.f("fk_groupbuy_orders_pickup_point_id_pickup_points"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_groupbuy_orders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_orders")),
        sa.UniqueConstraint(
            "user_id", "idempotency_key", name=op.f("uq_groupbuy_orders_user_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("groupbuy_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_groupbuy_orders_campaign_status", ["campaign_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_groupbuy_orders_org_created", ["organisation_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_groupbuy_orders_pickup_point_id"), ["pickup_point_id"], unique=False
        )
        batch_op.create_index(
            "uq_groupbuy_orders_one_unpaid",
            ["user_id", "campaign_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending_payment'"),
            postgresql_where=sa.text("status = 'pending_payment'"),
        )

    op.create_table(
        "groupbuy_campaign_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("product_name", sa.String(length=120), nullable=False),
        sa.Column("sku_code", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("list_price_fen", sa.Integer(), nullable=False),
        sa.Column("group_price_fen", sa.Integer(), nullable=False),
        sa.Column("per_resident_limit", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("min_group_qty", sa.Integer(), nullable=False),
        sa.Column("storage_class", sa.String(length=10), nullable=False),
        sa.Column("return_exclusion", sa.String(length=60), nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "group_price_fen > 0", name=op.f("ck_groupbuy_campaign_items_price_positive")
        ),
        sa.CheckConstraint(
            "min_group_qty >= 1", name=op.f("ck_groupbuy_campaign_items_threshold_positive")
        ),
        sa.CheckConstraint(
            "per_resident_limit >= 1", name=op.f("ck_groupbuy_campaign_items_limit_positive")
        ),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= stock",
            name=op.f("ck_groupbuy_campaign_items_remaining_in_range"),
        ),
        sa.CheckConstraint("stock >= 1", name=op.f("ck_groupbuy_campaign_items_stock_positive")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["groupbuy_campaigns.id"],
            name=op.f("fk_groupbuy_campaign_items_campaign_id_groupbuy_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sku_id"], ["skus.id"], name=op.f("fk_groupbuy_campaign_items_sku_id_skus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_campaign_items")),
        sa.UniqueConstraint(
            "campaign_id", "sku_id", name=op.f("uq_groupbuy_campaign_items_campaign_id_sku_id")
        ),
    )
    with op.batch_alter_table("groupbuy_campaign_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_groupbuy_campaign_items_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_groupbuy_campaign_items_sku_id"), ["sku_id"], unique=False
        )

    op.create_table(
        "groupbuy_order_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("no_reason_return_excluded", sa.Boolean(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_groupbuy_order_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["groupbuy_campaign_items.id"],
            name=op.f("fk_groupbuy_order_lines_item_id_groupbuy_campaign_items"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["groupbuy_orders.id"],
            name=op.f("fk_groupbuy_order_lines_order_id_groupbuy_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groupbuy_order_lines")),
        sa.UniqueConstraint(
            "order_id", "item_id", name=op.f("uq_groupbuy_order_lines_order_id_item_id")
        ),
    )
    with op.batch_alter_table("groupbuy_order_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_groupbuy_order_lines_item_id"), ["item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_groupbuy_order_lines_order_id"), ["order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("groupbuy_order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groupbuy_order_lines_order_id"))
        batch_op.drop_index(batch_op.f("ix_groupbuy_order_lines_item_id"))

    op.drop_table("groupbuy_order_lines")
    with op.batch_alter_table("groupbuy_campaign_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groupbuy_campaign_items_sku_id"))
        batch_op.drop_index(batch_op.f("ix_groupbuy_campaign_items_campaign_id"))

    op.drop_table("groupbuy_campaign_items")
    with op.batch_alter_table("groupbuy_orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_groupbuy_orders_one_unpaid",
            sqlite_where=sa.text("status = 'pending_payment'"),
            postgresql_where=sa.text("status = 'pending_payment'"),
        )
        batch_op.drop_index(batch_op.f("ix_groupbuy_orders_pickup_point_id"))
        batch_op.drop_index("ix_groupbuy_orders_org_created")
        batch_op.drop_index("ix_groupbuy_orders_campaign_status")

    op.drop_table("groupbuy_orders")
    with op.batch_alter_table("groupbuy_campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_groupbuy_campaigns_status_cutoff")
        batch_op.drop_index(batch_op.f("ix_groupbuy_campaigns_organisation_id"))

    op.drop_table("groupbuy_campaigns")
