"""credit ledger, periods and scores

Revision ID: 0020
Revises: 0016
Create Date: 2026-12-05 11:55:27.364327
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The credit ledger is append-only: on PostgreSQL the database itself refuses to change or
# delete a record (the ORM refuses too).
_APPEND_ONLY_FUNCTION = """
CREATE FUNCTION credit_records_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'credit records are never changed or deleted (the ledger is append-only)';
END;
$$ LANGUAGE plpgsql
"""
_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER credit_records_append_only BEFORE UPDATE OR DELETE ON credit_records
FOR EACH ROW EXECUTE FUNCTION credit_records_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "credit_periods",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "subject_kind IN ('merchant', 'leader', 'resident')",
            name=op.f("ck_credit_periods_subject_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_periods")),
        sa.UniqueConstraint(
            "subject_kind",
            "subject_id",
            "period",
            name=op.f("uq_credit_periods_subject_kind_subject_id_period"),
        ),
    )
    op.create_table(
        "credit_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=60), nullable=False),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("occurred_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            (
                "kind IN ('order_delivered', 'pickup_handed_over', 'order_collected', "
                "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
                "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
                "'complaint_upheld', 'complaint_mediated')"
            ),
            name=op.f("ck_credit_records_kind"),
        ),
        sa.CheckConstraint(
            "subject_kind IN ('merchant', 'leader', 'resident')",
            name=op.f("ck_credit_records_subject_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_records")),
        sa.UniqueConstraint(
            "event_id",
            "subject_kind",
            "subject_id",
            "kind",
            name=op.f("uq_credit_records_event_id_subject_kind_subject_id_kind"),
        ),
    )
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_records_subject", ["subject_kind", "subject_id", "occurred_at"], unique=False
        )

    op.create_table(
        "credit_scores",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "subject_kind IN ('merchant', 'leader', 'resident')",
            name=op.f("ck_credit_scores_subject_kind"),
        ),
        sa.CheckConstraint(
            "score >= 0 AND score <= 1000", name=op.f("ck_credit_scores_score_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_scores")),
        sa.UniqueConstraint(
            "subject_kind", "subject_id", name=op.f("uq_credit_scores_subject_kind_subject_id")
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_FUNCTION)
        op.execute(_APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS credit_records_append_only ON credit_records")
        op.execute("DROP FUNCTION IF EXISTS credit_records_append_only()")
    op.drop_table("credit_scores")
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_records_subject")

    op.drop_table("credit_records")
    op.drop_table("credit_periods")
