"""groupbuy: drop the order lines' single-column item index; ix_groupbuy_order_lines_item_price
(item, unit price) serves every lookup by item, and on a flash sale's stale statistics the
planner read all of an item's lines through the single-column one and filtered them by price
instead of taking supervision's two price ranges (supervision/rule_orders.py)

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-07 05:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0056"
down_revision: str | None = "0055"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_groupbuy_order_lines_item_id", table_name="groupbuy_order_lines")


def downgrade() -> None:
    op.create_index(
        "ix_groupbuy_order_lines_item_id", "groupbuy_order_lines", ["item_id"], unique=False
    )
