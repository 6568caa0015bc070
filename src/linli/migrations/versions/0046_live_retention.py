"""live: replays and room records purged past their retention (recordings `purged`, with when
and when their files went; rooms' `purged_at`), and the time a room's stream was lost (a paused
room whose stream never comes back ends after a grace period)

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-06 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purged_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("stream_lost_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("live_recordings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purged_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("files_removed_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(op.f("ck_live_recordings_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_live_recordings_status"),
            "status IN ('pending', 'ready', 'failed', 'purged')",
        )


def downgrade() -> None:
    # A purged recording has no file left: it reads as failed (no replay) once again.
    op.execute("UPDATE live_recordings SET status = 'failed' WHERE status = 'purged'")
    with op.batch_alter_table("live_recordings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_live_recordings_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_live_recordings_status"), "status IN ('pending', 'ready', 'failed')"
        )
        batch_op.drop_column("files_removed_at")
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("live_rooms", schema=None) as batch_op:
        batch_op.drop_column("stream_lost_at")
        batch_op.drop_column("purged_at")
