"""HTML pages for online services: find a session and book it, my bookings, the session room
behind a join link, and the provider's desk (today's sessions, check-in, completion)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli import clock
from linli.apitypes import PathId
from linli.authz import SERVICES_MANAGE, SERVICES_READ, Actor, current_actor, require_user
from linli.db import DbSession
from linli.i18n import N_, _
from linli.payments import providers
from linli.protection import reviews
from linli.rules.workdays import local_date
from linli.services import booking, courses, join, practitioners
from linli.services.policies import acting_provider
from linli.services.states import (
    BOOKING_STATUS_LABELS,
    CREDENTIAL_LABELS,
    ENROLMENT_STATUS_LABELS,
    HOLDING,
    MODE_LABELS,
    SLOT_KIND_LABELS,
    Mode,
)
from linli.web import flash_error, form_action, redirect, render, verify_csrf

WEEKDAYS = {
    "0": N_("Monday"),
    "1": N_("Tuesday"),
    "2": N_("Wednesday"),
    "3": N_("Thursday"),
    "4": N_("Friday"),
    "5": N_("Saturday"),
    "6": N_("Sunday"),
}
router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
LABELS = {
    "status": BOOKING_STATUS_LABELS,
    "kind": SLOT_KIND_LABELS,
    "mode": MODE_LABELS,
    "credential": CREDENTIAL_LABELS,
}


def _secret(request: Request) -> str:
    return str(request.app.state.settings.resolved_secret_key())


@router.get("/services")
async def find_page(request: Request, session: DbSession, actor: AnyActor) -> Response:
    slots = await booking.find_slots(session)
    return render(request, "services/find.html", {"slots": slots, "labels": LABELS}, actor=actor)


@router.post("/services/slots/{slot_id}/book")
async def book_slot(slot_id: PathId, session: DbSession, actor: User_) -> Response:
    async def do() -> object:
        return await booking.book(session, actor, slot_id)

    done = await form_action(session, do, on_error=flash_error("/services"))
    if isinstance(done, Response):
        return done
    return redirect("/services/bookings", text=_("Booked: see you there."))


@router.get("/services/bookings")
async def my_bookings_page(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await booking.my_bookings(session, actor)
    user_id = actor.require_user_id()
    secret = _secret(request)
    links = {
        row.id: join.link_for(secret, row, user_id)
        for row in rows
        if row.mode == Mode.ONLINE and row.status in HOLDING
    }
    reviewed = await reviews.reviewed_booking_ids(session, user_id, [row.id for row in rows])
    return render(
        request,
        "services/bookings.html",
        {
            "bookings": rows,
            "links": links,
            "labels": LABELS,
            "now": clock.now(),
            "reviewed": reviewed,
        },
        actor=actor,
    )


@router.post("/services/bookings/{booking_id}/cancel")
async def cancel_booking(booking_id: PathId, session: DbSession, actor: User_) -> Response:
    async def do() -> object:
        return await booking.cancel_own(session, actor, booking_id, "")

    done = await form_action(session, do, on_error=flash_error("/services/bookings"))
    if isinstance(done, Response):
        return done
    return redirect("/services/bookings", text=_("Booking cancelled."))


@router.get("/services/join/{token}")
async def room_page(request: Request, token: str, session: DbSession, actor: User_) -> Response:
    room = await join.open_room(session, actor, _secret(request), token[:200])
    return render(request, "services/room.html", {"room": room}, actor=actor)


@router.get("/services/desk")
async def desk_page(request: Request, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_READ)
    today = local_date(clock.now())
    rows = await booking.provider_day(session, actor, today)
    people = await practitioners.practitioners(session, actor)
    weeks = {p.id: await practitioners.weekly_slots(session, actor, p.id) for p in people}
    secret = _secret(request)
    user_id = actor.require_user_id()
    mine = {p.id for p in people if p.user_id == user_id}
    links = {
        row.id: join.link_for(secret, row, user_id)
        for row in rows
        if row.practitioner_id in mine and row.mode == Mode.ONLINE and row.status in HOLDING
    }
    return render(
        request,
        "services/desk.html",
        {
            "today": today,
            "bookings": rows,
            "practitioners": people,
            "weeks": weeks,
            "weekdays": WEEKDAYS,
            "links": links,
            "labels": LABELS,
        },
        actor=actor,
    )


@router.post("/services/desk/bookings/{booking_id}/check-in")
async def desk_check_in(booking_id: PathId, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_MANAGE)

    async def do() -> object:
        return await courses.check_in(session, actor, booking_id)

    done = await form_action(session, do, on_error=flash_error("/services/desk"))
    if isinstance(done, Response):
        return done
    return redirect("/services/desk", text=_("Checked in."))


@router.post("/services/desk/bookings/{booking_id}/complete")
async def desk_complete(booking_id: PathId, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_MANAGE)

    async def do() -> object:
        return await courses.complete(session, actor, booking_id)

    done = await form_action(session, do, on_error=flash_error("/services/desk"))
    if isinstance(done, Response):
        return done
    return redirect("/services/desk", text=_("Session completed."))


# --- courses -----------------------------------------------------------------------------


@router.get("/services/courses")
async def courses_page(request: Request, session: DbSession, actor: AnyActor) -> Response:
    rows = await courses.open_courses(session)
    mine = await courses.my_enrolments(session, actor) if actor.user is not None else []
    return render(
        request,
        "services/courses.html",
        {"courses": rows, "enrolments": mine, "enrolment_labels": ENROLMENT_STATUS_LABELS},
        actor=actor,
    )


@router.post("/services/courses/{course_id}/enrol")
async def enrol_course(course_id: PathId, session: DbSession, actor: User_) -> Response:
    async def do() -> courses.Enrolled:
        return await courses.enrol(session, actor, course_id)

    done = await form_action(session, do, on_error=flash_error("/services/courses"))
    if isinstance(done, Response):
        return done
    return redirect(providers.get(done.intent.provider).checkout_url(done.intent))


@router.post("/services/enrolments/{enrolment_id}/refund")
async def refund_enrolment(enrolment_id: PathId, session: DbSession, actor: User_) -> Response:
    async def do() -> object:
        return await courses.refund_unconsumed(session, actor, enrolment_id)

    done = await form_action(session, do, on_error=flash_error("/services/courses"))
    if isinstance(done, Response):
        return done
    return redirect("/services/courses", text=_("The classes not delivered are being refunded."))
