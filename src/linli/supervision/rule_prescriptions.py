"""`supervision.prescription_unreviewed`, evaluated by the daily sweep (the clock drives it):

- a prescription the doctor signed that is still pending the pharmacist's review `max_hours`
  after it was signed (by then, with the default validity of its day, it expired unreviewed)
  is one fact of the counting rule for its clinic (ref `prescription:{id}`, counted once);
- an approved prescription without a pharmacist's review on record (no reviewer or review
  time, reviewed by its prescriber or by someone who is not a pharmacist of the clinic,
  reviewed before it was signed) could be dispensed without review: it raises an alert of
  its own at once (subject `prescription:{id}`), one severity step above the rule's. Linli
  records no dispensing (docs/services.md), so "approved" (dispensable) is the closest sign
  the data holds. The services domain never approves so; this watches for data changed
  behind it. Only prescriptions still valid yesterday or later are looked at: a dispensing
  needs a valid prescription, and the sweep runs daily.

Supervision reads the services domain's tables here as it reads group buying's and trace's
(`rule_evaluation`): only supervision may (pyproject.toml, `models-services`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists, String, cast, exists, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.rules.workdays import local_date
from linli.services.models import Practitioner, Prescription
from linli.services.states import CredentialKind, PrescriptionStatus
from linli.supervision import alert_service, rule_evaluation
from linli.supervision import rule_defaults as R
from linli.supervision.alert_models import SEVERITIES, Signal
from linli.supervision.rule_service import in_force, merchant_codes

UNREVIEWED = rule_evaluation.COUNTED[R.PRESCRIPTION_UNREVIEWED]
DISPENSABLE_UNREVIEWED = "dispensable_unreviewed"  # the signal that marks one judged


def _ref() -> ColumnElement[str]:
    return literal("prescription:") + cast(Prescription.id, String)


def _judged(kind: str) -> Exists:
    """A signal of `kind` about the prescription exists (it was counted or flagged once)."""
    return exists(
        select(Signal.id).where(
            Signal.organisation_id == Prescription.organisation_id,
            Signal.kind == kind,
            Signal.ref == _ref(),
        )
    )


def one_step_up(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


async def prescriptions_unreviewed(session: AsyncSession, now: datetime) -> int:
    """Count each prescription still pending review `max_hours` (of its clinic's rule) after
    it was signed, once; returns how many were counted."""
    soonest = timedelta(hours=R.BY_ID[R.PRESCRIPTION_UNREVIEWED].spec["max_hours"].low)
    pending = (
        await session.execute(
            select(
                Prescription.id,
                Prescription.organisation_id,
                Prescription.signed_at,
                Prescription.valid_until,
            )
            .where(
                Prescription.status == PrescriptionStatus.PENDING_REVIEW,
                Prescription.signed_at < now - soonest,
                ~_judged(UNREVIEWED),
            )
            .order_by(Prescription.id)
        )
    ).all()
    counted = 0
    for row in pending:
        codes = await merchant_codes(session, row.organisation_id)
        rule = await in_force(session, R.PRESCRIPTION_UNREVIEWED, codes)
        max_hours = rule.params["max_hours"]
        waited = now - row.signed_at
        if waited <= timedelta(hours=max_hours):  # "over" is strict
            continue
        await rule_evaluation.counted_fact(
            session,
            R.PRESCRIPTION_UNREVIEWED,
            row.organisation_id,
            f"prescription:{row.id}",
            rule=rule,
            summary=f"prescription {row.id} unreviewed for {waited.total_seconds() / 3600:.1f} h",
            inputs={
                "prescription_id": row.id,
                "signed_at": row.signed_at.isoformat(),
                "valid_until": row.valid_until.isoformat(),
                "hours_unreviewed": round(waited.total_seconds() / 3600, 2),
                "max_hours": max_hours,
            },
        )
        counted += 1
    return counted


def _why(row: Any) -> str:
    """Why an approval is not a pharmacist's review (the first reason that holds)."""
    if row.reviewed_by_user_id is None:
        return "no_reviewer"
    if row.reviewed_at is None:
        return "no_review_time"
    if row.reviewed_by_user_id == row.doctor_user_id:
        return "reviewed_by_prescriber"
    if not row.by_pharmacist:
        return "not_a_pharmacist"
    return "reviewed_before_signed"


async def dispensable_unreviewed(session: AsyncSession, now: datetime) -> int:
    """Raise an alert for each approved prescription, still valid yesterday or later, whose
    approval is not a pharmacist's review; each once. Returns how many were raised."""
    by_pharmacist = exists(
        select(Practitioner.id).where(
            Practitioner.organisation_id == Prescription.organisation_id,
            Practitioner.user_id == Prescription.reviewed_by_user_id,
            Practitioner.credential_kind == CredentialKind.PHARMACIST,
        )
    )
    yesterday = local_date(now) - timedelta(days=1)
    rows = (
        await session.execute(
            select(
                Prescription.id,
                Prescription.organisation_id,
                Prescription.doctor_user_id,
                Prescription.reviewed_by_user_id,
                Prescription.reviewed_at,
                Prescription.signed_at,
                Prescription.valid_until,
                by_pharmacist.label("by_pharmacist"),
            )
            .where(
                Prescription.status == PrescriptionStatus.APPROVED,
                Prescription.valid_until >= yesterday,
                ~_judged(DISPENSABLE_UNREVIEWED),
                or_(
                    Prescription.reviewed_by_user_id.is_(None),
                    Prescription.reviewed_at.is_(None),
                    Prescription.reviewed_by_user_id == Prescription.doctor_user_id,
                    ~by_pharmacist,
                    Prescription.reviewed_at < Prescription.signed_at,
                ),
            )
            .order_by(Prescription.id)
        )
    ).all()
    for row in rows:
        ref = f"prescription:{row.id}"
        await alert_service.record_signal(session, row.organisation_id, DISPENSABLE_UNREVIEWED, ref)
        codes = await merchant_codes(session, row.organisation_id)
        rule = await in_force(session, R.PRESCRIPTION_UNREVIEWED, codes)
        why = _why(row)
        await alert_service.raise_alert(
            session,
            rule,
            row.organisation_id,
            subject=ref,
            summary=f"prescription {row.id} approved without a pharmacist's review ({why})",
            inputs={
                "prescription_id": row.id,
                "why": why,
                "signed_at": row.signed_at.isoformat(),
                "valid_until": row.valid_until.isoformat(),
            },
            evidence=[
                {
                    "type": "prescription",
                    "prescription_id": row.id,
                    "status": PrescriptionStatus.APPROVED.value,
                    "doctor_user_id": row.doctor_user_id,
                    "reviewed_by_user_id": row.reviewed_by_user_id,
                    "reviewed_at": row.reviewed_at.isoformat() if row.reviewed_at else None,
                }
            ],
            severity=one_step_up(rule.severity),
        )
    return len(rows)
