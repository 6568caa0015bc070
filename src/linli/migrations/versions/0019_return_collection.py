"""returns: goods collected by the merchant (received_how)

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-05 12:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the migration must not change when the enumerations grow.
HOW = "received_how IS NULL OR received_how IN ('pickup_point', 'merchant_collected')"


def upgrade() -> None:
    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_how", sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(op.f("ck_protection_returns_received_how"), HOW)
    # Every return received so far was received by a leader at the pickup point.
    op.execute(
        "UPDATE protection_returns SET received_how = 'pickup_point' WHERE received_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_protection_returns_received_how"), type_="check")
        batch_op.drop_column("received_how")
