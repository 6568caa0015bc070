"""returns: goods collected by the merchant (received_how), a refund refused for damaged goods,
photos uploaded per return (photos_uploaded)

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-05 12:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the migration must not change when the enumerations grow.
HOW = "received_how IS NULL OR received_how IN ('pickup_point', 'merchant_collected')"
STATUSES_BEFORE = ("requested", "approved", "rejected", "received", "refunded")
STATUSES = (*STATUSES_BEFORE, "refund_refused")


def _statuses(statuses: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def upgrade() -> None:
    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_how", sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(op.f("ck_protection_returns_received_how"), HOW)
        batch_op.add_column(
            sa.Column("refused_at", linli.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "refused_by_user_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("refusal_reason", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.create_foreign_key(
            op.f("fk_protection_returns_refused_by_user_id_users"),
            "users",
            ["refused_by_user_id"],
            ["id"],
        )
        batch_op.drop_constraint(op.f("ck_protection_returns_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_protection_returns_status"), _statuses(STATUSES))
        batch_op.add_column(
            sa.Column("photos_uploaded", sa.Integer(), server_default="0", nullable=False)
        )
    # Every return received so far was received by a leader at the pickup point.
    op.execute(
        "UPDATE protection_returns SET received_how = 'pickup_point' WHERE received_at IS NOT NULL"
    )


def downgrade() -> None:
    # A refused refund goes back to waiting for one (the refusal is in the audit log).
    op.execute("UPDATE protection_returns SET status = 'received' WHERE status = 'refund_refused'")
    with op.batch_alter_table("protection_returns", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_protection_returns_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_protection_returns_status"), _statuses(STATUSES_BEFORE)
        )
        batch_op.drop_constraint(
            op.f("fk_protection_returns_refused_by_user_id_users"), type_="foreignkey"
        )
        batch_op.drop_column("photos_uploaded")
        batch_op.drop_column("refusal_reason")
        batch_op.drop_column("refused_by_user_id")
        batch_op.drop_column("refused_at")
        batch_op.drop_constraint(op.f("ck_protection_returns_received_how"), type_="check")
        batch_op.drop_column("received_how")
