"""The services API contract: practitioners, weekly schedules, leave, slots and bookings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from linli.apitypes import MAX_ID
from linli.schemas import OutputModel, StrictInput
from linli.services.states import CredentialKind, DrugClass, Mode, SlotKind

CategoryCode = Annotated[
    str,
    Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$", description="A category's code"),
]
ServiceType = Literal["education", "medical"]
MAX_GENERATE_DAYS = 62  # slots are made at most two months at a time
# Calendar days the services take (a date near year 1 or 9999 cannot be turned into a moment).
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2099, 12, 31))]


class PractitionerIn(StrictInput):
    phone: str = Field(min_length=5, max_length=20, description="A member of your organisation")
    real_name: str = Field(min_length=1, max_length=60)
    credential_kind: CredentialKind
    credential_number: str = Field(min_length=1, max_length=60)
    practising_since: Annotated[date, Field(ge=date(1930, 1, 1))] | None = Field(
        None, description="Doctors: first day of independent practice (3 years at least)"
    )


class PractitionerOut(OutputModel):
    id: int
    organisation_id: int
    user_id: int
    real_name: str
    credential_kind: str
    credential_number: str
    practising_since: date | None
    status: str
    verified_at: datetime


class WeeklySlotIn(StrictInput):
    title: str = Field(min_length=1, max_length=120)
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, Beijing time")
    duration_minutes: int = Field(ge=5, le=480)
    kind: SlotKind = SlotKind.CONSULTATION
    mode: Mode = Mode.ONLINE
    capacity: int = Field(1, ge=1, le=500, description="1 for a consultation")
    for_minors: bool = Field(False, description="A class for minors: timetable limits apply")
    category: CategoryCode | None = Field(
        None,
        description="Under `medical` for a consultation (default `consultations`), under "
        "`education` for a class (default `courses`)",
    )


class CategoryBriefOut(OutputModel):
    """An offering's category and its consumption type, named in English and Chinese."""

    code: str
    name_en: str
    name_zh: str
    consumption_type: str
    type_name_en: str
    type_name_zh: str


class WeeklySlotOut(OutputModel):
    id: int
    practitioner_id: int
    title: str
    weekday: int
    start_minute: int
    duration_minutes: int
    kind: str
    mode: str
    capacity: int
    for_minors: bool
    category: CategoryBriefOut
    withdrawn_at: datetime | None = None


class WeeklySlotChangeIn(StrictInput):
    """What changes in a weekly session (left out: unchanged); checked as when it was added.
    Its kind (consultation or class) does not change."""

    title: str | None = Field(None, min_length=1, max_length=120)
    weekday: int | None = Field(None, ge=0, le=6, description="0 = Monday")
    start: str | None = Field(
        None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, Beijing time"
    )
    duration_minutes: int | None = Field(None, ge=5, le=480)
    mode: Mode | None = None
    capacity: int | None = Field(None, ge=1, le=500, description="1 for a consultation")
    for_minors: bool | None = None


class WeeklySlotWithdrawIn(StrictInput):
    reason: str = Field("", max_length=200, description="Told to the clients whose bookings go")
    cancel_booked: bool = Field(
        False,
        description="Also cancel the booked sessions to come (by the provider, with the reason); "
        "else they stay and are given, taking no more clients",
    )


class ScheduleChangeOut(OutputModel):
    """A weekly session changed or withdrawn, and what became of its slots to come."""

    weekly_slot: WeeklySlotOut
    closed_slots: int = Field(description="Slots to come nobody had booked: closed")
    made_slots: int = Field(description="Slots made again at the new time")
    kept_slots: int = Field(description="Slots to come with bookings: kept as booked")
    cancelled_bookings: int = Field(description="Bookings cancelled by the provider")


class LeaveIn(StrictInput):
    first_day: Day
    last_day: Day
    reason: str = Field("", max_length=200)


class LeaveOut(OutputModel):
    id: int
    practitioner_id: int
    first_day: date
    last_day: date
    reason: str


class GenerateIn(StrictInput):
    first_day: Day
    last_day: Day


class SlotOut(OutputModel):
    id: int
    practitioner_id: int
    organisation_id: int
    title: str
    kind: str
    mode: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    remaining: int
    for_minors: bool
    status: str
    category: CategoryBriefOut


class DiagnosisIn(StrictInput):
    """The diagnosis document from a physical institution a follow-up is booked with."""

    institution: str = Field(min_length=2, max_length=120, description="Where you were diagnosed")
    # a chronic condition may have been diagnosed long ago (not in the future: checked)
    diagnosed_on: Annotated[date, Field(ge=date(1900, 1, 1), le=date(2099, 12, 31))]
    condition: str = Field(min_length=2, max_length=200, description="The diagnosed condition")
    file_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="A scan you uploaded (purpose `diagnosis`)"
    )


class BookingIn(StrictInput):
    slot_id: int = Field(ge=1, le=MAX_ID)
    diagnosis: DiagnosisIn | None = Field(
        None, description="Required for a consultation with a doctor (follow-up visits only)"
    )


class CancelIn(StrictInput):
    reason: str = Field("", max_length=200)


class BookingOut(OutputModel):
    id: int
    slot_id: int
    organisation_id: int
    practitioner_id: int
    client_user_id: int
    title: str
    mode: str
    starts_at: datetime
    ends_at: datetime
    status: str
    created_at: datetime
    checked_in_at: datetime | None
    completed_at: datetime | None
    no_show_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None


class JoinOut(OutputModel):
    booking_id: int
    url: str
    valid_from: datetime
    valid_until: datetime


class CourseIn(StrictInput):
    title: str = Field(min_length=1, max_length=120)
    weekly_slot_id: int = Field(ge=1, le=MAX_ID, description="A weekly class session")
    first_day: Day
    last_day: Day
    price_per_class_fen: int = Field(ge=1, le=10_000_000)
    subject_training: bool = Field(
        False,
        description="Subject (academic) training; without `category` it names one "
        "(`subject_tutoring`, else `courses`), with it the two must agree",
    )
    category: CategoryCode | None = Field(
        None,
        description="Under `education`; subject training is `subject_tutoring` (and below), "
        "`courses`, `arts_training`, `sports_training`, `technology_training` are not",
    )


class CourseOut(OutputModel):
    id: int
    organisation_id: int
    practitioner_id: int
    title: str
    subject_training: bool
    first_day: date
    last_day: date
    classes: int
    class_minutes: int
    price_per_class_fen: int
    status: str
    category: CategoryBriefOut
    description: str = ""
    withdrawn_at: datetime | None = None
    withdraw_reason: str | None = None


class CourseChangeIn(StrictInput):
    """What changes in a course while enrolment is open (left out: unchanged)."""

    title: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2000)
    capacity: int | None = Field(
        None, ge=1, le=500, description="Places in each class to come (never below those taken)"
    )


class CourseWithdrawIn(StrictInput):
    reason: str = Field("", max_length=200, description="Told to the pupils (required)")


class CourseWithdrawnOut(OutputModel):
    course: CourseOut
    refunded_enrolments: int
    refunded_classes: int
    refunded_fen: int
    closed_enrolments: int = Field(description="Enrolments not paid yet: closed")


class EnrolmentOut(OutputModel):
    id: int
    course_id: int
    organisation_id: int
    classes: int
    price_per_class_fen: int
    amount_fen: int
    status: str
    released_classes: int
    refunded_classes: int
    paid_at: datetime | None


class EnrolledOut(OutputModel):
    enrolment: EnrolmentOut
    payment_public_id: str
    pay_url: str


class DiagnosisFileOut(OutputModel):
    id: int
    content_type: str
    size: int
    original_name: str


class RejectIn(StrictInput):
    reason: str = Field(min_length=1, max_length=200)


class ReferIn(StrictInput):
    note: str = Field(min_length=1, max_length=500, description="What changed")


class ConsultationOut(OutputModel):
    id: int
    booking_id: int
    organisation_id: int
    practitioner_id: int
    client_user_id: int
    held_at: datetime
    institution: str
    diagnosed_on: date
    condition: str
    file_id: int | None
    document_status: str
    reviewed_at: datetime | None
    reject_reason: str | None
    outcome: str | None
    outcome_note: str | None
    ended_at: datetime | None


class PrescriptionIn(StrictInput):
    drug_name: str = Field(min_length=1, max_length=120)
    drug_class: DrugClass
    dosage: str = Field(min_length=1, max_length=200, description="e.g. 5 mg once a day")
    quantity: int = Field(ge=1, le=10_000)
    unit: str = Field("", max_length=20)


class ExtendIn(StrictInput):
    valid_days: int = Field(ge=1, le=31, description="Days from the issue day, that one included")


class PrescriptionOut(OutputModel):
    id: int
    booking_id: int
    organisation_id: int
    client_user_id: int
    doctor_practitioner_id: int
    drug_name: str
    drug_class: str
    dosage: str
    quantity: int
    unit: str
    signature: str
    signed_at: datetime
    status: str
    state: str = Field(
        description="The status, `dispensed` once dispensed, or `expired` after its last valid day"
    )
    dispensable: bool = Field(description="Approved by a pharmacist and still valid")
    reviewed_at: datetime | None
    review_note: str | None
    issued_on: date
    valid_until: date
    dispensed_at: datetime | None


class IdentityIn(StrictInput):
    """The practitioner's real-name check before a session: their registered real name and the
    last 4 characters of their credential number."""

    real_name: str = Field(min_length=1, max_length=60)
    credential_last4: str = Field(min_length=4, max_length=4)


class IdentityCheckOut(OutputModel):
    id: int
    slot_id: int
    practitioner_id: int
    method: str
    checked_at: datetime
