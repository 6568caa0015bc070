"""live: delivery of paid live orders (collected at the buyer's pickup point with a pickup
code, or shipped to an address; shipment with carrier and tracking number, receipt confirmed,
handed over or automatic, units returned and refunded); protection's returns of a live
order (a return names a group-buy line or a live order: exactly one)

Revision ID: 0049
Revises: 0048
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0049"
down_revision: str | None = "0048"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ONE_SOURCE = (
    "(order_line_id IS NOT NULL AND order_id IS NOT NULL AND live_order_id IS NULL) OR "
    "(order_line_id IS NULL AND order_id IS NULL AND pickup_point_id IS NULL "
    "AND live_order_id IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("recipient_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("delivery_address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("fulfilment_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("pickup_point_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("pickup_code", sa.String(length=6), nullable=True))
        batch_op.add_column(
            sa.Column("arrived_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("handed_over_by_user_id", BIG_ID, nullable=True))
        batch_op.add_column(sa.Column("carrier", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("tracking_number", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("shipped_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("shipped_by_user_id", BIG_ID, nullable=True))
        batch_op.add_column(
            sa.Column("receive_by", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("received_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "received_automatically",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("returned_qty", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("refunded_fen", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_live_orders_shipped_by_user_id_users"),
            "users",
            ["shipped_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_live_orders_pickup_point_id_pickup_points"),
            "pickup_points",
            ["pickup_point_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_live_orders_handed_over_by_user_id_users"),
            "users",
            ["handed_over_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            "fulfilment_status",
            "fulfilment_status IS NULL OR fulfilment_status IN "
            "('to_ship', 'shipped', 'at_point', 'received')",
        )
        batch_op.create_index(
            "ix_live_orders_point_fulfilment", ["pickup_point_id", "fulfilment_status"]
        )
        batch_op.create_index(
            "uq_live_orders_point_code",
            ["pickup_point_id", "pickup_code"],
            unique=True,
            sqlite_where=sa.text("fulfilment_status = 'at_point'"),
            postgresql_where=sa.text("fulfilment_status = 'at_point'"),
        )
        batch_op.create_check_constraint(
            "returned_in_range", "returned_qty >= 0 AND returned_qty <= quantity"
        )
        batch_op.create_check_constraint(
            "refund_in_range", "refunded_fen >= 0 AND refunded_fen <= total_fen"
        )
        batch_op.create_index(
            "ix_live_orders_org_fulfilment", ["organisation_id", "fulfilment_status"], unique=False
        )
    # Orders paid before this migration wait to be shipped (they have no address yet: the
    # resident gives it on "My live orders").
    op.execute("UPDATE live_orders SET fulfilment_status = 'to_ship' WHERE status = 'paid'")

    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_order_id", BIG_ID, nullable=True))
        batch_op.alter_column("order_id", existing_type=BIG_ID, nullable=True)
        batch_op.alter_column("order_line_id", existing_type=BIG_ID, nullable=True)
        batch_op.alter_column("pickup_point_id", existing_type=BIG_ID, nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_protection_returns_live_order_id_live_orders"),
            "live_orders",
            ["live_order_id"],
            ["id"],
        )
        batch_op.create_check_constraint("one_source", ONE_SOURCE)
        batch_op.create_index(
            "ix_protection_returns_live_order_status", ["live_order_id", "status"], unique=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM protection_returns WHERE live_order_id IS NOT NULL")
    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.drop_index("ix_protection_returns_live_order_status")
        batch_op.drop_constraint(op.f("ck_protection_returns_one_source"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_protection_returns_live_order_id_live_orders"), type_="foreignkey"
        )
        batch_op.alter_column("pickup_point_id", existing_type=BIG_ID, nullable=False)
        batch_op.alter_column("order_line_id", existing_type=BIG_ID, nullable=False)
        batch_op.alter_column("order_id", existing_type=BIG_ID, nullable=False)
        batch_op.drop_column("live_order_id")

    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_live_orders_org_fulfilment")
        batch_op.drop_index("uq_live_orders_point_code")
        batch_op.drop_index("ix_live_orders_point_fulfilment")
        batch_op.drop_constraint(
            batch_op.f("fk_live_orders_handed_over_by_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_live_orders_pickup_point_id_pickup_points"), type_="foreignkey"
        )
        batch_op.drop_constraint(op.f("ck_live_orders_refund_in_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_live_orders_returned_in_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_live_orders_fulfilment_status"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_live_orders_shipped_by_user_id_users"), type_="foreignkey"
        )
        for name in (
            "refunded_fen",
            "returned_qty",
            "received_automatically",
            "received_at",
            "receive_by",
            "shipped_by_user_id",
            "shipped_at",
            "tracking_number",
            "carrier",
            "handed_over_by_user_id",
            "arrived_at",
            "pickup_code",
            "pickup_point_id",
            "fulfilment_status",
            "delivery_address",
            "recipient_phone",
            "recipient_name",
        ):
            batch_op.drop_column(name)
