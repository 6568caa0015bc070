"""trace: scheduled EPCIS subscriptions (schedule, reportIfEmpty, initialRecordTime)

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-06 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DATA = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("trace_subscriptions") as batch:
        batch.add_column(
            sa.Column("stream", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch.add_column(sa.Column("schedule", JSON_DATA, nullable=True))
        batch.add_column(
            sa.Column("report_if_empty", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("initial_record_time", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_run_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_subscriptions") as batch:
        batch.drop_column("last_run_at")
        batch.drop_column("initial_record_time")
        batch.drop_column("report_if_empty")
        batch.drop_column("schedule")
        batch.drop_column("stream")
