"""Services' part of a resident's personal data (linli.personal_data, docs/privacy.md): their
bookings and course enrolments for the export, their connections to online session rooms
(attendance) and, as a practitioner, their real-name checks, with their medical records
(consultation records and prescriptions, kept for their retention period, rule
services.medical_records); a
booking still to come, or a paid course with classes neither delivered nor refunded (money in
escrow), keeps the account open. Bookings and enrolments are transaction records: never
erased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, personal_data
from linli.i18n import N_, Message
from linli.services.models import (
    Booking,
    ConsultationRecord,
    Enrolment,
    IdentityCheck,
    Prescription,
    RoomAttendance,
)
from linli.services.states import HOLDING, EnrolmentStatus


async def export_services(session: AsyncSession, user_id: int) -> dict[str, Any]:
    bookings = (
        await session.scalars(
            select(Booking).where(Booking.client_user_id == user_id).order_by(Booking.id)
        )
    ).all()
    enrolments = (
        await session.scalars(
            select(Enrolment).where(Enrolment.client_user_id == user_id).order_by(Enrolment.id)
        )
    ).all()
    records = (
        await session.scalars(
            select(ConsultationRecord)
            .where(ConsultationRecord.client_user_id == user_id)
            .order_by(ConsultationRecord.id)
        )
    ).all()
    prescriptions = (
        await session.scalars(
            select(Prescription)
            .where(Prescription.client_user_id == user_id)
            .order_by(Prescription.id)
        )
    ).all()
    attendance = (
        await session.scalars(
            select(RoomAttendance)
            .where(RoomAttendance.user_id == user_id)
            .order_by(RoomAttendance.id)
        )
    ).all()
    checks = (
        await session.scalars(
            select(IdentityCheck).where(IdentityCheck.user_id == user_id).order_by(IdentityCheck.id)
        )
    ).all()
    return {
        # each connection to an online session's room (join and leave times: attendance)
        "room_attendance": [
            {
                "booking_id": a.booking_id,
                "role": a.role,
                "joined_at": a.joined_at,
                "left_at": a.left_at,
            }
            for a in attendance
        ],
        # a practitioner's real-name checks before the sessions they ran
        "identity_checks": [
            {"slot_id": c.slot_id, "method": c.method, "checked_at": c.checked_at} for c in checks
        ],
        "consultation_records": [
            {
                "booking_id": r.booking_id,
                "organisation_id": r.organisation_id,
                "institution": r.institution,
                "diagnosed_on": r.diagnosed_on,
                "condition": r.condition,
                "document_status": r.document_status,
                "reject_reason": r.reject_reason,
                "outcome": r.outcome,
                "outcome_note": r.outcome_note,
            }
            for r in records
        ],
        "prescriptions": [
            {
                "id": p.id,
                "booking_id": p.booking_id,
                "organisation_id": p.organisation_id,
                "drug_name": p.drug_name,
                "drug_class": p.drug_class,
                "dosage": p.dosage,
                "quantity": p.quantity,
                "unit": p.unit,
                "status": p.status,
                "issued_on": p.issued_on,
                "valid_until": p.valid_until,
            }
            for p in prescriptions
        ],
        "bookings": [
            {
                "id": b.id,
                "organisation_id": b.organisation_id,
                "title": b.title,
                "mode": b.mode,
                "starts_at": b.starts_at,
                "ends_at": b.ends_at,
                "status": b.status,
                "enrolment_id": b.enrolment_id,
                "created_at": b.created_at,
                "checked_in_at": b.checked_in_at,
                "completed_at": b.completed_at,
                "no_show_at": b.no_show_at,
                "cancelled_at": b.cancelled_at,
                "cancelled_by": b.cancelled_by,
            }
            for b in bookings
        ],
        "enrolments": [
            {
                "id": e.id,
                "course_id": e.course_id,
                "organisation_id": e.organisation_id,
                "classes": e.classes,
                "amount_fen": e.amount_fen,
                "status": e.status,
                "released_classes": e.released_classes,
                "refunded_classes": e.refunded_classes,
                "created_at": e.created_at,
                "paid_at": e.paid_at,
            }
            for e in enrolments
        ],
    }


async def open_services(session: AsyncSession, user_id: int) -> list[Message]:
    found: list[Message] = []
    coming = await session.scalar(
        select(func.count()).where(
            Booking.client_user_id == user_id,
            Booking.status.in_(HOLDING),
            Booking.ends_at > clock.now(),
        )
    )
    if coming:
        found.append(
            Message(
                N_("Bookings still to come: {count}. Cancel them or attend first."),
                {"count": coming},
            )
        )
    unsettled = await session.scalar(
        select(func.count()).where(
            Enrolment.client_user_id == user_id,
            Enrolment.status == EnrolmentStatus.PAID,
            Enrolment.released_classes + Enrolment.refunded_classes < Enrolment.classes,
        )
    )
    if unsettled:
        found.append(
            Message(
                N_("Courses with classes still paid for: {count}. Finish or refund them first."),
                {"count": unsettled},
            )
        )
    return found


async def last_service(session: AsyncSession, user_id: int) -> datetime | None:
    booked = await session.scalar(
        select(func.max(Booking.ends_at)).where(Booking.client_user_id == user_id)
    )
    paid = await session.scalar(
        select(func.max(Enrolment.paid_at)).where(Enrolment.client_user_id == user_id)
    )
    return max((m for m in (booked, paid) if m is not None), default=None)


personal_data.provide_export_section("services", export_services)
personal_data.provide_open_obligations("services", open_services)
personal_data.provide_last_transaction("services", last_service)
