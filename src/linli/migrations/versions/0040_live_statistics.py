"""live: the stream's statistics (connections, peak viewers, likes) and its logged-in viewers

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("connections", "peak_viewers", "likes")


def upgrade() -> None:
    with op.batch_alter_table("live_rooms") as batch:
        for name in COUNTERS:
            batch.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "live_room_viewers",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_seen_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["live_rooms.id"],
            name=op.f("fk_live_room_viewers_room_id_live_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_live_room_viewers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_live_room_viewers")),
    )
    op.create_index(
        op.f("ix_live_room_viewers_user_id"), "live_room_viewers", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_live_room_viewers_user_id"), table_name="live_room_viewers")
    op.drop_table("live_room_viewers")
    with op.batch_alter_table("live_rooms") as batch:
        for name in reversed(COUNTERS):
            batch.drop_column(name)
