"""services: the provider's desk changes and withdraws what it set up: a weekly session's
withdrawal (slots no longer made from it), a course's description and its withdrawal (when,
why) (issue 17)

Revision ID: 0048
Revises: 0047
Create Date: 2026-12-06 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0048"
down_revision: str | None = "0047"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("services_weekly_slots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("withdrawn_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("services_courses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("description", sa.String(length=2000), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("withdrawn_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("withdraw_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services_courses", schema=None) as batch_op:
        batch_op.drop_column("withdraw_reason")
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("description")
    with op.batch_alter_table("services_weekly_slots", schema=None) as batch_op:
        batch_op.drop_column("withdrawn_at")
