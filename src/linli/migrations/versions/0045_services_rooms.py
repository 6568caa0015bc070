"""services: the online session room: practitioners' real-name checks before each session,
the room's attendance (each connection's join and leave times) and its signalling relay
(issue 17)

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-06 19:45:32
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import linli.db

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "services_identity_checks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "practitioner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "organisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("checked_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "method IN ('name_and_credential_last4')",
            name=op.f("ck_services_identity_checks_method"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_services_identity_checks_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["services_practitioners.id"],
            name=op.f("fk_services_identity_checks_practitioner_id_services_practitioners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["services_slots.id"],
            name=op.f("fk_services_identity_checks_slot_id_services_slots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_services_identity_checks_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_identity_checks")),
        sa.UniqueConstraint(
            "slot_id",
            "practitioner_id",
            name=op.f("uq_services_identity_checks_slot_id_practitioner_id"),
        ),
    )
    with op.batch_alter_table("services_identity_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_identity_checks_practitioner_id"),
            ["practitioner_id"],
            unique=False,
        )

    op.create_table(
        "services_room_attendance",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "booking_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("joined_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", linli.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('client', 'practitioner')", name=op.f("ck_services_room_attendance_role")
        ),
        sa.CheckConstraint(
            "left_at IS NULL OR left_at >= joined_at",
            name=op.f("ck_services_room_attendance_times"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["services_bookings.id"],
            name=op.f("fk_services_room_attendance_booking_id_services_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["services_slots.id"],
            name=op.f("fk_services_room_attendance_slot_id_services_slots"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_services_room_attendance_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_room_attendance")),
    )
    with op.batch_alter_table("services_room_attendance", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_services_room_attendance_booking_id"), ["booking_id"], unique=False
        )
        batch_op.create_index(
            "ix_services_room_attendance_slot_user", ["slot_id", "user_id"], unique=False
        )

    op.create_table(
        "services_room_signals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_peer", sa.Integer(), nullable=False),
        sa.Column("from_role", sa.String(length=12), nullable=False),
        sa.Column("to_peer", sa.Integer(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", linli.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["slot_id"],
            ["services_slots.id"],
            name=op.f("fk_services_room_signals_slot_id_services_slots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services_room_signals")),
    )
    with op.batch_alter_table("services_room_signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_services_room_signals_at"), ["at"], unique=False)
        batch_op.create_index("ix_services_room_signals_slot_id", ["slot_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("services_room_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_services_room_signals_slot_id")
        batch_op.drop_index(batch_op.f("ix_services_room_signals_at"))
    op.drop_table("services_room_signals")
    with op.batch_alter_table("services_room_attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_services_room_attendance_slot_user")
        batch_op.drop_index(batch_op.f("ix_services_room_attendance_booking_id"))

    op.drop_table("services_room_attendance")
    with op.batch_alter_table("services_identity_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_services_identity_checks_practitioner_id"))

    op.drop_table("services_identity_checks")
