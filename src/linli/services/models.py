"""Practitioners, their weekly schedules and leave, slots and bookings.

A slot's seats move only by conditional UPDATE of `remaining` (0..capacity), as group buying's
stock does; a client's bookings are serialised on their row of `services_client_locks`, so the
overlap check after it sees every booking committed before; and one client holds at most one
live booking of a slot (a partial unique index).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class Practitioner(Base):
    """A verified account of a provider organisation: a doctor, pharmacist or teacher."""

    __tablename__ = "services_practitioners"
    __table_args__ = (
        CheckConstraint(
            "credential_kind IN ('doctor', 'pharmacist', 'teacher')", name="credential_kind"
        ),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        UniqueConstraint("organisation_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    real_name: Mapped[str] = mapped_column(String(60))
    credential_kind: Mapped[str] = mapped_column(String(16))
    credential_number: Mapped[str] = mapped_column(String(60))
    # Doctors: the first day of independent practice (>= 3 years before registration).
    practising_since: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="active")
    verified_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WeeklySlot(Base):
    """One recurring session of a practitioner's week (local Asia/Shanghai time)."""

    __tablename__ = "services_weekly_slots"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", name="start_minute"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        CheckConstraint("capacity >= 1", name="capacity"),
        CheckConstraint("kind IN ('consultation', 'class')", name="kind"),
        CheckConstraint("mode IN ('online', 'offline')", name="mode"),
        CheckConstraint("kind = 'class' OR capacity = 1", name="consultation_one"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    weekday: Mapped[int]  # 0 = Monday
    start_minute: Mapped[int]  # minutes after local midnight
    duration_minutes: Mapped[int]
    capacity: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(10))
    # a class for minors: the timetable limits of rule services.minors_timetable apply
    for_minors: Mapped[bool] = mapped_column(Boolean, default=False)
    # the offering's category: under `medical` for a consultation, `education` for a class
    # (service_categories.py); its slots copy it
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # withdrawn by the provider: no more slots are made from it (schedule_changes.py)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Leave(Base):
    """Days a practitioner does not work (inclusive, local dates): no slots are made."""

    __tablename__ = "services_leave"
    __table_args__ = (CheckConstraint("first_day <= last_day", name="days"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE"), index=True
    )
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Slot(Base):
    """A bookable session: a practitioner's time with `capacity` seats, `remaining` free."""

    __tablename__ = "services_slots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= capacity", name="remaining"),
        CheckConstraint("starts_at < ends_at", name="times"),
        CheckConstraint("kind IN ('consultation', 'class')", name="kind"),
        CheckConstraint("mode IN ('online', 'offline')", name="mode"),
        CheckConstraint("status IN ('open', 'cancelled')", name="status"),
        UniqueConstraint("practitioner_id", "starts_at"),
        Index("ix_services_slots_starts_at", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    weekly_slot_id: Mapped[int | None] = mapped_column(
        ForeignKey("services_weekly_slots.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int]
    remaining: Mapped[int]
    for_minors: Mapped[bool] = mapped_column(Boolean, default=False)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Booking(Base):
    """A client's seat in a slot. Title, mode and times copy the slot's (the overlap check
    reads them here)."""

    __tablename__ = "services_bookings"
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'checked_in', 'completed', 'no_show', 'cancelled')",
            name="status",
        ),
        CheckConstraint(
            "cancelled_by IS NULL OR cancelled_by IN ('client', 'provider', 'system')",
            name="cancelled_by",
        ),
        # One live booking per client and slot; a cancelled one may be booked again.
        Index(
            "uq_services_bookings_slot_client",
            "slot_id",
            "client_user_id",
            unique=True,
            sqlite_where=text("status <> 'cancelled'"),
            postgresql_where=text("status <> 'cancelled'"),
        ),
        Index("ix_services_bookings_client_time", "client_user_id", "starts_at"),
        Index("ix_services_bookings_org_time", "organisation_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("services_slots.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE"), index=True
    )
    client_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # a class of a course the client enrolled in (paid into escrow, released when delivered)
    enrolment_id: Mapped[int | None] = mapped_column(
        ForeignKey("services_enrolments.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    mode: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # the practitioner's real name as confirmed by the provider when the session began
    checked_in_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(10))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class ClientLock(Base):
    """One row per client who ever booked: a booking takes it first (an upsert), so two
    bookings of one client never check for overlaps side by side."""

    __tablename__ = "services_client_locks"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    bookings: Mapped[int] = mapped_column(default=0)


class Course(Base):
    """A training school's course: the classes of one weekly session between two days, sold
    in one collection (rule services.training_prepaid limits what it may cover)."""

    __tablename__ = "services_courses"
    __table_args__ = (
        CheckConstraint("price_per_class_fen > 0", name="price"),
        CheckConstraint("classes > 0", name="classes"),
        CheckConstraint("status IN ('open', 'closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE")
    )
    weekly_slot_id: Mapped[int] = mapped_column(
        ForeignKey("services_weekly_slots.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(120))
    # under `education`; subject training is the category `subject_tutoring` or below it
    # (service_categories.py): the flag below is read from the category when the course is made
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    subject_training: Mapped[bool] = mapped_column(Boolean, default=False)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    classes: Mapped[int]
    class_minutes: Mapped[int]
    price_per_class_fen: Mapped[int]
    rule_version: Mapped[int]  # the version of services.training_prepaid it was checked under
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # course_changes.py: what the school tells about it; withdrawn (status closed): when, why
    description: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdraw_reason: Mapped[str | None] = mapped_column(String(200))


class Enrolment(Base):
    """A client's place in a course, paid in one collection into the school's escrow
    account; `released_classes` were delivered (their fee went to the school),
    `refunded_classes` were given back."""

    __tablename__ = "services_enrolments"
    __table_args__ = (
        CheckConstraint("status IN ('pending_payment', 'paid', 'expired')", name="status"),
        CheckConstraint(
            "released_classes >= 0 AND refunded_classes >= 0 "
            "AND released_classes + refunded_classes <= classes",
            name="classes",
        ),
        # one live enrolment per client and course; an expired one may be made again
        Index(
            "uq_services_enrolments_course_client",
            "course_id",
            "client_user_id",
            unique=True,
            sqlite_where=text("status <> 'expired'"),
            postgresql_where=text("status <> 'expired'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("services_courses.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    client_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    classes: Mapped[int]
    price_per_class_fen: Mapped[int]
    amount_fen: Mapped[int]
    intent_id: Mapped[int | None] = mapped_column(ForeignKey("payment_intents.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending_payment")
    released_classes: Mapped[int] = mapped_column(default=0)
    refunded_classes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClassRelease(Base):
    """One delivered class's fee moved from escrow to the school: at most once per booking."""

    __tablename__ = "services_class_releases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enrolment_id: Mapped[int] = mapped_column(
        ForeignKey("services_enrolments.id", ondelete="CASCADE"), index=True
    )
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("services_bookings.id", ondelete="CASCADE"), unique=True
    )
    amount_fen: Mapped[int]
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConsultationRecord(Base):
    """The medical record of a follow-up consultation with a doctor: the diagnosis document
    from a physical institution it was booked with, the doctor's decision on it, and the
    outcome. Kept for rule services.medical_records' `consultation_record_years` after the
    consultation, then purged (the booking row, a transaction record, stays)."""

    __tablename__ = "services_consultation_records"
    __table_args__ = (
        CheckConstraint(
            "document_status IN ('submitted', 'accepted', 'rejected')", name="document_status"
        ),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('follow_up', 'referred_offline')", name="outcome"
        ),
        Index("ix_services_consultation_records_org_time", "organisation_id", "held_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("services_bookings.id", ondelete="CASCADE"), unique=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE")
    )
    client_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the consultation's start
    # the diagnosis document from a physical institution
    institution: Mapped[str] = mapped_column(String(120))
    diagnosed_on: Mapped[date] = mapped_column(Date)
    condition: Mapped[str] = mapped_column(String(200))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))
    document_status: Mapped[str] = mapped_column(String(10), default="submitted")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_note: Mapped[str | None] = mapped_column(String(500))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Prescription(Base):
    """A prescription written by the treating doctor of a consultation, signed over its
    content; effective only once a pharmacist of the same organisation approved it, valid
    from `issued_on` to `valid_until` (local days)."""

    __tablename__ = "services_prescriptions"
    __table_args__ = (
        CheckConstraint("status IN ('pending_review', 'approved', 'rejected')", name="status"),
        CheckConstraint(
            "drug_class IN ('ordinary', 'toxic', 'psychotropic_2', 'psychotropic_1', 'narcotic')",
            name="drug_class",
        ),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("issued_on <= valid_until", name="validity"),
        Index("ix_services_prescriptions_org_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("services_consultation_records.id", ondelete="CASCADE"), index=True
    )
    booking_id: Mapped[int] = mapped_column(ForeignKey("services_bookings.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    client_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    doctor_practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE")
    )
    doctor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    drug_name: Mapped[str] = mapped_column(String(120))
    drug_class: Mapped[str] = mapped_column(String(16))
    dosage: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit: Mapped[str] = mapped_column(String(20))
    # HMAC (itsdangerous, the app's secret key) over the content, by the doctor
    signature: Mapped[str] = mapped_column(String(120))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending_review")
    reviewed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(String(200))
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    # recorded once by a pharmacist of the organisation, only while approved and valid
    dispensed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispensed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdentityCheck(Base):
    """A practitioner's real-name check before one session (slot) they run: their registered
    real name and the last four characters of their credential number re-entered and matched
    against the practitioner record. The room and check-in of the slot need it; mismatches are
    refused and audited (`services.identity.mismatch`), never stored here."""

    __tablename__ = "services_identity_checks"
    __table_args__ = (
        UniqueConstraint("slot_id", "practitioner_id"),
        CheckConstraint("method IN ('name_and_credential_last4')", name="method"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("services_slots.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        ForeignKey("services_practitioners.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(32))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoomAttendance(Base):
    """One connection of a party to an online session's room: joined, last seen (refreshed
    while connected), left (NULL while connected, or when the process serving it died: then it
    ends when last seen). A reconnect is a new row; attendance is the union of a user's rows
    within the slot's time."""

    __tablename__ = "services_room_attendance"
    __table_args__ = (
        CheckConstraint("role IN ('client', 'practitioner')", name="role"),
        CheckConstraint("left_at IS NULL OR left_at >= joined_at", name="times"),
        Index("ix_services_room_attendance_slot_user", "slot_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("services_slots.id", ondelete="CASCADE"))
    # the booking whose join link opened the room (the client's own; for the practitioner,
    # one of the slot's bookings)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("services_bookings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(12))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RoomSignal(Base):
    """A message between the connections of an online session's room (WebRTC signalling, a
    party joining or leaving), written by the process serving the sender and read by every
    process serving the room (relay.py); kept a few minutes."""

    __tablename__ = "services_room_signals"
    __table_args__ = (Index("ix_services_room_signals_slot_id", "slot_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("services_slots.id", ondelete="CASCADE"))
    # the sending connection (an attendance row's id) and its role; to one connection, or NULL:
    # to every connection of the room the star lets it reach
    from_peer: Mapped[int]
    from_role: Mapped[str] = mapped_column(String(12))
    to_peer: Mapped[int | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONData)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
