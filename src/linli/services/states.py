"""The services domain's kinds, statuses and reasons: what its columns may hold, in one place."""

from __future__ import annotations

from enum import StrEnum

from linli.i18n import N_


class CredentialKind(StrEnum):
    """What a practitioner is verified as (and the licence their organisation must hold)."""

    DOCTOR = "doctor"  # a practising certificate, >= 3 years of independent practice
    PHARMACIST = "pharmacist"
    TEACHER = "teacher"


class PractitionerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class SlotKind(StrEnum):
    CONSULTATION = "consultation"  # one client
    CLASS = "class"  # up to the slot's capacity


class Mode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class SlotStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class BookingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"  # set by the due job after the slot ended, never before
    CANCELLED = "cancelled"


# Bookings that hold a seat and the client's time.
HOLDING = (BookingStatus.SCHEDULED, BookingStatus.CHECKED_IN)


class CancelledBy(StrEnum):
    CLIENT = "client"
    PROVIDER = "provider"
    SYSTEM = "system"  # a course enrolment not paid in time


class EnrolmentStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    EXPIRED = "expired"  # not paid in its window: its seats went back


class CourseStatus(StrEnum):
    OPEN = "open"  # residents may enrol
    CLOSED = "closed"  # withdrawn by the school (course_changes.py): no new enrolments


# The licence a provider organisation must hold, valid, for practitioners of each kind
# (merchants.licences: the licence types).
LICENCE_FOR: dict[CredentialKind, str] = {
    CredentialKind.DOCTOR: "medical_institution",
    CredentialKind.PHARMACIST: "medical_institution",
    CredentialKind.TEACHER: "training_school",
}

CREDENTIAL_LABELS: dict[CredentialKind, str] = {
    CredentialKind.DOCTOR: N_("Doctor"),
    CredentialKind.PHARMACIST: N_("Pharmacist"),
    CredentialKind.TEACHER: N_("Teacher"),
}
SLOT_KIND_LABELS: dict[SlotKind, str] = {
    SlotKind.CONSULTATION: N_("Consultation"),
    SlotKind.CLASS: N_("Class"),
}
MODE_LABELS: dict[Mode, str] = {Mode.ONLINE: N_("Online"), Mode.OFFLINE: N_("In person")}
BOOKING_STATUS_LABELS: dict[BookingStatus, str] = {
    BookingStatus.SCHEDULED: N_("Scheduled"),
    BookingStatus.CHECKED_IN: N_("Checked in"),
    BookingStatus.COMPLETED: N_("Completed"),
    BookingStatus.NO_SHOW: N_("No-show"),
    BookingStatus.CANCELLED: N_("Cancelled"),
}
assert set(CREDENTIAL_LABELS) == set(CredentialKind)
assert set(SLOT_KIND_LABELS) == set(SlotKind)
assert set(MODE_LABELS) == set(Mode)
assert set(BOOKING_STATUS_LABELS) == set(BookingStatus)
ENROLMENT_STATUS_LABELS: dict[EnrolmentStatus, str] = {
    EnrolmentStatus.PENDING_PAYMENT: N_("Awaiting payment"),
    EnrolmentStatus.PAID: N_("Paid"),
    EnrolmentStatus.EXPIRED: N_("Not paid in time"),
}
assert set(ENROLMENT_STATUS_LABELS) == set(EnrolmentStatus)


# --- Internet+medical follow-up care (medical.py) ------------------------------------------


class DocumentStatus(StrEnum):
    """The diagnosis document a follow-up consultation is booked with."""

    SUBMITTED = "submitted"  # waiting for the doctor
    ACCEPTED = "accepted"  # the consultation may go ahead
    REJECTED = "rejected"  # the booking was cancelled with the doctor's reason


class Outcome(StrEnum):
    FOLLOW_UP = "follow_up"  # completed as a follow-up visit
    REFERRED_OFFLINE = "referred_offline"  # the condition changed: seen in person instead


class DrugClass(StrEnum):
    """Prescription drug classes (the retention of a prescription depends on its class; rule
    services.medical_prescriptions lists those never prescribed online)."""

    ORDINARY = "ordinary"
    TOXIC = "toxic"  # 医疗用毒性药品
    PSYCHOTROPIC_2 = "psychotropic_2"  # 第二类精神药品
    PSYCHOTROPIC_1 = "psychotropic_1"  # 第一类精神药品
    NARCOTIC = "narcotic"  # 麻醉药品


class PrescriptionStatus(StrEnum):
    PENDING_REVIEW = "pending_review"  # written and signed, not yet effective
    APPROVED = "approved"  # reviewed by a pharmacist: effective, may be dispensed
    REJECTED = "rejected"  # refused by the pharmacist


class PrescriptionState(StrEnum):
    """What a prescription shows: its status, `dispensed` once dispensed, or `expired` once
    its last valid day passed undispensed."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DISPENSED = "dispensed"  # approved, then dispensed once within its validity


DOCUMENT_STATUS_LABELS: dict[DocumentStatus, str] = {
    DocumentStatus.SUBMITTED: N_("Waiting for the doctor"),
    DocumentStatus.ACCEPTED: N_("Accepted by the doctor"),
    DocumentStatus.REJECTED: N_("Not accepted"),
}
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.FOLLOW_UP: N_("Follow-up visit completed"),
    Outcome.REFERRED_OFFLINE: N_("Referred to an in-person visit"),
}
DRUG_CLASS_LABELS: dict[DrugClass, str] = {
    DrugClass.ORDINARY: N_("Ordinary"),
    DrugClass.TOXIC: N_("Toxic (medical use)"),
    DrugClass.PSYCHOTROPIC_2: N_("Psychotropic, class II"),
    DrugClass.PSYCHOTROPIC_1: N_("Psychotropic, class I"),
    DrugClass.NARCOTIC: N_("Narcotic"),
}
PRESCRIPTION_STATE_LABELS: dict[PrescriptionState, str] = {
    PrescriptionState.PENDING_REVIEW: N_("Waiting for the pharmacist's review"),
    PrescriptionState.APPROVED: N_("Approved: may be dispensed"),
    PrescriptionState.REJECTED: N_("Rejected by the pharmacist"),
    PrescriptionState.EXPIRED: N_("Expired"),
    PrescriptionState.DISPENSED: N_("Dispensed to the patient"),
}
assert set(DOCUMENT_STATUS_LABELS) == set(DocumentStatus)
assert set(OUTCOME_LABELS) == set(Outcome)
assert set(DRUG_CLASS_LABELS) == set(DrugClass)
assert set(PRESCRIPTION_STATE_LABELS) == set(PrescriptionState)

# Weekly sessions name their day by number (0 = Monday), as datetime.weekday() does.
WEEKDAY_LABELS = {
    "0": N_("Monday"),
    "1": N_("Tuesday"),
    "2": N_("Wednesday"),
    "3": N_("Thursday"),
    "4": N_("Friday"),
    "5": N_("Saturday"),
    "6": N_("Sunday"),
}
