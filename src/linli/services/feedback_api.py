"""JSON routes: reviews and complaints on services (docs/services.md "Consumer protection and
credit"). Filing goes through here (the services domain checks the booking or enrolment is the
caller's own); the rest of both flows (the provider's reply, the complaint's steps, the
provider's and the decider's lists) is protection's API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from linli.apitypes import PathId
from linli.authz import Actor, current_actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.protection.complaint_schemas import ComplaintOut
from linli.protection.review_schemas import (
    ReviewListOut,
    ReviewOut,
    ServiceReviewIn,
    present_review,
    present_summary,
)
from linli.protection.reviews import MAX_PAGE
from linli.services import feedback
from linli.services.feedback import ServiceComplaintIn

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
AnyActor = Annotated[Actor, Depends(current_actor)]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.post(
    "/bookings/{booking_id}/review",
    status_code=201,
    summary="Review a session you attended (rating 1-5, text), once",
    description="Only your own booking (404 otherwise), completed by the provider (409 "
    "`not_completed`); a second review is 409 `already_reviewed`. The provider may reply once "
    "(`POST /api/v1/protection/reviews/{id}/reply`).",
)
async def review(
    booking_id: PathId, data: ServiceReviewIn, session: DbSession, actor: Resident
) -> ReviewOut:
    return await feedback.review_booking(session, actor, booking_id, data.rating, data.text)


@router.get(
    "/providers/{organisation_id}/reviews",
    summary="Reviews of a provider's sessions, newest first, with their rating (public)",
)
async def provider_reviews(
    organisation_id: PathId, session: DbSession, actor: AnyActor, page: PageNo = 1
) -> ReviewListOut:
    summary, found = await feedback.provider_reviews(session, actor, organisation_id, page)
    return ReviewListOut(
        summary=present_summary(summary) if page == 1 else None,
        reviews=[present_review(row) for row in found.rows],
        page=found.page,
        has_next=found.has_next,
    )


@router.post(
    "/bookings/{booking_id}/complaint",
    status_code=201,
    summary="Complain about one of your booked sessions (12315 flow, against the provider)",
    description="Your own booking only (404 otherwise); one open complaint per booking (409 "
    "`complaint_open`). Follow it at `/api/v1/protection/complaints/{id}`.",
)
async def complain_about_booking(
    booking_id: PathId, data: ServiceComplaintIn, session: DbSession, actor: Resident
) -> ComplaintOut:
    return await feedback.complain_about_booking(session, actor, booking_id, data.text, data.to)


@router.post(
    "/enrolments/{enrolment_id}/complaint",
    status_code=201,
    summary="Complain about one of your course enrolments (12315 flow, against the school)",
    description="Your own enrolment only (404 otherwise); one open complaint per enrolment "
    "(409 `complaint_open`).",
)
async def complain_about_enrolment(
    enrolment_id: PathId, data: ServiceComplaintIn, session: DbSession, actor: Resident
) -> ComplaintOut:
    return await feedback.complain_about_enrolment(session, actor, enrolment_id, data.text, data.to)
