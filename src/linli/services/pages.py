"""HTML pages for online services: find a session and book it, my bookings, the session room
behind a join link, the provider's desk (today's sessions, check-in, completion), and medical
follow-up care (my prescriptions, the doctor's consultation page, the pharmacist's review
queue)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from linli import clock
from linli.apitypes import PathId
from linli.authz import SERVICES_MANAGE, SERVICES_READ, Actor, current_actor, require_user
from linli.db import DbSession
from linli.errors import ValidationFailed
from linli.files import service as files
from linli.i18n import _
from linli.payments import providers
from linli.protection import reviews
from linli.rules.workdays import local_date
from linli.services import (
    booking,
    catalogue,
    courses,
    join,
    medical,
    medical_records,
    practitioners,
    room,
)
from linli.services.models import Booking, Practitioner, Prescription
from linli.services.policies import acting_provider
from linli.services.schemas import DiagnosisIn, ExtendIn, PrescriptionIn, ReferIn, RejectIn
from linli.services.states import (
    BOOKING_STATUS_LABELS,
    CREDENTIAL_LABELS,
    DOCUMENT_STATUS_LABELS,
    DRUG_CLASS_LABELS,
    ENROLMENT_STATUS_LABELS,
    HOLDING,
    MODE_LABELS,
    OUTCOME_LABELS,
    PRESCRIPTION_STATE_LABELS,
    SLOT_KIND_LABELS,
    WEEKDAY_LABELS,
    DrugClass,
    Mode,
    PrescriptionStatus,
)
from linli.web import flash_error, form_action, redirect, render, validate_form, verify_csrf

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


FilterText = Annotated[str, Query(max_length=40)]


async def _filter(
    session: DbSession, category: str, type: str
) -> tuple[set[int] | None, dict[str, object]]:
    """The catalogue filter's categories and what the page shows of it (an unknown category
    is a field error and nothing listed)."""
    form = {"category": category, "type": type if type in catalogue.SERVICE_TYPES else ""}
    shown: dict[str, object] = {
        "form": form,
        "choices": await catalogue.filter_choices(session),
        "error": None,
    }
    try:
        ids = await catalogue.matching_category_ids(session, category or None, form["type"] or None)
    except ValidationFailed as failure:
        shown["error"] = failure
        return set(), shown
    return ids, shown


@router.get("/services")
async def find_page(
    request: Request,
    session: DbSession,
    actor: AnyActor,
    category: FilterText = "",
    type: FilterText = "",
) -> Response:
    ids, shown = await _filter(session, category, type)
    slots = await booking.find_slots(session, category_ids=ids)
    follow_ups = await medical_records.follow_up_slot_ids(session, [s.id for s in slots])
    provider_ids = {s.organisation_id for s in slots}
    return render(
        request,
        "services/find.html",
        {
            **shown,
            "categories": await catalogue.categories_of(session, [s.category_id for s in slots]),
            "slots": slots,
            "labels": LABELS,
            "follow_ups": follow_ups,
            "providers": await medical_records.organisation_names(session, provider_ids),
            "ratings": await reviews.service_ratings(session, provider_ids),
        },
        actor=actor,
    )


@router.post("/services/slots/{slot_id}/book")
async def book_slot(
    slot_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await request.form()
    scan = form.get("scan")

    async def do() -> object:
        diagnosis = None
        if form.get("institution") is not None:  # a follow-up: the diagnosis document
            fields: dict[str, object] = {
                name: str(form.get(name) or "").strip() or None
                for name in ("institution", "diagnosed_on", "condition")
            }
            diagnosis = validate_form(DiagnosisIn, fields)  # before the scan is kept
            if isinstance(scan, UploadFile) and scan.filename:
                stored = await medical_records.store_diagnosis_scan(
                    session,
                    actor,
                    request.app.state.file_store,
                    await files.read_upload(scan),
                    scan.filename,
                    field="scan",
                )
                diagnosis = validate_form(DiagnosisIn, fields | {"file_id": stored.id})
        return await booking.book(session, actor, slot_id, diagnosis=diagnosis)

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
    opened = await join.open_room(session, actor, _secret(request), token[:200])
    return render(
        request,
        "services/room.html",
        {"room": opened, "token": token[:200], "path": request.url.path},
        actor=actor,
    )


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
    records = await medical_records.booking_ids_with_records(session, [r.id for r in rows])
    return render(
        request,
        "services/desk.html",
        {
            "attendance": await room.attendance_minutes(session, rows),
            "today": today,
            "records": records,
            "bookings": rows,
            "practitioners": people,
            "weeks": weeks,
            "weekdays": WEEKDAY_LABELS,
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


@router.post("/services/desk/bookings/{booking_id}/cancel")
async def desk_cancel(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """Cancel a booking not begun, or an online session checked in that was not given."""
    acting_provider(actor, SERVICES_MANAGE)
    form = await request.form()

    async def do() -> object:
        reason = str(form.get("reason") or "").strip()[:200]
        return await booking.cancel_by_provider(session, actor, booking_id, reason)

    done = await form_action(session, do, on_error=flash_error("/services/desk"))
    if isinstance(done, Response):
        return done
    return redirect("/services/desk", text=_("Booking cancelled: the client is told why."))


# --- Internet+medical follow-up care ------------------------------------------------------

MEDICAL_LABELS = {
    "document": DOCUMENT_STATUS_LABELS,
    "outcome": OUTCOME_LABELS,
    "drug_class": DRUG_CLASS_LABELS,
    "state": PRESCRIPTION_STATE_LABELS,
}


def _prescriptions_view(rows: Sequence[Prescription]) -> list[dict[str, object]]:
    today = local_date(clock.now())
    return [
        {
            "row": r,
            "state": medical.state_of(r, today),
            "dispensable": medical.dispensable(r, today),
        }
        for r in rows
    ]


@router.get("/services/prescriptions")
async def my_prescriptions_page(request: Request, session: DbSession, actor: User_) -> Response:
    """The patient's consultation records and prescriptions (dispensable or not, expired)."""
    records = await medical_records.my_records(session, actor)
    rows = await medical.my_prescriptions(session, actor)
    return render(
        request,
        "services/prescriptions.html",
        {"records": records, "prescriptions": _prescriptions_view(rows), "labels": MEDICAL_LABELS},
        actor=actor,
    )


@router.get("/services/desk/consultations/{booking_id}")
async def consultation_page(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """The treating organisation's view of a consultation; the doctor's forms."""
    record = await medical_records.provider_record(session, actor, booking_id)
    row = await session.get(Booking, booking_id)
    rows = await medical.consultation_prescriptions(session, actor, booking_id)
    doctor = await session.get(Practitioner, record.practitioner_id)
    return render(
        request,
        "services/consultation.html",
        {
            "record": record,
            "booking": row,
            "prescriptions": _prescriptions_view(rows),
            "is_doctor": doctor is not None and doctor.user_id == actor.user_id,
            "labels": MEDICAL_LABELS,
            "status_labels": BOOKING_STATUS_LABELS,
            "drug_classes": list(DrugClass),
        },
        actor=actor,
    )


async def _consultation_form(
    request: Request,
    session: DbSession,
    actor: Actor,
    booking_id: int,
    work: Callable[[FormData], Awaitable[object]],
    done: str,
) -> Response:
    """A doctor's form on the consultation page (members of other kinds of organisation: 403;
    the practitioner checks answer with a flash)."""
    acting_provider(actor, SERVICES_MANAGE)
    form = await request.form()
    back = f"/services/desk/consultations/{booking_id}"

    async def do() -> object:
        return await work(form)

    outcome = await form_action(session, do, on_error=flash_error(back))
    if isinstance(outcome, Response):
        return outcome
    return redirect(back, text=done)


@router.post("/services/desk/consultations/{booking_id}/accept")
async def accept_page(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    async def work(form: FormData) -> object:
        return await medical.accept_document(session, actor, booking_id)

    return await _consultation_form(
        request, session, actor, booking_id, work, _("Diagnosis document accepted.")
    )


@router.post("/services/desk/consultations/{booking_id}/reject")
async def reject_page(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    async def work(form: FormData) -> object:
        data = validate_form(RejectIn, {"reason": str(form.get("reason") or "").strip()})
        return await medical.reject_document(session, actor, booking_id, data.reason)

    return await _consultation_form(
        request,
        session,
        actor,
        booking_id,
        work,
        _("Document rejected: the booking was cancelled."),
    )


@router.post("/services/desk/consultations/{booking_id}/refer")
async def refer_page(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    async def work(form: FormData) -> object:
        data = validate_form(ReferIn, {"note": str(form.get("note") or "").strip()})
        return await medical.refer_offline(session, actor, booking_id, data.note)

    return await _consultation_form(
        request, session, actor, booking_id, work, _("Referred to an in-person visit.")
    )


@router.post("/services/desk/consultations/{booking_id}/prescriptions")
async def prescribe_page(
    booking_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    async def work(form: FormData) -> object:
        fields = ("drug_name", "drug_class", "dosage", "quantity", "unit")
        data = validate_form(
            PrescriptionIn, {name: str(form.get(name) or "").strip() for name in fields}
        )
        return await medical.prescribe(session, actor, _secret(request), booking_id, data)

    return await _consultation_form(
        request,
        session,
        actor,
        booking_id,
        work,
        _("Prescription signed: waiting for the pharmacist."),
    )


@router.post("/services/desk/prescriptions/{prescription_id}/extend")
async def extend_page(
    prescription_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """The prescribing doctor extends a prescription's validity (from its consultation page)."""
    acting_provider(actor, SERVICES_MANAGE)
    form = await request.form()
    back = str(form.get("back") or "")
    if not back.startswith("/services/desk/consultations/"):
        back = "/services/desk"

    async def do() -> object:
        data = validate_form(ExtendIn, {"valid_days": str(form.get("valid_days") or "")})
        return await medical.extend(
            session, actor, _secret(request), prescription_id, data.valid_days
        )

    outcome = await form_action(session, do, on_error=flash_error(back))
    if isinstance(outcome, Response):
        return outcome
    return redirect(back, text=_("Prescription extended."))


@router.get("/services/desk/prescriptions")
async def review_queue_page(request: Request, session: DbSession, actor: User_) -> Response:
    """The pharmacist's review queue (the organisation's prescriptions pending review) and the
    approved ones still valid and not dispensed yet."""
    rows = await medical.provider_prescriptions(session, actor, PrescriptionStatus.PENDING_REVIEW)
    approved = await medical.provider_prescriptions(session, actor, PrescriptionStatus.APPROVED)
    to_dispense = [p for p in _prescriptions_view(approved) if p["dispensable"]]
    return render(
        request,
        "services/review.html",
        {
            "prescriptions": _prescriptions_view(rows),
            "to_dispense": to_dispense,
            "labels": MEDICAL_LABELS,
        },
        actor=actor,
    )


@router.post("/services/desk/prescriptions/{prescription_id}/dispense")
async def dispense_page(prescription_id: PathId, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_MANAGE)

    async def do() -> object:
        return await medical.dispense(session, actor, prescription_id)

    back = "/services/desk/prescriptions"
    outcome = await form_action(session, do, on_error=flash_error(back))
    if isinstance(outcome, Response):
        return outcome
    return redirect(back, text=_("Dispensing recorded."))


async def _review(
    request: Request, session: DbSession, actor: Actor, prescription_id: int, approve: bool
) -> Response:
    acting_provider(actor, SERVICES_MANAGE)
    form = await request.form()

    async def do() -> object:
        note = str(form.get("reason") or "").strip()[:200]
        return await medical.review(
            session, actor, _secret(request), prescription_id, approve=approve, note=note
        )

    back = "/services/desk/prescriptions"
    outcome = await form_action(session, do, on_error=flash_error(back))
    if isinstance(outcome, Response):
        return outcome
    return redirect(
        back, text=_("Prescription approved.") if approve else _("Prescription rejected.")
    )


@router.post("/services/desk/prescriptions/{prescription_id}/approve")
async def approve_page(
    prescription_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _review(request, session, actor, prescription_id, approve=True)


@router.post("/services/desk/prescriptions/{prescription_id}/reject")
async def reject_prescription_page(
    prescription_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _review(request, session, actor, prescription_id, approve=False)


@router.get("/regulator/medical")
async def regulator_medical_page(request: Request, session: DbSession, actor: User_) -> Response:
    """The regulator's view of the consultations and prescriptions of the providers
    registered in its region (supervisors and inspectors: `regulator.medical.read`)."""
    records = await medical_records.regulator_records(session, actor, limit=200)
    rows = await medical_records.regulator_prescriptions(session, actor, limit=200)
    names = await medical_records.organisation_names(
        session, {r.organisation_id for r in records} | {p.organisation_id for p in rows}
    )
    return render(
        request,
        "services/regulator.html",
        {
            "records": records,
            "prescriptions": _prescriptions_view(rows),
            "names": names,
            "labels": MEDICAL_LABELS,
        },
        actor=actor,
    )


# --- courses -----------------------------------------------------------------------------


@router.get("/services/courses")
async def courses_page(
    request: Request,
    session: DbSession,
    actor: AnyActor,
    category: FilterText = "",
    type: FilterText = "",
) -> Response:
    ids, shown = await _filter(session, category, type)
    rows = await courses.open_courses(session, category_ids=ids)
    mine = await courses.my_enrolments(session, actor) if actor.user is not None else []
    return render(
        request,
        "services/courses.html",
        {
            **shown,
            "categories": await catalogue.categories_of(session, [c.category_id for c in rows]),
            "courses": rows,
            "enrolments": mine,
            "enrolment_labels": ENROLMENT_STATUS_LABELS,
        },
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
