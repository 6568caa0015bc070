"""credit: published penalties, the serious-dishonesty list, repair and removal requests

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-05 12:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KINDS = (
    "kind IN ('order_delivered', 'pickup_handed_over', 'order_collected', "
    "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
    "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
    "'complaint_upheld', 'complaint_mediated')"
)
_NEW_KINDS = (
    "kind IN ('order_delivered', 'pickup_handed_over', 'order_collected', "
    "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
    "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
    "'complaint_upheld', 'complaint_mediated', 'penalty_serious', 'penalty', 'warning', "
    "'rectification_overdue', 'rectified_on_time')"
)


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _big(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=nullable)


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, linli.db.UTCDateTime(timezone=True), nullable=nullable)


def _kinds(check: str) -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_records_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_credit_records_kind"), sa.text(check))


def upgrade() -> None:
    op.create_table(
        "credit_penalties",
        _id(),
        _big("case_id"),
        _big("organisation_id"),
        _big("regulator_organisation_id"),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        _when("rectify_by", True),
        _when("decided_at"),
        _when("publish_until"),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        _when("fulfilled_at", True),
        sa.Column("fulfilled_on_time", sa.Boolean(), nullable=True),
        _when("repaired_at", True),
        _big("repair_request_id", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_penalties")),
        sa.UniqueConstraint("case_id", name=op.f("uq_credit_penalties_case_id")),
    )
    op.create_index(
        "ix_credit_penalties_organisation",
        "credit_penalties",
        ["organisation_id", "decided_at"],
        unique=False,
    )
    op.create_table(
        "credit_serious_list",
        _id(),
        _big("case_id"),
        _big("organisation_id"),
        _big("regulator_organisation_id"),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        _when("decided_at"),
        _when("listed_at"),
        _when("listed_until"),
        _when("removable_from"),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        _when("removed_at", True),
        _big("removal_request_id", True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_serious_list")),
        sa.UniqueConstraint("case_id", name=op.f("uq_credit_serious_list_case_id")),
    )
    op.create_index(
        "ix_credit_serious_list_organisation",
        "credit_serious_list",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "credit_requests",
        _id(),
        sa.Column("kind", sa.String(length=10), nullable=False),
        _big("target_id"),
        _big("case_id"),
        _big("organisation_id"),
        _big("regulator_organisation_id"),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        _big("applied_by_user_id"),
        _when("created_at"),
        sa.Column("rule_id", sa.String(length=80), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        _big("decided_by_user_id", True),
        _when("decided_at", True),
        sa.Column("reasons", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('repair', 'removal')", name=op.f("ck_credit_requests_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused')", name=op.f("ck_credit_requests_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_requests")),
    )
    op.create_index(
        "ix_credit_requests_organisation",
        "credit_requests",
        ["organisation_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_credit_requests_regulator",
        "credit_requests",
        ["regulator_organisation_id", "status"],
        unique=False,
    )
    _kinds(_NEW_KINDS)


def downgrade() -> None:
    _kinds(_OLD_KINDS)
    op.drop_index("ix_credit_requests_regulator", table_name="credit_requests")
    op.drop_index("ix_credit_requests_organisation", table_name="credit_requests")
    op.drop_table("credit_requests")
    op.drop_index("ix_credit_serious_list_organisation", table_name="credit_serious_list")
    op.drop_table("credit_serious_list")
    op.drop_index("ix_credit_penalties_organisation", table_name="credit_penalties")
    op.drop_table("credit_penalties")
