"""live: recordings kept as the rooms' replays

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-06 19:45:50
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0044"
down_revision: str | None = "0043"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "live_recordings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=True),
        sa.Column("source_name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("file_name", sa.String(length=100), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("recorded_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retain_until", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed')", name=op.f("ck_live_recordings_status")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_recordings_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_live_recordings_session_id_live_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_recordings")),
        sa.UniqueConstraint("source_name", name=op.f("uq_live_recordings_source_name")),
    )
    op.create_index(
        op.f("ix_live_recordings_room_id"), "live_recordings", ["room_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_live_recordings_room_id"), table_name="live_recordings")
    op.drop_table("live_recordings")
