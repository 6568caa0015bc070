"""services: practitioners, weekly schedules, leave, slots with a remaining-seat counter,
bookings (one live booking per client and slot), per-client lock rows; courses, enrolments and
class releases (escrow); refund reason unconsumed_classes (issue 17)

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0038"
down_revision: str | None = "0037"
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
)
REASONS = (*REASONS_BEFORE, "unconsumed_classes")


def _reasons(reasons: tuple[str, ...]) -> str:
    return "reason_code IN (" + ", ".join(f"'{r}'" for r in reasons) + ")"


def _refund_reasons(reasons: tuple[str, ...]) -> None:
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_refunds_reason_code"), type_="check")
        batch_op.create_check_constraint(op.f("ck_payment_refunds_reason_code"), _reasons(reasons))


def upgrade() -> None:
    _refund_reasons(REASONS)
    op.create_table(
        "services_client_locks",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_services_client_locks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_services_client_locks")),
    )
    op.create_table(
        "services_practitioners",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("real_name", sa.String(length=60), nullable=False),
        sa.Column("credential_kind", sa.String(length=16), nullable=False),
        sa.Column("credential_number", sa.String(length=60), nullable=False),
        sa.Column("practising_since", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "verified_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("verified_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "credential_kind IN ('doctor', 'pharmacist', 'teacher')",
            name=op.f("ck_services_practitioners_credential_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended')", name=op.f("ck_services_practitioners_status")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_practitioners_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_services_practitioners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by_user_id"],
            ["users.id"],
            name=op.f("fk_services_practitioners_verified_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_practitioners")),
        sa.UniqueConstraint(
            "organisation_id",
            "user_id",
            name=op.f("uq_services_practitioners_organisation_id_user_id"),
        ),
    )
    with op.batch_alter_table("services_practitioners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_practitioners_organisation_id"),
            ["organisation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_services_practitioners_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "services_leave",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("first_day <= last_day", name=op.f("ck_services_leave_days")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_leave_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_leave")),
    )
    with op.batch_alter_table("services_leave", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_leave_practitioner_id"), ["practitioner_id"], unique=False
        )

    op.create_table(
        "services_weekly_slots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("for_minors", sa.Boolean(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind = 'class' OR capacity = 1", name=op.f("ck_services_weekly_slots_consultation_one")
        ),
        sa.CheckConstraint(
            "kind IN ('consultation', 'class')", name=op.f("ck_services_weekly_slots_kind")
        ),
        sa.CheckConstraint(
            "mode IN ('online', 'offline')", name=op.f("ck_services_weekly_slots_mode")
        ),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_services_weekly_slots_capacity")),
        sa.CheckConstraint(
            "duration_minutes BETWEEN 5 AND 480", name=op.f("ck_services_weekly_slots_duration")
        ),
        sa.CheckConstraint(
            "start_minute BETWEEN 0 AND 1439", name=op.f("ck_services_weekly_slots_start_minute")
        ),
        sa.CheckConstraint(
            "weekday BETWEEN 0 AND 6", name=op.f("ck_services_weekly_slots_weekday")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_weekly_slots_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_weekly_slots_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_weekly_slots")),
    )
    with op.batch_alter_table("services_weekly_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_weekly_slots_practitioner_id"),
            ["practitioner_id"],
            unique=False,
        )

    op.create_table(
        "services_courses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "weekly_slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("subject_training", sa.Boolean(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("classes", sa.Integer(), nullable=False),
        sa.Column("class_minutes", sa.Integer(), nullable=False),
        sa.Column("price_per_class_fen", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_services_courses_status")),
        sa.CheckConstraint("classes > 0", name=op.f("ck_services_courses_classes")),
        sa.CheckConstraint("price_per_class_fen > 0", name=op.f("ck_services_courses_price")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_courses_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_courses_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["weekly_slot_id"],
            ["services_weekly_slots.id"],
            name=op.f("fk_services_courses_weekly_slot_id_services_weekly_slots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_courses")),
    )
    with op.batch_alter_table("services_courses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_courses_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "services_slots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "weekly_slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("starts_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("for_minors", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('consultation', 'class')", name=op.f("ck_services_slots_kind")
        ),
        sa.CheckConstraint("mode IN ('online', 'offline')", name=op.f("ck_services_slots_mode")),
        sa.CheckConstraint(
            "status IN ('open', 'cancelled')", name=op.f("ck_services_slots_status")
        ),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= capacity", name=op.f("ck_services_slots_remaining")
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_services_slots_times")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_slots_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_slots_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["weekly_slot_id"],
            ["services_weekly_slots.id"],
            name=op.f("fk_services_slots_weekly_slot_id_services_weekly_slots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_slots")),
        sa.UniqueConstraint(
            "practitioner_id", "starts_at", name=op.f("uq_services_slots_practitioner_id_starts_at")
        ),
    )
    with op.batch_alter_table("services_slots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_slots_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index("ix_services_slots_starts_at", ["starts_at"], unique=False)

    op.create_table(
        "services_enrolments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "course_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "client_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("classes", sa.Integer(), nullable=False),
        sa.Column("price_per_class_fen", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("intent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("released_classes", sa.Integer(), nullable=False),
        sa.Column("refunded_classes", sa.Integer(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'expired')",
            name=op.f("ck_services_enrolments_status"),
        ),
        sa.CheckConstraint(
            "released_classes >= 0 AND refunded_classes >= 0 "
            "AND released_classes + refunded_classes <= classes",
            name=op.f("ck_services_enrolments_classes"),
        ),
        sa.ForeignKeyConstraint(
            ["client_user_id"],
            ["users.id"],
            name=op.f("fk_services_enrolments_client_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["services_courses.id"],
            name=op.f("fk_services_enrolments_course_id_services_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["payment_intents.id"],
            name=op.f("fk_services_enrolments_intent_id_payment_intents"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_enrolments_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_enrolments")),
    )
    with op.batch_alter_table("services_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "uq_services_enrolments_course_client",
            ["course_id", "client_user_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'expired'"),
            postgresql_where=sa.text("status <> 'expired'"),
        )
        batch_op.create_index(
            batch_op.f("ix_services_enrolments_client_user_id"), ["client_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_services_enrolments_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "services_bookings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "client_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "enrolment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("starts_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_in_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "checked_in_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("completed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("no_show_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=10), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "cancelled_by IS NULL OR cancelled_by IN ('client', 'provider', 'system')",
            name=op.f("ck_services_bookings_cancelled_by"),
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'checked_in', 'completed', 'no_show', 'cancelled')",
            name=op.f("ck_services_bookings_status"),
        ),
        sa.ForeignKeyConstraint(
            ["checked_in_by_user_id"],
            ["users.id"],
            name=op.f("fk_services_bookings_checked_in_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["client_user_id"],
            ["users.id"],
            name=op.f("fk_services_bookings_client_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["services_enrolments.id"],
            name=op.f("fk_services_bookings_enrolment_id_services_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_bookings_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_bookings_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["services_slots.id"],
            name=op.f("fk_services_bookings_slot_id_services_slots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_bookings")),
    )
    with op.batch_alter_table("services_bookings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_services_bookings_client_time", ["client_user_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_services_bookings_enrolment_id"), ["enrolment_id"], unique=False
        )
        batch_op.create_index(
            "ix_services_bookings_org_time", ["organisation_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_services_bookings_practitioner_id"), ["practitioner_id"], unique=False
        )
        batch_op.create_index(
            "uq_services_bookings_slot_client",
            ["slot_id", "client_user_id"],
            unique=True,
            sqlite_where=sa.text("status <> 'cancelled'"),
            postgresql_where=sa.text("status <> 'cancelled'"),
        )

    op.create_table(
        "services_class_releases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "enrolment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "booking_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("released_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["services_bookings.id"],
            name=op.f("fk_services_class_releases_booking_id_services_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["services_enrolments.id"],
            name=op.f("fk_services_class_releases_enrolment_id_services_enrolments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_class_releases")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_services_class_releases_booking_id")),
    )
    with op.batch_alter_table("services_class_releases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_class_releases_enrolment_id"), ["enrolment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("services_class_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_class_releases_enrolment_id"))

    op.drop_table("services_class_releases")
    with op.batch_alter_table("services_bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_services_bookings_slot_client",
            sqlite_where=sa.text("status <> 'cancelled'"),
            postgresql_where=sa.text("status <> 'cancelled'"),
        )
        batch_op.drop_index(batch_op.f("ix_services_bookings_practitioner_id"))
        batch_op.drop_index("ix_services_bookings_org_time")
        batch_op.drop_index(batch_op.f("ix_services_bookings_enrolment_id"))
        batch_op.drop_index("ix_services_bookings_client_time")

    op.drop_table("services_bookings")
    with op.batch_alter_table("services_enrolments", schema=None) as batch_op:
        batch_op.drop_index("uq_services_enrolments_course_client")
        batch_op.drop_index(batch_op.f("ix_services_enrolments_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_services_enrolments_client_user_id"))

    op.drop_table("services_enrolments")
    with op.batch_alter_table("services_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_services_slots_starts_at")
        batch_op.drop_index(batch_op.f("ix_services_slots_organisation_id"))

    op.drop_table("services_slots")
    with op.batch_alter_table("services_courses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_courses_organisation_id"))

    op.drop_table("services_courses")
    with op.batch_alter_table("services_weekly_slots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_weekly_slots_practitioner_id"))

    op.drop_table("services_weekly_slots")
    with op.batch_alter_table("services_leave", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_leave_practitioner_id"))

    op.drop_table("services_leave")
    with op.batch_alter_table("services_practitioners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_practitioners_user_id"))
        batch_op.drop_index(batch_op.f("ix_services_practitioners_organisation_id"))

    op.drop_table("services_practitioners")
    op.drop_table("services_client_locks")
    _refund_reasons(REASONS_BEFORE)
