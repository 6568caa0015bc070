from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import SERVICES_MANAGE, SERVICES_PRACTITIONERS, SERVICES_READ, Actor, require_user
from linli.db import DbSession
from linli.i18n import _
from linli.money import format_fen
from linli.services import (
    catalogue,
    course_accounts,
    course_changes,
    courses,
    practitioners,
    schedule_changes,
)
from linli.services.policies import acting_provider
from linli.services.schemas import (
    CourseChangeIn,
    CourseIn,
    CourseWithdrawIn,
    GenerateIn,
    LeaveIn,
    PractitionerIn,
    WeeklySlotChangeIn,
    WeeklySlotIn,
    WeeklySlotWithdrawIn,
)
from linli.services.states import (
    CREDENTIAL_LABELS,
    ENROLMENT_STATUS_LABELS,
    MODE_LABELS,
    SLOT_KIND_LABELS,
    WEEKDAY_LABELS,
    CredentialKind,
    Mode,
    SlotKind,
)
from linli.web import (
    flash_error,
    form_action,
    form_data,
    redirect,
    render,
    validate_form,
    verify_csrf,
)

T = TypeVar("T")
router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
SCHEDULE = "/services/desk/schedule"
COURSES = "/services/desk/courses"
LABELS = {
    "weekday": WEEKDAY_LABELS,
    "kind": SLOT_KIND_LABELS,
    "mode": MODE_LABELS,
    "credential": CREDENTIAL_LABELS,
    "enrolment": ENROLMENT_STATUS_LABELS,
}


def _fields(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The named fields of a form, None when left blank (the schema says what is required)."""
    return {name: (form.get(name) or "").strip() or None for name in names}


async def _then_back(
    session: DbSession,
    work: Callable[[], Awaitable[T]],
    back: str,
    told: Callable[[T], str],
) -> Response:
    """Run a form's work; back to `back` with what was done, or with the refusal."""
    outcome = await form_action(session, work, on_error=flash_error(back))
    if isinstance(outcome, Response):
        return outcome
    return redirect(back, text=told(outcome))


@router.get(SCHEDULE)
async def schedule_page(request: Request, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_READ)
    people = await practitioners.practitioners(session, actor)
    weeks = {p.id: await practitioners.weekly_slots(session, actor, p.id) for p in people}
    leave = {p.id: await practitioners.leave_of(session, actor, p.id) for p in people}
    return render(
        request,
        "services/schedule.html",
        {
            "practitioners": people,
            "weeks": weeks,
            "leave": leave,
            "labels": LABELS,
            "credential_kinds": list(CredentialKind),
            "slot_kinds": list(SlotKind),
            "modes": list(Mode),
            "category_choices": await catalogue.filter_choices(session),
            "may_register": actor.has(SERVICES_PRACTITIONERS),
            "may_manage": actor.has(SERVICES_MANAGE),
        },
        actor=actor,
    )


@router.post("/services/desk/practitioners")
async def register_practitioner(request: Request, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_PRACTITIONERS)
    form = await form_data(request)
    names = ("phone", "real_name", "credential_kind", "credential_number", "practising_since")

    async def do() -> object:
        data = validate_form(PractitionerIn, _fields(form, *names))
        return await practitioners.register_practitioner(session, actor, data)

    return await _then_back(session, do, SCHEDULE, lambda _row: _("Practitioner registered."))


@router.post("/services/desk/practitioners/{practitioner_id}/schedule")
async def add_weekly_session(
    practitioner_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)
    names = ("title", "weekday", "start", "duration_minutes", "kind", "mode", "capacity")

    async def do() -> object:
        data = _fields(form, *names, "category") | {"for_minors": forms.checked(form, "for_minors")}
        return await practitioners.add_weekly_slot(
            session, actor, practitioner_id, validate_form(WeeklySlotIn, data)
        )

    return await _then_back(session, do, SCHEDULE, lambda _row: _("Weekly session added."))


def _schedule_told(done: schedule_changes.ScheduleChange) -> str:
    return _(
        "Done: {closed} unbooked slots to come closed, {made} made again, {kept} booked kept, "
        "{cancelled} bookings cancelled."
    ).format(
        closed=done.closed_slots,
        made=done.made_slots,
        kept=done.kept_slots,
        cancelled=done.cancelled_bookings,
    )


@router.post("/services/desk/weekly-sessions/{weekly_slot_id}")
async def change_weekly_session(
    weekly_slot_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)
    names = ("title", "weekday", "start", "duration_minutes", "mode", "capacity")

    async def do() -> schedule_changes.ScheduleChange:
        data = _fields(form, *names) | {"for_minors": forms.checked(form, "for_minors")}
        return await schedule_changes.change_weekly_slot(
            session, actor, weekly_slot_id, validate_form(WeeklySlotChangeIn, data)
        )

    return await _then_back(session, do, SCHEDULE, _schedule_told)


@router.post("/services/desk/weekly-sessions/{weekly_slot_id}/withdraw")
async def withdraw_weekly_session(
    weekly_slot_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)

    async def do() -> schedule_changes.ScheduleChange:
        data = {
            "reason": forms.text(form, "reason"),
            "cancel_booked": forms.checked(form, "cancel_booked"),
        }
        return await schedule_changes.withdraw_weekly_slot(
            session, actor, weekly_slot_id, validate_form(WeeklySlotWithdrawIn, data)
        )

    return await _then_back(session, do, SCHEDULE, _schedule_told)


@router.post("/services/desk/practitioners/{practitioner_id}/leave")
async def add_leave(
    practitioner_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)

    async def do() -> object:
        data = _fields(form, "first_day", "last_day") | {"reason": forms.text(form, "reason")}
        return await practitioners.add_leave(
            session, actor, practitioner_id, validate_form(LeaveIn, data)
        )

    return await _then_back(session, do, SCHEDULE, lambda _row: _("Leave recorded."))


@router.post("/services/desk/practitioners/{practitioner_id}/slots")
async def make_slots(
    practitioner_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)

    async def do() -> int:
        data = validate_form(GenerateIn, _fields(form, "first_day", "last_day"))
        return len(await practitioners.generate_slots(session, actor, practitioner_id, data))

    return await _then_back(
        session, do, SCHEDULE, lambda made: _("{count} slots made.").format(count=made)
    )


@router.get(COURSES)
async def courses_page(request: Request, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_READ)
    people = await practitioners.practitioners(session, actor)
    sessions = [
        (p, w)
        for p in people
        for w in await practitioners.weekly_slots(session, actor, p.id)
        if w.kind == SlotKind.CLASS and w.withdrawn_at is None
    ]
    return render(
        request,
        "services/school_courses.html",
        {
            "accounts": await course_accounts.school_courses(session, actor),
            "held_fen": await course_accounts.escrow_balance(session, actor),
            "class_sessions": sessions,
            "course_categories": await catalogue.choices_under(session, catalogue.EDUCATION),
            "labels": LABELS,
            "may_manage": actor.has(SERVICES_MANAGE),
        },
        actor=actor,
    )


@router.post(COURSES)
async def offer_course(request: Request, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)

    async def do() -> object:
        # The category decides subject training (and so the prepaid ceiling it is under).
        names = ("title", "weekly_slot_id", "first_day", "last_day", "category")
        data = _fields(form, *names) | {
            "price_per_class_fen": forms.fen(form.get("price_per_class", ""), "price_per_class"),
        }
        return await courses.create_course(session, actor, validate_form(CourseIn, data))

    return await _then_back(
        session, do, COURSES, lambda _row: _("Course offered: residents may enrol now.")
    )


@router.get(COURSES + "/{course_id}")
async def course_page(
    course_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    course, pupils = await course_accounts.school_course(session, actor, course_id)
    return render(
        request,
        "services/school_course.html",
        {
            "course": course,
            "pupils": pupils,
            "labels": LABELS,
            "may_manage": actor.has(SERVICES_MANAGE),
        },
        actor=actor,
    )


@router.post(COURSES + "/{course_id}/edit")
async def edit_course(
    course_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)
    back = f"{COURSES}/{course_id}"

    async def do() -> object:
        data = _fields(form, "title", "capacity") | {
            "description": forms.text(form, "description").strip()
        }
        return await course_changes.edit_course(
            session, actor, course_id, validate_form(CourseChangeIn, data)
        )

    return await _then_back(session, do, back, lambda _row: _("Course changed."))


@router.post(COURSES + "/{course_id}/withdraw")
async def withdraw_course(
    course_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await form_data(request)
    back = f"{COURSES}/{course_id}"

    async def do() -> course_changes.Withdrawn:
        data = validate_form(CourseWithdrawIn, {"reason": forms.text(form, "reason")})
        return await course_changes.withdraw_course(session, actor, course_id, data.reason)

    return await _then_back(
        session,
        do,
        back,
        lambda done: _(
            "Course withdrawn: {classes} classes refunded to {pupils} pupils ({amount})."
        ).format(
            classes=done.refunded_classes,
            pupils=done.refunded_enrolments,
            amount=format_fen(done.refunded_fen),
        ),
    )
