"""live selling: refund reason order_cancelled (a paid live order cancelled before shipment,
by its buyer or its merchant)

Revision ID: 0054
Revises: 0053
Create Date: 2026-12-07 02:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0054"
down_revision: str | None = "0053"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the migration must not change when the enumeration grows.
REASONS_BEFORE = (
    "merchant_decision",
    "platform_decision",
    "group_failed",
    "uncollected",
    "recall",
    "payment_expired",
    "return",
    "quality_claim",
    "unconsumed_classes",
)
REASONS = (*REASONS_BEFORE, "order_cancelled")


def _reasons(reasons: tuple[str, ...]) -> str:
    return "reason_code IN (" + ", ".join(f"'{r}'" for r in reasons) + ")"


def _refund_reasons(reasons: tuple[str, ...]) -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_refunds_reason_code"), type_="check")
        batch_op.create_check_constraint(op.f("ck_payment_refunds_reason_code"), _reasons(reasons))


def upgrade() -> None:
    _refund_reasons(REASONS)


def downgrade() -> None:
    _refund_reasons(REASONS_BEFORE)
