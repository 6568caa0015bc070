"""Online services' face for consumption statistics, per category of the offering: course
enrolments paid in a period (their fee net of the classes refunded so far), and consultations
held in it (completed; a consultation carries no fee on Linli today, so it counts at ¥0.00)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.categories.spending import Period, Spending, in_scope
from linli.services.models import Booking, Course, Enrolment, Slot
from linli.services.states import BookingStatus, EnrolmentStatus, SlotKind


async def enrolments_by_category(
    session: AsyncSession, period: Period, organisation_ids: Select[Any] | None
) -> list[Spending]:
    """Enrolments paid within `period` (`paid_at`) of the schools `organisation_ids` selects
    (None: all), per course category; counted while some of the fee is kept."""
    net = Enrolment.amount_fen - Enrolment.refunded_classes * Enrolment.price_per_class_fen
    rows = await session.execute(
        select(
            Course.category_id,
            func.coalesce(func.sum(net), 0),
            func.count(case((net > 0, Enrolment.id))),
        )
        .select_from(Enrolment)
        .join(Course, Course.id == Enrolment.course_id)
        .where(
            Enrolment.status == EnrolmentStatus.PAID,
            Enrolment.paid_at >= period.start,
            Enrolment.paid_at < period.end,
            in_scope(Enrolment.organisation_id, organisation_ids),
        )
        .group_by(Course.category_id)
    )
    return [Spending(int(c), int(a), int(n)) for c, a, n in rows.all()]


async def consultations_by_category(
    session: AsyncSession, period: Period, organisation_ids: Select[Any] | None
) -> list[Spending]:
    """Consultations completed that started within `period`, of the providers
    `organisation_ids` selects (None: all), per category (no fee: amount 0)."""
    rows = await session.execute(
        select(Slot.category_id, func.count())
        .select_from(Booking)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(
            Slot.kind == SlotKind.CONSULTATION,
            Booking.status == BookingStatus.COMPLETED,
            Booking.starts_at >= period.start,
            Booking.starts_at < period.end,
            in_scope(Booking.organisation_id, organisation_ids),
        )
        .group_by(Slot.category_id)
    )
    return [Spending(int(c), 0, int(n)) for c, n in rows.all()]
