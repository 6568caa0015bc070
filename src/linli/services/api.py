"""JSON routes for online services: finding and booking sessions (residents), the join link
(the parties), the provider's desk (practitioners, schedules, slots, check-in), and
Internet+medical follow-up care (consultation records, prescriptions, the pharmacist's review,
the regulator's view)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from starlette.responses import Response

from linli import clock
from linli.apitypes import OptionalQueryId, PathId
from linli.authz import (
    REGULATOR_MEDICAL_READ,
    SERVICES_MANAGE,
    SERVICES_PRACTITIONERS,
    SERVICES_READ,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_
from linli.payments import providers
from linli.rules.workdays import local_date
from linli.services import (
    booking,
    catalogue,
    course_changes,
    courses,
    join,
    medical,
    medical_records,
    practitioners,
    schedule_changes,
)
from linli.services.models import Course, Prescription, Slot, WeeklySlot
from linli.services.schemas import (
    BookingIn,
    BookingOut,
    CancelIn,
    CategoryBriefOut,
    ConsultationOut,
    CourseChangeIn,
    CourseIn,
    CourseOut,
    CourseWithdrawIn,
    CourseWithdrawnOut,
    DiagnosisFileOut,
    EnrolledOut,
    EnrolmentOut,
    ExtendIn,
    GenerateIn,
    JoinOut,
    LeaveIn,
    LeaveOut,
    PractitionerIn,
    PractitionerOut,
    PrescriptionIn,
    PrescriptionOut,
    ReferIn,
    RejectIn,
    ScheduleChangeOut,
    ServiceType,
    SlotOut,
    WeeklySlotChangeIn,
    WeeklySlotIn,
    WeeklySlotOut,
    WeeklySlotWithdrawIn,
)
from linli.services.states import PrescriptionStatus, SlotKind

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Party = Annotated[Actor, Depends(require_scope("resident", "org:read"))]
Reader = Annotated[Actor, Depends(require(SERVICES_READ))]
Manager = Annotated[Actor, Depends(require(SERVICES_MANAGE))]
Owner = Annotated[Actor, Depends(require(SERVICES_PRACTITIONERS))]
Regulator = Annotated[Actor, Depends(require(REGULATOR_MEDICAL_READ))]


def secret_key(request: Request) -> str:
    return str(request.app.state.settings.resolved_secret_key())


CategoryFilter = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[a-z_]+$", description="Category code (with those below it)"),
]
TypeFilter = Annotated[ServiceType | None, Query(description="Consumption type")]
Offering = TypeVar("Offering", SlotOut, WeeklySlotOut, CourseOut)


async def present_offerings(
    session: DbSession, model: type[Offering], rows: Sequence[Slot | WeeklySlot | Course]
) -> list[Offering]:
    """Offerings with their category and consumption type, named in both languages."""
    named = await catalogue.categories_of(session, [r.category_id for r in rows])
    return [
        model.from_row(r, category=CategoryBriefOut.model_validate(named[r.category_id]))
        for r in rows
    ]


# --- finding and booking (residents) -----------------------------------------------------


@router.get("/slots", summary="Open sessions still to start, soonest first (public)")
async def slots(
    session: DbSession,
    organisation_id: OptionalQueryId = None,
    practitioner_id: OptionalQueryId = None,
    kind: Annotated[SlotKind | None, Query()] = None,
    category: CategoryFilter = None,
    consumption_type: TypeFilter = None,
) -> list[SlotOut]:
    rows = await booking.find_slots(
        session,
        organisation_id=organisation_id,
        practitioner_id=practitioner_id,
        kind=kind,
        category_ids=await catalogue.matching_category_ids(session, category, consumption_type),
    )
    return await present_offerings(session, SlotOut, rows)


@router.post("/bookings", status_code=201, summary="Book a seat of a session")
async def book(data: BookingIn, session: DbSession, actor: Resident) -> BookingOut:
    row = await booking.book(session, actor, data.slot_id, diagnosis=data.diagnosis)
    return BookingOut.model_validate(row)


@router.get("/bookings", summary="My bookings, latest first")
async def my_bookings(session: DbSession, actor: Resident) -> list[BookingOut]:
    return [BookingOut.model_validate(r) for r in await booking.my_bookings(session, actor)]


@router.get("/bookings/{booking_id}", summary="One of my bookings")
async def my_booking(booking_id: PathId, session: DbSession, actor: Resident) -> BookingOut:
    return BookingOut.model_validate(await booking.my_booking(session, actor, booking_id))


@router.post("/bookings/{booking_id}/cancel", summary="Cancel my booking before it starts")
async def cancel(
    booking_id: PathId, data: CancelIn, session: DbSession, actor: Resident
) -> BookingOut:
    row = await booking.cancel_own(session, actor, booking_id, data.reason)
    return BookingOut.model_validate(row)


@router.get(
    "/bookings/{booking_id}/join",
    summary="My join link of an online session (the client or the practitioner only)",
)
async def join_link(
    booking_id: PathId, request: Request, session: DbSession, actor: Party
) -> JoinOut:
    link = await join.join_link(session, actor, secret_key(request), booking_id)
    return JoinOut.model_validate(link)


# --- the provider's desk -----------------------------------------------------------------


@router.get("/provider/practitioners", summary="The organisation's practitioners")
async def list_practitioners(session: DbSession, actor: Reader) -> list[PractitionerOut]:
    rows = await practitioners.practitioners(session, actor)
    return [PractitionerOut.model_validate(r) for r in rows]


@router.post(
    "/provider/practitioners",
    status_code=201,
    summary="Register a member as a practitioner with their credential (owner)",
)
async def register_practitioner(
    data: PractitionerIn, session: DbSession, actor: Owner
) -> PractitionerOut:
    row = await practitioners.register_practitioner(session, actor, data)
    return PractitionerOut.model_validate(row)


@router.get("/provider/practitioners/{practitioner_id}/schedule", summary="A practitioner's week")
async def schedule(
    practitioner_id: PathId, session: DbSession, actor: Reader
) -> list[WeeklySlotOut]:
    rows = await practitioners.weekly_slots(session, actor, practitioner_id)
    return await present_offerings(session, WeeklySlotOut, rows)


@router.post(
    "/provider/practitioners/{practitioner_id}/schedule",
    status_code=201,
    summary="Add a weekly session to a practitioner's week",
)
async def add_to_schedule(
    practitioner_id: PathId, data: WeeklySlotIn, session: DbSession, actor: Manager
) -> WeeklySlotOut:
    row = await practitioners.add_weekly_slot(session, actor, practitioner_id, data)
    return (await present_offerings(session, WeeklySlotOut, [row]))[0]


async def schedule_change_out(
    session: DbSession, done: schedule_changes.ScheduleChange
) -> ScheduleChangeOut:
    (weekly_slot,) = await present_offerings(session, WeeklySlotOut, [done.weekly_slot])
    return ScheduleChangeOut(
        weekly_slot=weekly_slot,
        closed_slots=done.closed_slots,
        made_slots=done.made_slots,
        kept_slots=done.kept_slots,
        cancelled_bookings=done.cancelled_bookings,
    )


@router.patch(
    "/provider/weekly-sessions/{weekly_slot_id}",
    summary="Change a weekly session (the fields sent, checked as when added); its unbooked "
    "slots to come follow, booked ones stay",
)
async def change_weekly_session(
    weekly_slot_id: PathId, data: WeeklySlotChangeIn, session: DbSession, actor: Manager
) -> ScheduleChangeOut:
    done = await schedule_changes.change_weekly_slot(session, actor, weekly_slot_id, data)
    return await schedule_change_out(session, done)


@router.post(
    "/provider/weekly-sessions/{weekly_slot_id}/withdraw",
    summary="Withdraw a weekly session: unbooked slots to come go; booked ones stay, or are "
    "cancelled by the provider with `cancel_booked`",
)
async def withdraw_weekly_session(
    weekly_slot_id: PathId, data: WeeklySlotWithdrawIn, session: DbSession, actor: Manager
) -> ScheduleChangeOut:
    done = await schedule_changes.withdraw_weekly_slot(session, actor, weekly_slot_id, data)
    return await schedule_change_out(session, done)


@router.post(
    "/provider/practitioners/{practitioner_id}/leave",
    status_code=201,
    summary="Record a practitioner's leave (no slots are made on those days)",
)
async def add_leave(
    practitioner_id: PathId, data: LeaveIn, session: DbSession, actor: Manager
) -> LeaveOut:
    row = await practitioners.add_leave(session, actor, practitioner_id, data)
    return LeaveOut.model_validate(row)


@router.post(
    "/provider/practitioners/{practitioner_id}/slots",
    status_code=201,
    summary="Make a practitioner's slots for a range of days (working days, not on leave)",
)
async def generate_slots(
    practitioner_id: PathId, data: GenerateIn, session: DbSession, actor: Manager
) -> list[SlotOut]:
    rows = await practitioners.generate_slots(session, actor, practitioner_id, data)
    return await present_offerings(session, SlotOut, rows)


@router.get("/provider/bookings", summary="The organisation's bookings of one day (today)")
async def provider_day(
    session: DbSession,
    actor: Reader,
    day: Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2099, 12, 31))] = None,
) -> list[BookingOut]:
    rows = await booking.provider_day(session, actor, day or local_date(clock.now()))
    return [BookingOut.model_validate(r) for r in rows]


@router.post("/provider/bookings/{booking_id}/check-in", summary="Check the client in")
async def check_in(booking_id: PathId, session: DbSession, actor: Manager) -> BookingOut:
    return BookingOut.model_validate(await courses.check_in(session, actor, booking_id))


@router.post(
    "/provider/bookings/{booking_id}/complete",
    summary="Mark the session completed (a course's class: its fee leaves escrow)",
)
async def complete(booking_id: PathId, session: DbSession, actor: Manager) -> BookingOut:
    return BookingOut.model_validate(await courses.complete(session, actor, booking_id))


@router.post("/provider/bookings/{booking_id}/cancel", summary="Cancel a booking, with a reason")
async def provider_cancel(
    booking_id: PathId, data: CancelIn, session: DbSession, actor: Manager
) -> BookingOut:
    row = await booking.cancel_by_provider(session, actor, booking_id, data.reason)
    return BookingOut.model_validate(row)


# --- courses (online education) ----------------------------------------------------------


@router.post(
    "/provider/courses",
    status_code=201,
    summary="Offer the classes of a weekly class session as a course (prepaid limits apply)",
)
async def create_course(data: CourseIn, session: DbSession, actor: Manager) -> CourseOut:
    row = await courses.create_course(session, actor, data)
    return (await present_offerings(session, CourseOut, [row]))[0]


@router.patch(
    "/provider/courses/{course_id}",
    summary="Edit a course's title, description or places while enrolment is open",
)
async def edit_course(
    course_id: PathId, data: CourseChangeIn, session: DbSession, actor: Manager
) -> CourseOut:
    row = await course_changes.edit_course(session, actor, course_id, data)
    return (await present_offerings(session, CourseOut, [row]))[0]


@router.post(
    "/provider/courses/{course_id}/withdraw",
    summary="Withdraw a course: no new enrolments, the classes to come cancelled, every "
    "pupil's classes not given refunded pro rata from escrow",
)
async def withdraw_course(
    course_id: PathId, data: CourseWithdrawIn, session: DbSession, actor: Manager
) -> CourseWithdrawnOut:
    done = await course_changes.withdraw_course(session, actor, course_id, data.reason)
    (course,) = await present_offerings(session, CourseOut, [done.course])
    return CourseWithdrawnOut(
        course=course,
        refunded_enrolments=done.refunded_enrolments,
        refunded_classes=done.refunded_classes,
        refunded_fen=done.refunded_fen,
        closed_enrolments=done.closed_enrolments,
    )


@router.get("/courses", summary="Courses open for enrolment (public)")
async def open_courses(
    session: DbSession, category: CategoryFilter = None, consumption_type: TypeFilter = None
) -> list[CourseOut]:
    ids = await catalogue.matching_category_ids(session, category, consumption_type)
    return await present_offerings(
        session, CourseOut, await courses.open_courses(session, category_ids=ids)
    )


@router.post(
    "/courses/{course_id}/enrol",
    status_code=201,
    summary="Enrol: a seat in every class to come, one payment into the school's escrow",
)
async def enrol(course_id: PathId, session: DbSession, actor: Resident) -> EnrolledOut:
    done = await courses.enrol(session, actor, course_id)
    return EnrolledOut(
        enrolment=EnrolmentOut.model_validate(done.enrolment),
        payment_public_id=done.intent.public_id,
        pay_url=providers.get(done.intent.provider).checkout_url(done.intent),
    )


@router.get("/enrolments", summary="My course enrolments")
async def my_enrolments(session: DbSession, actor: Resident) -> list[EnrolmentOut]:
    return [EnrolmentOut.model_validate(r) for r in await courses.my_enrolments(session, actor)]


@router.post(
    "/enrolments/{enrolment_id}/refund",
    summary="Refund the classes not delivered, pro rata (the classes to come are cancelled)",
)
async def refund(enrolment_id: PathId, session: DbSession, actor: Resident) -> EnrolmentOut:
    row = await courses.refund_unconsumed(session, actor, enrolment_id)
    return EnrolmentOut.model_validate(row)


# --- Internet+medical follow-up care -------------------------------------------------------

PDF = "application/pdf"


@router.post(
    "/diagnosis-files",
    status_code=201,
    summary="Upload the scan of a diagnosis document (multipart), then book with its id",
)
async def upload_diagnosis(
    request: Request,
    session: DbSession,
    actor: Resident,
    file: Annotated[UploadFile, File()],
) -> DiagnosisFileOut:
    data = await files.read_upload(file)
    return await medical_records.store_diagnosis_scan(
        session, actor, request.app.state.file_store, data, file.filename or ""
    )


@router.get(
    "/consultations/{booking_id}/document",
    summary="The scan of a consultation's diagnosis document (the patient, the clinic, its "
    "regulator)",
    response_class=Response,
    responses={
        200: {
            "description": "The file",
            "content": {t: {} for t in medical_records.DIAGNOSIS_TYPES},
        }
    },
)
async def diagnosis_document(
    booking_id: PathId, request: Request, session: DbSession, actor: Party
) -> Response:
    record = await medical_records.visible_record(session, actor, booking_id)
    content = (
        await files.file_content(session, request.app.state.file_store, record.file_id)
        if record.file_id is not None
        else None
    )
    if content is None:
        raise NotFound(N_("No such file."))
    # A PDF can carry scripts: shown inline it runs sandboxed, with no access to the session.
    sandbox = {"Content-Security-Policy": "sandbox"} if content.content_type == PDF else {}
    name = quote(content.original_name, safe="")
    return Response(
        content.data,
        media_type=content.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            **sandbox,
        },
    )


def present(row: Prescription) -> PrescriptionOut:
    today = local_date(clock.now())
    return PrescriptionOut.model_validate(
        {
            **{
                name: getattr(row, name)
                for name in PrescriptionOut.model_fields
                if hasattr(row, name)
            },
            "state": medical.state_of(row, today),
            "dispensable": medical.dispensable(row, today),
        }
    )


@router.get("/consultations", summary="My consultation records (diagnosis document, outcome)")
async def my_consultations(session: DbSession, actor: Resident) -> list[ConsultationOut]:
    rows = await medical_records.my_records(session, actor)
    return [ConsultationOut.model_validate(r) for r in rows]


@router.get("/prescriptions", summary="My prescriptions (dispensable once approved, until expiry)")
async def my_prescriptions(session: DbSession, actor: Resident) -> list[PrescriptionOut]:
    return [present(r) for r in await medical.my_prescriptions(session, actor)]


@router.get(
    "/provider/consultations/{booking_id}",
    summary="The consultation record of a booking (the treating organisation)",
)
async def provider_consultation(
    booking_id: PathId, session: DbSession, actor: Reader
) -> ConsultationOut:
    row = await medical_records.provider_record(session, actor, booking_id)
    return ConsultationOut.model_validate(row)


@router.post(
    "/provider/consultations/{booking_id}/accept",
    summary="Accept the diagnosis document: the follow-up may go ahead (the treating doctor)",
)
async def accept_document(
    booking_id: PathId, session: DbSession, actor: Manager
) -> ConsultationOut:
    row = await medical.accept_document(session, actor, booking_id)
    return ConsultationOut.model_validate(row)


@router.post(
    "/provider/consultations/{booking_id}/reject",
    summary="Reject the diagnosis document: the booking is cancelled (the treating doctor)",
)
async def reject_document(
    booking_id: PathId, data: RejectIn, session: DbSession, actor: Manager
) -> ConsultationOut:
    row = await medical.reject_document(session, actor, booking_id, data.reason)
    return ConsultationOut.model_validate(row)


@router.post(
    "/provider/consultations/{booking_id}/refer",
    summary="End the consultation: the condition changed, referred offline (the treating doctor)",
)
async def refer_offline(
    booking_id: PathId, data: ReferIn, session: DbSession, actor: Manager
) -> ConsultationOut:
    row = await medical.refer_offline(session, actor, booking_id, data.note)
    return ConsultationOut.model_validate(row)


@router.post(
    "/provider/consultations/{booking_id}/prescriptions",
    status_code=201,
    summary="Write and sign a prescription (the treating doctor); pending a pharmacist's review",
)
async def prescribe(
    booking_id: PathId,
    data: PrescriptionIn,
    request: Request,
    session: DbSession,
    actor: Manager,
) -> PrescriptionOut:
    row = await medical.prescribe(session, actor, secret_key(request), booking_id, data)
    return present(row)


@router.get(
    "/provider/prescriptions",
    summary="The organisation's prescriptions (status pending_review: the review queue)",
)
async def provider_prescriptions(
    session: DbSession,
    actor: Reader,
    status: Annotated[PrescriptionStatus | None, Query()] = None,
) -> list[PrescriptionOut]:
    return [present(r) for r in await medical.provider_prescriptions(session, actor, status)]


@router.post(
    "/provider/prescriptions/{prescription_id}/approve",
    summary="Approve a prescription (a pharmacist of the organisation, not its prescriber)",
)
async def approve_prescription(
    prescription_id: PathId, request: Request, session: DbSession, actor: Manager
) -> PrescriptionOut:
    row = await medical.review(session, actor, secret_key(request), prescription_id, approve=True)
    return present(row)


@router.post(
    "/provider/prescriptions/{prescription_id}/dispense",
    summary="Record that an approved prescription was dispensed (a pharmacist; once, while valid)",
)
async def dispense_prescription(
    prescription_id: PathId, session: DbSession, actor: Manager
) -> PrescriptionOut:
    return present(await medical.dispense(session, actor, prescription_id))


@router.post(
    "/provider/prescriptions/{prescription_id}/reject",
    summary="Reject a prescription, with the reason (a pharmacist, not its prescriber)",
)
async def reject_prescription(
    prescription_id: PathId,
    data: RejectIn,
    request: Request,
    session: DbSession,
    actor: Manager,
) -> PrescriptionOut:
    row = await medical.review(
        session, actor, secret_key(request), prescription_id, approve=False, note=data.reason
    )
    return present(row)


@router.post(
    "/provider/prescriptions/{prescription_id}/extend",
    summary="Extend a prescription's validity (the prescribing doctor; at most 3 days)",
)
async def extend_prescription(
    prescription_id: PathId, data: ExtendIn, request: Request, session: DbSession, actor: Manager
) -> PrescriptionOut:
    extended = await medical.extend(
        session, actor, secret_key(request), prescription_id, data.valid_days
    )
    return present(extended)


@router.get(
    "/regulator/consultations",
    summary="Consultations of the providers in the regulator's jurisdiction",
)
async def regulator_consultations(session: DbSession, actor: Regulator) -> list[ConsultationOut]:
    rows = await medical_records.regulator_records(session, actor)
    return [ConsultationOut.model_validate(r) for r in rows]


@router.get(
    "/regulator/prescriptions",
    summary="Prescriptions of the providers in the regulator's jurisdiction",
)
async def regulator_prescriptions(session: DbSession, actor: Regulator) -> list[PrescriptionOut]:
    return [present(r) for r in await medical_records.regulator_prescriptions(session, actor)]
