"""services under consumer protection and credit: reviews of completed bookings, complaints
about a booking or a course enrolment, credit.scoring version 4's record kinds (a client's
no-show, a provider's cancellation) (issue 17)

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen here: the migration must not change when the enumerations grow.
_V3_KINDS = (
    "'order_delivered', 'pickup_handed_over', 'order_collected', "
    "'order_uncollected', 'temperature_excursion', 'inspection_failed', "
    "'batch_recalled', 'return_refund_overdue', 'return_refunded', "
    "'complaint_upheld', 'complaint_mediated', 'penalty_serious', 'penalty', 'warning', "
    "'rectification_overdue', 'rectified_on_time', "
    "'quality_claim_upheld', 'quality_claim_partly', 'claim_abuse_confirmed', "
    "'spot_check_passed', 'spot_check_issues', 'spot_check_failed', "
    "'pay_later_repaid', 'pay_later_overdue'"
)
_V4_KINDS = _V3_KINDS + ", 'service_no_show', 'service_cancelled_by_provider'"
_TARGETS = "'order', 'merchant', 'leader', 'product'"
_SERVICE_TARGETS = _TARGETS + ", 'booking', 'course'"


def _kinds(kinds: str) -> None:
    with op.batch_alter_table("credit_records", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_credit_records_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_credit_records_kind"), sa.text(f"kind IN ({kinds})")
        )


def upgrade() -> None:
    _kinds(_V4_KINDS)
    with op.batch_alter_table("protection_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("booking_id", _ID, nullable=True))
        batch_op.alter_column("order_line_id", existing_type=_ID, nullable=True)
        batch_op.alter_column("order_id", existing_type=_ID, nullable=True)
        batch_op.alter_column("product_id", existing_type=_ID, nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_protection_reviews_booking_id_services_bookings"),
            "services_bookings",
            ["booking_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_protection_reviews_booking_id"), ["booking_id"]
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_protection_reviews_line_or_booking"),
            sa.text("(order_line_id IS NULL) <> (booking_id IS NULL)"),
        )
    with op.batch_alter_table("protection_complaints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("booking_id", _ID, nullable=True))
        batch_op.add_column(sa.Column("enrolment_id", _ID, nullable=True))
        batch_op.alter_column("order_id", existing_type=_ID, nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_protection_complaints_booking_id_services_bookings"),
            "services_bookings",
            ["booking_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_protection_complaints_enrolment_id_services_enrolments"),
            "services_enrolments",
            ["enrolment_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_protection_complaints_booking_id"), ["booking_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_protection_complaints_enrolment_id"), ["enrolment_id"], unique=False
        )
        batch_op.drop_constraint(op.f("ck_protection_complaints_target"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_protection_complaints_target"), sa.text(f"target IN ({_SERVICE_TARGETS})")
        )


def downgrade() -> None:
    with op.batch_alter_table("protection_complaints", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_protection_complaints_target"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_protection_complaints_target"), sa.text(f"target IN ({_TARGETS})")
        )
        batch_op.drop_index(batch_op.f("ix_protection_complaints_enrolment_id"))
        batch_op.drop_index(batch_op.f("ix_protection_complaints_booking_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_protection_complaints_enrolment_id_services_enrolments"),
            type_="foreignkey",
        )
        batch_op.drop_constraint(
            batch_op.f("fk_protection_complaints_booking_id_services_bookings"),
            type_="foreignkey",
        )
        batch_op.alter_column("order_id", existing_type=_ID, nullable=False)
        batch_op.drop_column("enrolment_id")
        batch_op.drop_column("booking_id")
    with op.batch_alter_table("protection_reviews", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_protection_reviews_line_or_booking"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_protection_reviews_booking_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_protection_reviews_booking_id_services_bookings"), type_="foreignkey"
        )
        batch_op.alter_column("product_id", existing_type=_ID, nullable=False)
        batch_op.alter_column("order_id", existing_type=_ID, nullable=False)
        batch_op.alter_column("order_line_id", existing_type=_ID, nullable=False)
        batch_op.drop_column("booking_id")
    _kinds(_V3_KINDS)
