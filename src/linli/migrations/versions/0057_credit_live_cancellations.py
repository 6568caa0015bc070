"""credit: credit.scoring version 5's record kind, a paid live order cancelled by its merchant
before shipment (live_order_cancelled_by_merchant). Downgrading refuses while such records
exist: credit records are never deleted.

Revision ID: 0057
Revises: 0056
Create Date: 2026-12-07 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0057"
down_revision: str | None = "0056"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here: the migration must not change when the enumerations grow.
_V4_KINDS = (
    "'order_delivered', 'pickup_handed_over', 'order_collected', "
    "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
    "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
    "'complaint_upheld', 'complaint_mediated', 'penalty_serious', 'penalty', 'warning', "
    "'rectification_overdue', 'rectified_on_time', "
    "'quality_claim_upheld', 'quality_claim_partly', 'claim_abuse_confirmed', "
    "'spot_check_passed', 'spot_check_issues', 'spot_check_failed', "
    "'pay_later_repaid', 'pay_later_overdue', 'service_no_show', 'service_cancelled_by_provider'"
)
_V5_KINDS = _V4_KINDS + ", 'live_order_cancelled_by_merchant'"


def _kinds(kinds: str) -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_records_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_records_kind"), sa.text(f"kind IN ({kinds})")
        )


def upgrade() -> None:
    _kinds(_V5_KINDS)


def downgrade() -> None:
    _kinds(_V4_KINDS)
