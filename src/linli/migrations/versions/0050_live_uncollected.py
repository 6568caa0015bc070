"""live: a pickup order never handed over within rule `live.uncollected`'s days of its
arrival at the point becomes `uncollected` (the fulfilment status grows one value, and its
column two characters)

Revision ID: 0050
Revises: 0049
Create Date: 2026-12-07 00:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0050"
down_revision: str | None = "0049"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "'to_ship', 'shipped', 'at_point', 'received'"
AFTER = "'to_ship', 'shipped', 'at_point', 'received', 'uncollected'"


def upgrade() -> None:
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_live_orders_fulfilment_status"), type_="check")
        batch_op.alter_column(
            "fulfilment_status",
            existing_type=sa.String(length=10),
            type_=sa.String(length=12),
            existing_nullable=True,
        )
        batch_op.create_check_constraint(
            "fulfilment_status",
            f"fulfilment_status IS NULL OR fulfilment_status IN ({AFTER})",
        )


def downgrade() -> None:
    # The older schema knows no uncollected order: it is at the point again, without a code
    # (its code may be live for another order there by now).
    op.execute(
        "UPDATE live_orders SET fulfilment_status = 'at_point', pickup_code = NULL "
        "WHERE fulfilment_status = 'uncollected'"
    )
    with op.batch_alter_table("live_orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_live_orders_fulfilment_status"), type_="check")
        batch_op.alter_column(
            "fulfilment_status",
            existing_type=sa.String(length=12),
            type_=sa.String(length=10),
            existing_nullable=True,
        )
        batch_op.create_check_constraint(
            "fulfilment_status",
            f"fulfilment_status IS NULL OR fulfilment_status IN ({BEFORE})",
        )
