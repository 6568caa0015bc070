"""Medical records of Internet+medical follow-up care: the consultation record a booking with a
doctor opens (the diagnosis document from a physical institution: follow-up visits only), who
may see records, and their retention (rule services.medical_records, purged by the due job
services.medical_purge after their period, never before).

Visible to the patient, the treating organisation (members with `services.read`) and the
regulators whose region (district, else city, else province) the organisation is registered
in; to anyone else a record is missing (404). The booking core (booking.py) calls
`open_record` when a consultation with a doctor is booked and `ensure_may_complete` /
`record_outcome` when it is completed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, delete, exists, false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import REGULATOR_MEDICAL_READ, SERVICES_READ, Actor, acting_organisation
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.files import service as files
from linli.i18n import N_
from linli.rules import service as rules
from linli.rules.workdays import local_date
from linli.services.models import Booking, ConsultationRecord, Practitioner, Prescription, Slot
from linli.services.policies import acting_provider
from linli.services.practitioners import local_moment
from linli.services.schemas import DiagnosisFileOut, DiagnosisIn
from linli.services.states import (
    CredentialKind,
    DocumentStatus,
    DrugClass,
    Mode,
    Outcome,
    SlotKind,
)

RECORDS_RULE = "services.medical_records"
DIAGNOSIS_FILE_PURPOSE = "diagnosis"
DIAGNOSIS_TYPES = files.DOCUMENT_TYPES | files.IMAGE_TYPES


async def store_diagnosis_scan(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    data: bytes,
    filename: str,
    *,
    field: str = "file",
) -> DiagnosisFileOut:
    """Keep the patient's scan of a diagnosis document (its id is booked with)."""
    stored = await files.store(
        session,
        actor,
        file_store,
        data,
        filename=filename or "diagnosis",
        purpose=DIAGNOSIS_FILE_PURPOSE,
        allowed=DIAGNOSIS_TYPES,
        field=field,
        shown_to_others=True,  # the clinic and its regulator see it: no photo metadata
    )
    return DiagnosisFileOut.model_validate(stored)


def diagnosis_required() -> ValidationFailed:
    return ValidationFailed(
        N_(
            "Online consultations are for follow-up visits only: attach the diagnosis document "
            "from the hospital or clinic where your condition was diagnosed."
        ),
        fields={"diagnosis": N_("Required for a consultation with a doctor.")},
        code="diagnosis_required",
    )


async def open_record(
    session: AsyncSession, actor: Actor, booking: Booking, diagnosis: DiagnosisIn
) -> ConsultationRecord:
    """The consultation record of a booking just made, with its diagnosis document (waiting
    for the doctor)."""
    if diagnosis.diagnosed_on > local_date(clock.now()):
        raise ValidationFailed(
            N_("The diagnosis date is in the future."),
            fields={"diagnosis.diagnosed_on": N_("A past date.")},
            code="diagnosis_in_future",
        )
    if diagnosis.file_id is not None:
        owned = await files.owned_file_ids_for(
            session, actor.require_user_id(), [diagnosis.file_id], DIAGNOSIS_FILE_PURPOSE
        )
        if not owned:
            raise ValidationFailed(
                N_("Attach a diagnosis document you uploaded yourself."),
                fields={"diagnosis.file_id": N_("Not one of your uploads.")},
                code="file_not_yours",
            )
    record = ConsultationRecord(
        booking_id=booking.id,
        organisation_id=booking.organisation_id,
        practitioner_id=booking.practitioner_id,
        client_user_id=booking.client_user_id,
        held_at=booking.starts_at,
        institution=diagnosis.institution.strip(),
        diagnosed_on=diagnosis.diagnosed_on,
        condition=diagnosis.condition.strip(),
        file_id=diagnosis.file_id,
        document_status=DocumentStatus.SUBMITTED,
        created_at=clock.now(),
    )
    session.add(record)
    await session.flush()
    audit.record(
        session,
        actor,
        "services.medical.document_submitted",
        target_type="services_consultation_record",
        target_id=record.id,
        organisation_id=booking.organisation_id,
        booking=booking.id,
        institution=record.institution,
        diagnosed_on=record.diagnosed_on.isoformat(),
    )
    return record


async def record_of(session: AsyncSession, booking_id: int) -> ConsultationRecord | None:
    return await session.scalar(
        select(ConsultationRecord).where(ConsultationRecord.booking_id == booking_id)
    )


async def follow_up_slot_ids(session: AsyncSession, slot_ids: Sequence[int]) -> set[int]:
    """Those of the slots that are online consultations with a doctor (booked with a
    document)."""
    if not slot_ids:
        return set()
    rows = await session.scalars(
        select(Slot.id)
        .join(Practitioner, Practitioner.id == Slot.practitioner_id)
        .where(
            Slot.id.in_(list(slot_ids)),
            Slot.kind == SlotKind.CONSULTATION,
            Slot.mode == Mode.ONLINE,
            Practitioner.credential_kind == CredentialKind.DOCTOR,
        )
    )
    return set(rows)


async def booking_ids_with_records(session: AsyncSession, booking_ids: Sequence[int]) -> set[int]:
    if not booking_ids:
        return set()
    rows = await session.scalars(
        select(ConsultationRecord.booking_id).where(
            ConsultationRecord.booking_id.in_(list(booking_ids))
        )
    )
    return set(rows)


def not_accepted() -> Conflict:
    return Conflict(
        N_(
            "The doctor has not accepted the diagnosis document: no first diagnosis online, "
            "so this consultation cannot go on."
        ),
        code="diagnosis_not_accepted",
    )


async def ensure_may_complete(session: AsyncSession, booking: Booking) -> None:
    """A consultation with a doctor is completed only once its document was accepted."""
    record = await record_of(session, booking.id)
    if record is not None and record.document_status != DocumentStatus.ACCEPTED:
        raise not_accepted()


async def record_outcome(
    session: AsyncSession, booking: Booking, outcome: Outcome, note: str | None = None
) -> bool:
    """Set the record's outcome once (a conditional UPDATE); False when there is no record
    or it already has one."""
    done = await session.scalar(
        update(ConsultationRecord)
        .where(ConsultationRecord.booking_id == booking.id, ConsultationRecord.outcome.is_(None))
        .values(outcome=outcome, outcome_note=note, ended_at=clock.now())
        .returning(ConsultationRecord.id)
        .execution_options(synchronize_session=False)
    )
    return done is not None


# --- who sees records -----------------------------------------------------------------------


def regulated_organisations(region: tuple[str, str] | None) -> ColumnElement[bool]:
    """Organisations registered in the regulator's region (none without a region)."""
    if region is None:
        return false()
    column, code = region
    return getattr(Organisation, column) == code  # type: ignore[no-any-return]


async def regulator_region(session: AsyncSession, actor: Actor) -> tuple[str, str] | None:
    """The region a regulator covers (district, else city, else province); 403 for anyone not
    acting for a regulator with `regulator.medical.read`."""
    regulator_id = acting_organisation(actor, REGULATOR_MEDICAL_READ, kinds=("regulator",))
    regulator = await session.get(Organisation, regulator_id)
    assert regulator is not None
    for name in ("district_code", "city_code", "province_code"):
        code = getattr(regulator, name)
        if code:
            return name, str(code)
    return None


async def my_records(session: AsyncSession, actor: Actor) -> Sequence[ConsultationRecord]:
    return (
        await session.scalars(
            select(ConsultationRecord)
            .where(ConsultationRecord.client_user_id == actor.require_user_id())
            .order_by(ConsultationRecord.held_at.desc(), ConsultationRecord.id.desc())
            .limit(200)
        )
    ).all()


async def provider_record(
    session: AsyncSession, actor: Actor, booking_id: int
) -> ConsultationRecord:
    """The treating organisation's record of one consultation (members with services.read)."""
    organisation_id = acting_provider(actor, SERVICES_READ)
    row = await session.scalar(
        select(ConsultationRecord).where(
            ConsultationRecord.booking_id == booking_id,
            ConsultationRecord.organisation_id == organisation_id,
        )
    )
    if row is None:
        raise NotFound(N_("No such consultation."))
    return row


async def visible_record(
    session: AsyncSession, actor: Actor, booking_id: int
) -> ConsultationRecord:
    """The record of a consultation for whoever may see it: the patient (acting for no
    organisation), the treating organisation's members with `services.read`, the regulator of
    its region with `regulator.medical.read`; 404 for anyone else."""
    query = select(ConsultationRecord).where(ConsultationRecord.booking_id == booking_id)
    if actor.organisation_id is None:
        query = query.where(ConsultationRecord.client_user_id == actor.require_user_id())
    elif actor.acts_for("regulator") and actor.has(REGULATOR_MEDICAL_READ):
        region = await regulator_region(session, actor)
        organisations = select(Organisation.id).where(regulated_organisations(region))
        query = query.where(ConsultationRecord.organisation_id.in_(organisations))
    elif actor.acts_for("merchant") and actor.has(SERVICES_READ):
        query = query.where(ConsultationRecord.organisation_id == actor.organisation_id)
    else:
        query = query.where(false())
    row = await session.scalar(query)
    if row is None:
        raise NotFound(N_("No such consultation."))
    return row


async def organisation_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {int(i): str(n) for i, n in rows.all()}


async def regulator_records(
    session: AsyncSession, actor: Actor, *, limit: int = 500
) -> Sequence[ConsultationRecord]:
    region = await regulator_region(session, actor)
    organisations = select(Organisation.id).where(regulated_organisations(region))
    return (
        await session.scalars(
            select(ConsultationRecord)
            .where(ConsultationRecord.organisation_id.in_(organisations))
            .order_by(ConsultationRecord.held_at.desc(), ConsultationRecord.id.desc())
            .limit(limit)
        )
    ).all()


async def regulator_prescriptions(
    session: AsyncSession, actor: Actor, *, limit: int = 500
) -> Sequence[Prescription]:
    region = await regulator_region(session, actor)
    organisations = select(Organisation.id).where(regulated_organisations(region))
    return (
        await session.scalars(
            select(Prescription)
            .where(Prescription.organisation_id.in_(organisations))
            .order_by(Prescription.id.desc())
            .limit(limit)
        )
    ).all()


# --- retention ------------------------------------------------------------------------------


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class Purged:
    records: int
    prescriptions: int


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> Purged:
    """Delete the prescriptions and consultation records whose retention period has ended:
    a prescription once `prescription_years[class]` years passed since the day it was
    issued, a record once `consultation_record_years` passed since the consultation's day
    (and none of its prescriptions is still kept). Never before."""
    moment = now or clock.now()
    today = local_date(moment)
    values = (await rules.in_force(session, RECORDS_RULE)).values
    years_by_class = dict(values["prescription_years"])
    prescriptions = 0
    for drug_class in DrugClass:
        years = int(years_by_class[str(drug_class)])
        gone = (
            await session.execute(
                delete(Prescription)
                .where(
                    Prescription.drug_class == drug_class,
                    Prescription.issued_on < years_before(today, years),
                )
                .returning(Prescription.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
        prescriptions += len(gone)
    record_years = int(values["consultation_record_years"])
    # held before the local day `record_years` ago, the whole day included: from its start
    cutoff = years_before(today, record_years)
    kept_prescription = exists().where(Prescription.record_id == ConsultationRecord.id)
    records = (
        await session.execute(
            delete(ConsultationRecord)
            .where(
                ConsultationRecord.held_at < local_moment(cutoff, 0),
                ~kept_prescription,
            )
            .returning(ConsultationRecord.id, ConsultationRecord.file_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    # the scans of the purged records go with them (their bytes at the next files sweep)
    scans = await files.forget(session, [file_id for _, file_id in records if file_id])
    if prescriptions or records:
        audit.record(
            session,
            Actor.for_system(),
            "services.medical.purged",
            target_type="services_consultation_record",
            records=len(records),
            prescriptions=prescriptions,
            scans=scans,
            rule_version=(await rules.in_force(session, RECORDS_RULE)).version,
        )
    return Purged(len(records), prescriptions)
