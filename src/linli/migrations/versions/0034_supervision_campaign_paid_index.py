"""supervision: an index on group-buying orders by campaign and payment time, so that the
screen every OrderPaid runs probes each campaign that sold the order's SKUs at another price
once, instead of reading every line ever sold at another price (supervision/rule_orders.py)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_groupbuy_orders_campaign_paid", "groupbuy_orders", ["campaign_id", "paid_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_groupbuy_orders_campaign_paid", table_name="groupbuy_orders")
