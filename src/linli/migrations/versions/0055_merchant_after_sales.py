"""merchants: a public after-sales contact (service phone, short terms) on the merchant
profile, shown on its public page and in its live rooms (SAMR guidance 2020 No. 175)

Revision ID: 0055
Revises: 0054
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0055"
down_revision: str | None = "0054"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchant_profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("after_sales_phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("after_sales_terms", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchant_profiles", schema=None) as batch_op:
        batch_op.drop_column("after_sales_terms")
        batch_op.drop_column("after_sales_phone")
