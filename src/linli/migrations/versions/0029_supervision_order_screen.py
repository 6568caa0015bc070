"""supervision: an index on a merchant's orders by payment time, read by the screen every
OrderPaid runs (supervision/rule_orders.py)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 22:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_groupbuy_orders_org_paid", "groupbuy_orders", ["organisation_id", "paid_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_groupbuy_orders_org_paid", table_name="groupbuy_orders")
