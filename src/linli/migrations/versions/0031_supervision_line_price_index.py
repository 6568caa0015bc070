"""supervision: an index on order lines by item and unit price, so that the screen every
OrderPaid runs reads only the lines of the order's SKUs at another price
(supervision/rule_orders.py)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 03:15:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_groupbuy_order_lines_item_price",
        "groupbuy_order_lines",
        ["item_id", "unit_price_fen"],
    )


def downgrade() -> None:
    op.drop_index("ix_groupbuy_order_lines_item_price", table_name="groupbuy_order_lines")
