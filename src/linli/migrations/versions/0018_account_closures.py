"""closed accounts and their retention (privacy_account_closures)

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-05 11:52:14.418878
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "privacy_account_closures",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("closed_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_transaction_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retain_until", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("purged_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_privacy_account_closures_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_privacy_account_closures")),
    )
    with op.batch_alter_table("privacy_account_closures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_account_closures_retain_until"), ["retain_until"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("privacy_account_closures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_account_closures_retain_until"))

    op.drop_table("privacy_account_closures")
