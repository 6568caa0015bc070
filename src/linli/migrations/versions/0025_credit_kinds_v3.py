"""credit: the record kinds of credit.scoring version 3 (quality claims, abusive claims,
random inspections, pay-later bills)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_V2_KINDS = (
    "'order_delivered', 'pickup_handed_over', 'order_collected', "
    "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
    "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
    "'complaint_upheld', 'complaint_mediated', 'penalty_serious', 'penalty', 'warning', "
    "'rectification_overdue', 'rectified_on_time'"
)
_V3_KINDS = (
    _V2_KINDS + ", 'quality_claim_upheld', 'quality_claim_partly', 'claim_abuse_confirmed', "
    "'spot_check_passed', 'spot_check_issues', 'spot_check_failed', "
    "'pay_later_repaid', 'pay_later_overdue'"
)


def _kinds(kinds: str) -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_records_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_records_kind"), sa.text(f"kind IN ({kinds})")
        )


def upgrade() -> None:
    _kinds(_V3_KINDS)


def downgrade() -> None:
    _kinds(_V2_KINDS)
