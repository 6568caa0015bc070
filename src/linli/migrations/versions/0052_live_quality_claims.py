"""protection: quality claims (refund without return) of live orders: a claim names a
group-buy line or a live order (exactly one); a live order's claim has a pickup point and a
community only when it has them

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-07 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0052"
down_revision: str | None = "0051"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ONE_SOURCE = (
    "(order_line_id IS NOT NULL AND order_id IS NOT NULL AND pickup_point_id IS NOT NULL "
    "AND community_id IS NOT NULL AND live_order_id IS NULL) OR "
    "(order_line_id IS NULL AND order_id IS NULL AND live_order_id IS NOT NULL)"
)


def upgrade() -> None:
    with op.batch_alter_table("protection_claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_order_id", BIG_ID, nullable=True))
        batch_op.alter_column("order_id", existing_type=BIG_ID, nullable=True)
        batch_op.alter_column("order_line_id", existing_type=BIG_ID, nullable=True)
        batch_op.alter_column("pickup_point_id", existing_type=BIG_ID, nullable=True)
        batch_op.alter_column("community_id", existing_type=BIG_ID, nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_protection_claims_live_order_id_live_orders"),
            "live_orders",
            ["live_order_id"],
            ["id"],
        )
        batch_op.create_check_constraint("one_source", ONE_SOURCE)
        batch_op.create_index(
            "ix_protection_claims_live_order_status", ["live_order_id", "status"], unique=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM protection_claims WHERE live_order_id IS NOT NULL")
    with op.batch_alter_table("protection_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_protection_claims_live_order_status")
        batch_op.drop_constraint(op.f("ck_protection_claims_one_source"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_protection_claims_live_order_id_live_orders"), type_="foreignkey"
        )
        batch_op.alter_column("community_id", existing_type=BIG_ID, nullable=False)
        batch_op.alter_column("pickup_point_id", existing_type=BIG_ID, nullable=False)
        batch_op.alter_column("order_line_id", existing_type=BIG_ID, nullable=False)
        batch_op.alter_column("order_id", existing_type=BIG_ID, nullable=False)
        batch_op.drop_column("live_order_id")
