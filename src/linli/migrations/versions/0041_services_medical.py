"""services: Internet+medical follow-up care: consultation records (the diagnosis document of
a physical institution, the doctor's decision, the outcome) and prescriptions (signed, reviewed
by a pharmacist, valid for their day) (issue 17)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06 16:58:26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import linli.db

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "services_consultation_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "booking_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "client_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("held_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("institution", sa.String(length=120), nullable=False),
        sa.Column("diagnosed_on", sa.Date(), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("file_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("document_status", sa.String(length=10), nullable=False),
        sa.Column("reviewed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "reviewed_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("reject_reason", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_note", sa.String(length=500), nullable=True),
        sa.Column("ended_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "document_status IN ('submitted', 'accepted', 'rejected')",
            name=op.f("ck_services_consultation_records_document_status"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('follow_up', 'referred_offline')",
            name=op.f("ck_services_consultation_records_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["services_bookings.id"],
            name=op.f("fk_services_consultation_records_booking_id_services_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_user_id"],
            ["users.id"],
            name=op.f("fk_services_consultation_records_client_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["stored_files.id"],
            name=op.f("fk_services_consultation_records_file_id_stored_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_consultation_records_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_consultation_records_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["users.id"],
            name=op.f("fk_services_consultation_records_reviewed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_consultation_records")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_services_consultation_records_booking_id")),
    )
    with op.batch_alter_table("services_consultation_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_consultation_records_client_user_id"),
            ["client_user_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_services_consultation_records_org_time",
            ["organisation_id", "held_at"],
            unique=False,
        )

    op.create_table(
        "services_prescriptions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "booking_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "client_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "doctor_practitioner_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "doctor_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("drug_name", sa.String(length=120), nullable=False),
        sa.Column("drug_class", sa.String(length=16), nullable=False),
        sa.Column("dosage", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("signature", sa.String(length=120), nullable=False),
        sa.Column("signed_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reviewed_by_user_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("reviewed_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.String(length=200), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "drug_class IN ('ordinary', 'toxic', 'psychotropic_2', 'psychotropic_1', 'narcotic')",
            name=op.f("ck_services_prescriptions_drug_class"),
        ),
        sa.CheckConstraint(
            "status IN ('pending_review', 'approved', 'rejected')",
            name=op.f("ck_services_prescriptions_status"),
        ),
        sa.CheckConstraint(
            "issued_on <= valid_until", name=op.f("ck_services_prescriptions_validity")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_services_prescriptions_quantity")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["services_bookings.id"],
            name=op.f("fk_services_prescriptions_booking_id_services_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_user_id"],
            ["users.id"],
            name=op.f("fk_services_prescriptions_client_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_prescriptions_doctor_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_user_id"],
            ["users.id"],
            name=op.f("fk_services_prescriptions_doctor_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_prescriptions_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["services_consultation_records.id"],
            name=op.f("fk_services_prescriptions_record_id_services_consultation_records"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_user_id"],
            ["users.id"],
            name=op.f("fk_services_prescriptions_reviewed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_prescriptions")),
    )
    with op.batch_alter_table("services_prescriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_prescriptions_client_user_id"), ["client_user_id"], unique=False
        )
        batch_op.create_index(
            "ix_services_prescriptions_org_status", ["organisation_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_services_prescriptions_record_id"), ["record_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("services_prescriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_prescriptions_record_id"))
        batch_op.drop_index("ix_services_prescriptions_org_status")
        batch_op.drop_index(batch_op.f("ix_services_prescriptions_client_user_id"))

    op.drop_table("services_prescriptions")
    with op.batch_alter_table("services_consultation_records", schema=None) as batch_op:
        batch_op.drop_index("ix_services_consultation_records_org_time")
        batch_op.drop_index(batch_op.f("ix_services_consultation_records_client_user_id"))

    op.drop_table("services_consultation_records")
