"""credit: pick up first, pay later (accounts, bills, charges)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 21:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        autoincrement=True,
        nullable=False,
    )


def _big(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, linli.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "pay_later_accounts",
        _id(),
        _big("user_id"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("used_fen", sa.BigInteger(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        _when("opened_at"),
        _when("suspended_at", True),
        _when("updated_at"),
        sa.CheckConstraint(
            "state IN ('active', 'suspended')", name=op.f("ck_pay_later_accounts_state_known")
        ),
        sa.CheckConstraint("limit_fen >= 0", name=op.f("ck_pay_later_accounts_limit_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_later_accounts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_pay_later_accounts_user_id")),
    )
    op.create_table(
        "pay_later_bills",
        _id(),
        _big("user_id"),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        _when("due_at"),
        _when("overdue_at"),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("paid_at", True),
        _when("overdue_marked_at", True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'overdue')", name=op.f("ck_pay_later_bills_status_known")
        ),
        sa.CheckConstraint("paid_fen >= 0", name=op.f("ck_pay_later_bills_paid_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_later_bills")),
        sa.UniqueConstraint("user_id", "period", name=op.f("uq_pay_later_bills_user_id_period")),
    )
    op.create_index(
        "ix_pay_later_bills_status_due", "pay_later_bills", ["status", "due_at"], unique=False
    )
    op.create_table(
        "pay_later_charges",
        _id(),
        _big("user_id"),
        _big("bill_id"),
        _big("intent_id"),
        sa.Column("intent_public_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        _when("created_at"),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name=op.f("ck_pay_later_charges_refund_bounded"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_later_charges")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_pay_later_charges_intent_id")),
    )
    op.create_index("ix_pay_later_charges_bill", "pay_later_charges", ["bill_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pay_later_charges_bill", table_name="pay_later_charges")
    op.drop_table("pay_later_charges")
    op.drop_index("ix_pay_later_bills_status_due", table_name="pay_later_bills")
    op.drop_table("pay_later_bills")
    op.drop_table("pay_later_accounts")
