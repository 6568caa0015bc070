"""Internet+medical follow-up care: the treating doctor's decisions on a consultation (accept or
reject the diagnosis document, refer offline when the condition changed), prescriptions (written
and signed by the treating doctor, refused for the drug classes rule services.medical_prescriptions
bans online, effective only once a pharmacist of the same organisation, not the prescriber,
approved them), their validity (their day, extendable to at most `max_valid_days`).

Every change is a conditional UPDATE on the state it leaves (two clicks never act twice) and an
audit entry (`services.medical.*`). See medical_records.py for the records, who sees them and
their retention.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from itsdangerous import Signer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import SERVICES_MANAGE, SERVICES_READ, Actor, Permission
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.i18n import N_, Message
from linli.rules.workdays import local_date
from linli.services import booking as booking_core
from linli.services import medical_records
from linli.services.models import Booking, ConsultationRecord, Practitioner, Prescription
from linli.services.policies import access_provider_booking, acting_provider, provider_rule
from linli.services.schemas import PrescriptionIn
from linli.services.states import (
    DRUG_CLASS_LABELS,
    HOLDING,
    BookingStatus,
    CancelledBy,
    CredentialKind,
    DocumentStatus,
    DrugClass,
    Outcome,
    PractitionerStatus,
    PrescriptionState,
    PrescriptionStatus,
)

PRESCRIPTION_RULE = "services.medical_prescriptions"
SIGNATURE_SALT = "linli.services.prescription"


@dataclass(frozen=True)
class Treating:
    booking: Booking
    record: ConsultationRecord
    doctor: Practitioner


def no_consultation() -> NotFound:
    return NotFound(N_("No such consultation."))


async def _treating(session: AsyncSession, actor: Actor, booking_id: int) -> Treating:
    """The consultation when the actor is its treating doctor, acting for the treating
    organisation; 404 outside it, 403 `not_treating_doctor` for its other members."""
    booking = await access_provider_booking(session, actor, booking_id, SERVICES_MANAGE)
    record = await medical_records.record_of(session, booking.id)
    if record is None:
        raise no_consultation()
    doctor = await session.get(Practitioner, booking.practitioner_id)
    if (
        doctor is None
        or doctor.user_id != actor.user_id
        or doctor.credential_kind != CredentialKind.DOCTOR
        or doctor.status != PractitionerStatus.ACTIVE
    ):
        raise Forbidden(N_("Only the treating doctor may do this."), code="not_treating_doctor")
    return Treating(booking, record, doctor)


async def _decide(
    session: AsyncSession,
    record: ConsultationRecord,
    actor: Actor,
    status: DocumentStatus,
    reason: str | None = None,
) -> None:
    moved = await session.scalar(
        update(ConsultationRecord)
        .where(
            ConsultationRecord.id == record.id,
            ConsultationRecord.document_status == DocumentStatus.SUBMITTED,
        )
        .values(
            document_status=status,
            reviewed_at=clock.now(),
            reviewed_by_user_id=actor.user_id,
            reject_reason=reason,
        )
        .returning(ConsultationRecord.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(N_("The diagnosis document was already decided on."), code="already_decided")
    await session.refresh(record)


async def accept_document(
    session: AsyncSession, actor: Actor, booking_id: int
) -> ConsultationRecord:
    """The treating doctor accepts the diagnosis document: the follow-up may go ahead."""
    treating = await _treating(session, actor, booking_id)
    if treating.booking.status not in HOLDING:
        raise booking_core.not_now(treating.booking)
    await _decide(session, treating.record, actor, DocumentStatus.ACCEPTED)
    audit.record(
        session,
        actor,
        "services.medical.document_accepted",
        target_type="services_consultation_record",
        target_id=treating.record.id,
        booking=booking_id,
    )
    return treating.record


async def reject_document(
    session: AsyncSession, actor: Actor, booking_id: int, reason: str
) -> ConsultationRecord:
    """The treating doctor rejects the document (not a diagnosis of a physical institution,
    another condition): the booking is cancelled with the reason and the seat goes back."""
    treating = await _treating(session, actor, booking_id)
    if treating.booking.status not in HOLDING:
        raise booking_core.not_now(treating.booking)
    await _decide(session, treating.record, actor, DocumentStatus.REJECTED, reason)
    audit.record(
        session,
        actor,
        "services.medical.document_rejected",
        target_type="services_consultation_record",
        target_id=treating.record.id,
        booking=booking_id,
        reason=reason,
    )
    await booking_core.cancel(
        session, actor, treating.booking, CancelledBy.PROVIDER, reason, leaving=HOLDING
    )
    return treating.record


async def refer_offline(
    session: AsyncSession, actor: Actor, booking_id: int, note: str
) -> ConsultationRecord:
    """The condition changed: the treating doctor ends the consultation (checked in) and
    refers the patient to an in-person visit; recorded as the outcome."""
    treating = await _treating(session, actor, booking_id)
    if treating.record.document_status != DocumentStatus.ACCEPTED:
        raise medical_records.not_accepted()
    ended = await session.scalar(
        update(Booking)
        .where(Booking.id == treating.booking.id, Booking.status == BookingStatus.CHECKED_IN)
        .values(status=BookingStatus.COMPLETED, completed_at=clock.now())
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    if ended is None:
        raise booking_core.not_now(treating.booking)
    await medical_records.record_outcome(session, treating.booking, Outcome.REFERRED_OFFLINE, note)
    await session.refresh(treating.record)
    audit.record(
        session,
        actor,
        "services.medical.referred_offline",
        target_type="services_consultation_record",
        target_id=treating.record.id,
        booking=booking_id,
        note=note,
    )
    return treating.record


# --- prescriptions ------------------------------------------------------------------------


def signed_content(prescription: Prescription) -> bytes:
    """What the doctor signs: who prescribes what to whom, on which day, valid until when (an
    extension is signed again)."""
    return json.dumps(
        {
            "id": prescription.id,
            "booking": prescription.booking_id,
            "organisation": prescription.organisation_id,
            "patient": prescription.client_user_id,
            "doctor": prescription.doctor_user_id,
            "drug": prescription.drug_name,
            "class": prescription.drug_class,
            "dosage": prescription.dosage,
            "quantity": prescription.quantity,
            "unit": prescription.unit,
            "issued_on": prescription.issued_on.isoformat(),
            "valid_until": prescription.valid_until.isoformat(),
        },
        sort_keys=True,
        ensure_ascii=False,
    ).encode()


def _signer(secret_key: str) -> Signer:
    return Signer(secret_key, salt=SIGNATURE_SALT)


def sign(secret_key: str, prescription: Prescription) -> str:
    return _signer(secret_key).get_signature(signed_content(prescription)).decode()


def signature_valid(secret_key: str, prescription: Prescription) -> bool:
    return _signer(secret_key).verify_signature(
        signed_content(prescription), prescription.signature.encode()
    )


def state_of(prescription: Prescription, today: date) -> PrescriptionState:
    """Its status, `dispensed` once dispensed, or `expired` once its last valid day has passed
    (a rejected one stays rejected)."""
    if prescription.status == PrescriptionStatus.REJECTED:
        return PrescriptionState.REJECTED
    if prescription.dispensed_at is not None:
        return PrescriptionState.DISPENSED
    if today > prescription.valid_until:
        return PrescriptionState.EXPIRED
    return PrescriptionState(prescription.status)


def dispensable(prescription: Prescription, today: date) -> bool:
    """Only an approved prescription still in its validity, not dispensed yet, may be
    dispensed."""
    return state_of(prescription, today) == PrescriptionState.APPROVED


async def prescribe(
    session: AsyncSession, actor: Actor, secret_key: str, booking_id: int, data: PrescriptionIn
) -> Prescription:
    """The treating doctor writes and signs a prescription during a checked-in consultation
    whose diagnosis document they accepted; pending the pharmacist's review."""
    treating = await _treating(session, actor, booking_id)
    if treating.record.document_status != DocumentStatus.ACCEPTED:
        raise medical_records.not_accepted()
    # Held checked in until this commits: a referral or completion at the same moment (a
    # conditional UPDATE from checked_in) waits, or this finds the consultation over.
    held = await session.scalar(
        update(Booking)
        .where(Booking.id == treating.booking.id, Booking.status == BookingStatus.CHECKED_IN)
        .values(status=Booking.status)
        .returning(Booking.id)
        .execution_options(synchronize_session=False)
    )
    if held is None:
        raise Conflict(
            N_(
                "Prescriptions are written during the consultation, once the patient is checked in."
            ),
            code="not_in_consultation",
        )
    rule = await provider_rule(session, PRESCRIPTION_RULE, treating.booking.organisation_id)
    if str(data.drug_class) in set(rule.values["banned_online"]):
        raise ValidationFailed(
            N_("Drugs of this class ({drug_class}) may not be prescribed online."),
            fields={"drug_class": N_("Not prescribed online.")},
            code="drug_class_banned",
            drug_class=Message(DRUG_CLASS_LABELS[DrugClass(data.drug_class)]),
        )
    now = clock.now()
    today = local_date(now)
    prescription = Prescription(
        record_id=treating.record.id,
        booking_id=treating.booking.id,
        organisation_id=treating.booking.organisation_id,
        client_user_id=treating.booking.client_user_id,
        doctor_practitioner_id=treating.doctor.id,
        doctor_user_id=treating.doctor.user_id,
        drug_name=data.drug_name.strip(),
        drug_class=data.drug_class,
        dosage=data.dosage.strip(),
        quantity=data.quantity,
        unit=data.unit.strip(),
        signature="",
        signed_at=now,
        status=PrescriptionStatus.PENDING_REVIEW,
        issued_on=today,
        valid_until=today + timedelta(days=int(rule.values["valid_days"]) - 1),
        created_at=now,
    )
    session.add(prescription)
    await session.flush()
    prescription.signature = sign(secret_key, prescription)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.medical.prescribed",
        target_type="services_prescription",
        target_id=prescription.id,
        booking=booking_id,
        drug_class=str(data.drug_class),
        signature=prescription.signature,
        rule_version=rule.version,
    )
    return prescription


def no_prescription() -> NotFound:
    return NotFound(N_("No such prescription."))


async def _organisation_prescription(
    session: AsyncSession, actor: Actor, prescription_id: int, permission: Permission
) -> Prescription:
    organisation_id = acting_provider(actor, permission)
    row = await session.scalar(
        select(Prescription).where(
            Prescription.id == prescription_id, Prescription.organisation_id == organisation_id
        )
    )
    if row is None:
        raise no_prescription()
    return row


async def _ensure_pharmacist(session: AsyncSession, actor: Actor, organisation_id: int) -> None:
    pharmacist = await session.scalar(
        select(Practitioner.id).where(
            Practitioner.organisation_id == organisation_id,
            Practitioner.user_id == actor.user_id,
            Practitioner.credential_kind == CredentialKind.PHARMACIST,
            Practitioner.status == PractitionerStatus.ACTIVE,
        )
    )
    if pharmacist is None:
        raise Forbidden(
            N_("Only a pharmacist of the organisation reviews and dispenses prescriptions."),
            code="not_a_pharmacist",
        )


async def review(
    session: AsyncSession,
    actor: Actor,
    secret_key: str,
    prescription_id: int,
    *,
    approve: bool,
    note: str = "",
) -> Prescription:
    """A pharmacist of the prescribing organisation approves (effective: may be dispensed) or
    rejects a prescription pending review; never their own, never an expired one."""
    prescription = await _organisation_prescription(
        session, actor, prescription_id, SERVICES_MANAGE
    )
    if prescription.doctor_user_id == actor.user_id:
        raise Forbidden(
            N_("A prescription is reviewed by a pharmacist other than its prescriber."),
            code="own_prescription",
        )
    await _ensure_pharmacist(session, actor, prescription.organisation_id)
    today = local_date(clock.now())
    if state_of(prescription, today) == PrescriptionState.EXPIRED:
        raise Conflict(N_("This prescription has expired."), code="expired")
    if not signature_valid(secret_key, prescription):
        raise Conflict(
            N_("This prescription's signature does not match its content."), code="bad_signature"
        )
    if not approve and not note:
        raise ValidationFailed(
            N_("Tell the doctor why."), fields={"note": N_("A reason is required.")}
        )
    status = PrescriptionStatus.APPROVED if approve else PrescriptionStatus.REJECTED
    moved = await session.scalar(
        update(Prescription)
        .where(
            Prescription.id == prescription.id,
            Prescription.status == PrescriptionStatus.PENDING_REVIEW,
            Prescription.valid_until >= today,
        )
        .values(
            status=status,
            reviewed_by_user_id=actor.user_id,
            reviewed_at=clock.now(),
            review_note=note or None,
        )
        .returning(Prescription.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(N_("This prescription was already reviewed."), code="already_reviewed")
    await session.refresh(prescription)
    audit.record(
        session,
        actor,
        "services.medical.prescription_approved"
        if approve
        else "services.medical.prescription_rejected",
        target_type="services_prescription",
        target_id=prescription.id,
        note=note,
    )
    return prescription


async def dispense(session: AsyncSession, actor: Actor, prescription_id: int) -> Prescription:
    """A pharmacist of the prescribing organisation records that the prescription was
    dispensed: once, only after a pharmacist approved it, only within its validity."""
    prescription = await _organisation_prescription(
        session, actor, prescription_id, SERVICES_MANAGE
    )
    await _ensure_pharmacist(session, actor, prescription.organisation_id)
    today = local_date(clock.now())
    moved = await session.scalar(
        update(Prescription)
        .where(
            Prescription.id == prescription.id,
            Prescription.status == PrescriptionStatus.APPROVED,
            Prescription.valid_until >= today,
            Prescription.dispensed_at.is_(None),
        )
        .values(dispensed_at=clock.now(), dispensed_by_user_id=actor.user_id)
        .returning(Prescription.id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(prescription)
    if moved is None:
        state = state_of(prescription, today)
        if state == PrescriptionState.DISPENSED:
            raise Conflict(N_("This prescription was dispensed already."), code="already_dispensed")
        if state == PrescriptionState.EXPIRED:
            raise Conflict(N_("This prescription has expired."), code="expired")
        raise Conflict(
            N_("A prescription is dispensed only after a pharmacist approved it."),
            code="not_approved",
        )
    audit.record(
        session,
        actor,
        "services.medical.dispensed",
        target_type="services_prescription",
        target_id=prescription.id,
        drug_name=prescription.drug_name,
        quantity=prescription.quantity,
    )
    return prescription


async def extend(
    session: AsyncSession, actor: Actor, secret_key: str, prescription_id: int, valid_days: int
) -> Prescription:
    """The prescribing doctor extends a prescription still valid to `valid_days` days from
    its issue (at most the rule's `max_valid_days`), and signs it again."""
    prescription = await _organisation_prescription(
        session, actor, prescription_id, SERVICES_MANAGE
    )
    if prescription.doctor_user_id != actor.user_id:
        raise Forbidden(N_("Only the prescribing doctor may do this."), code="not_treating_doctor")
    rule = await provider_rule(session, PRESCRIPTION_RULE, prescription.organisation_id)
    most = int(rule.values["max_valid_days"])
    if valid_days > most:
        raise ValidationFailed(
            N_("A prescription is valid for at most {days} days."),
            fields={"valid_days": N_("Too long.")},
            code="validity_too_long",
            days=most,
        )
    until = prescription.issued_on + timedelta(days=valid_days - 1)
    today = local_date(clock.now())
    state = state_of(prescription, today)
    if state in (PrescriptionState.EXPIRED, PrescriptionState.REJECTED):
        raise Conflict(N_("This prescription can no longer be extended."), code="not_extendable")
    if until <= prescription.valid_until:
        raise Conflict(N_("The prescription is already valid that long."), code="not_longer")
    moved = await session.scalar(
        update(Prescription)
        .where(
            Prescription.id == prescription.id,
            Prescription.status != PrescriptionStatus.REJECTED,
            Prescription.valid_until >= today,
            Prescription.valid_until < until,
        )
        .values(valid_until=until)
        .returning(Prescription.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise Conflict(N_("This prescription can no longer be extended."), code="not_extendable")
    await session.refresh(prescription)
    prescription.signature = sign(secret_key, prescription)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.medical.prescription_extended",
        target_type="services_prescription",
        target_id=prescription.id,
        valid_until=until.isoformat(),
        signature=prescription.signature,
        rule_version=rule.version,
    )
    return prescription


async def my_prescriptions(session: AsyncSession, actor: Actor) -> Sequence[Prescription]:
    return (
        await session.scalars(
            select(Prescription)
            .where(Prescription.client_user_id == actor.require_user_id())
            .order_by(Prescription.id.desc())
            .limit(200)
        )
    ).all()


async def provider_prescriptions(
    session: AsyncSession, actor: Actor, status: PrescriptionStatus | None = None
) -> Sequence[Prescription]:
    """The treating organisation's prescriptions (the review queue: `pending_review`)."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    query = select(Prescription).where(Prescription.organisation_id == organisation_id)
    if status is not None:
        query = query.where(Prescription.status == status)
    return (await session.scalars(query.order_by(Prescription.id).limit(500))).all()


async def consultation_prescriptions(
    session: AsyncSession, actor: Actor, booking_id: int
) -> Sequence[Prescription]:
    """The prescriptions of one consultation, for the treating organisation."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    return (
        await session.scalars(
            select(Prescription)
            .where(
                Prescription.organisation_id == organisation_id,
                Prescription.booking_id == booking_id,
            )
            .order_by(Prescription.id)
        )
    ).all()
