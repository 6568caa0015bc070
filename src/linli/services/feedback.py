"""Consumer protection on services: the client reviews a completed session (a verified
purchase), once, and complains about a booked session or a course enrolment, against the
provider. Both go through protection's machinery (docs/protection-reviews.md,
docs/protection-complaints.md): the same tables, the provider's reply, the 12315 flow with its
working-day clocks. This module only checks that the booking or enrolment is the client's own
(404 otherwise, as for one that does not exist) before asking protection.

Credit counts no-shows and provider cancellations from the booking events
(`credit/handlers.py`); an upheld or mediated complaint counts against the provider as any
complaint does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.protection import complaints, reviews
from linli.protection.complaint_schemas import ComplaintOut
from linli.protection.review_schemas import ReviewOut, present_review
from linli.schemas import StrictInput
from linli.services.models import Course, Enrolment
from linli.services.policies import access_own_booking
from linli.services.states import BookingStatus


class ServiceComplaintIn(StrictInput):
    """A complaint about a booking or an enrolment (the API's body and the page's form)."""

    text: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="Plain text; shown escaped"
    )
    to: Literal["platform", "regulator"] = Field(
        description="platform: a platform dispute; regulator: the one covering the provider"
    )


async def review_booking(
    session: AsyncSession, actor: Actor, booking_id: int, rating: int, text: str
) -> ReviewOut:
    """The client's one review of a session they attended (completed by the provider)."""
    booking = await access_own_booking(session, actor, booking_id)
    if booking.status != BookingStatus.COMPLETED:
        raise Conflict(N_("Only a session that took place can be reviewed."), code="not_completed")
    row = await reviews.post_service_review(
        session,
        actor,
        reviews.ServiceReviewInput(
            booking_id=booking.id,
            organisation_id=booking.organisation_id,
            title=booking.title,
            rating=rating,
            text=text,
        ),
    )
    return present_review(row)


async def provider_reviews(
    session: AsyncSession, actor: Actor, organisation_id: int, page: int = 1
) -> tuple[reviews.RatingSummary, reviews.ReviewPage]:
    """The reviews of a provider's sessions (hidden ones for operators only) and their
    rating summary."""
    summary = await reviews.rating_summary(
        session, organisation_id=organisation_id, services_only=True
    )
    found = await reviews.public_reviews(
        session, actor, organisation_id=organisation_id, services_only=True, page=page
    )
    return summary, found


async def complain_about_booking(
    session: AsyncSession, actor: Actor, booking_id: int, text: str, to: str
) -> ComplaintOut:
    """A complaint about one of the client's own booked sessions (any status)."""
    booking = await access_own_booking(session, actor, booking_id)
    row = await complaints.file_service_complaint(
        session,
        actor,
        complaints.ServiceSubject(
            organisation_id=booking.organisation_id,
            title=booking.title,
            booking_id=booking.id,
        ),
        text,
        to,
    )
    return ComplaintOut.model_validate(row)


async def complain_about_enrolment(
    session: AsyncSession, actor: Actor, enrolment_id: int, text: str, to: str
) -> ComplaintOut:
    """A complaint about one of the client's own course enrolments (any status)."""
    found = (
        await session.execute(
            select(Enrolment, Course.title)
            .join(Course, Course.id == Enrolment.course_id)
            .where(
                Enrolment.id == enrolment_id,
                Enrolment.client_user_id == actor.require_user_id(),
            )
        )
    ).first()
    if found is None:
        raise NotFound(N_("No such enrolment."))
    enrolment, title = found
    row = await complaints.file_service_complaint(
        session,
        actor,
        complaints.ServiceSubject(
            organisation_id=enrolment.organisation_id,
            title=title,
            enrolment_id=enrolment.id,
        ),
        text,
        to,
    )
    return ComplaintOut.model_validate(row)
