"""Pages: the client reviews a session they attended and complains about a booking or a
course enrolment, from "My bookings" and "My courses" (docs/services.md "Consumer protection
and credit"). A filed complaint is then followed on protection's complaint pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.i18n import _
from linli.protection.complaint_schemas import ComplaintOut
from linli.protection.review_schemas import ReviewOut, ServiceReviewIn
from linli.services import feedback
from linli.services.feedback import ServiceComplaintIn
from linli.web import flash_error, form_action, form_data, redirect, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]


def _review_form(form: dict[str, str]) -> dict[str, Any]:
    rating = form.get("rating", "")
    return {"rating": int(rating) if rating.isdigit() else rating, "text": form.get("text", "")}


@router.post("/services/bookings/{booking_id}/review")
async def review(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def do() -> ReviewOut:
        data = validate_form(ServiceReviewIn, _review_form(form))
        return await feedback.review_booking(session, actor, booking_id, data.rating, data.text)

    done = await form_action(session, do, on_error=flash_error("/services/bookings"))
    if isinstance(done, Response):
        return done
    return redirect("/services/bookings", text=_("Thank you: your review is published."))


async def _complain(
    request: Request, session: DbSession, actor: Actor, back: str, what: str, row_id: int
) -> Response:
    form = await form_data(request)

    async def do() -> ComplaintOut:
        data = validate_form(ServiceComplaintIn, form)
        if what == "booking":
            return await feedback.complain_about_booking(session, actor, row_id, data.text, data.to)
        return await feedback.complain_about_enrolment(session, actor, row_id, data.text, data.to)

    done = await form_action(session, do, on_error=flash_error(back))
    if isinstance(done, Response):
        return done
    return redirect(f"/protection/complaints/{done.id}", text=_("Complaint filed."))


@router.post("/services/bookings/{booking_id}/complaint")
async def complain_about_booking(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _complain(request, session, actor, "/services/bookings", "booking", booking_id)


@router.post("/services/enrolments/{enrolment_id}/complaint")
async def complain_about_enrolment(
    enrolment_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _complain(request, session, actor, "/services/courses", "enrolment", enrolment_id)
