"""Export to domestic: the 'three same' certification of foreign-trade enterprises (applying,
review, revocation)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import ORG_READ, PLATFORM_REVIEW, Actor, ensure
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import CertificationDecided
from linli.i18n import N_
from linli.merchants.dates import add_months
from linli.merchants.models import ThreeSameCertification
from linli.merchants.policies import acting_enterprise, ensure_files_are_yours
from linli.merchants.profiles import profile
from linli.merchants.schemas import CertificationIn
from linli.reviews import ReviewStatus, ensure_decidable
from linli.rules import service as rules

THREE_SAME = "export.three_same"


async def apply_for_certification(
    session: AsyncSession, actor: Actor, data: CertificationIn
) -> ThreeSameCertification:
    organisation_id = acting_enterprise(actor)
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    if not organisation.foreign_trade:
        raise Forbidden(
            N_("Only foreign-trade enterprises can apply for the 'three same' certification."),
            code="not_foreign_trade",
        )
    await profile(session, organisation_id)
    pending = await session.scalar(
        select(ThreeSameCertification.id).where(
            ThreeSameCertification.organisation_id == organisation_id,
            ThreeSameCertification.status == ReviewStatus.SUBMITTED,
        )
    )
    if pending is not None:
        raise Conflict(N_("An application for this certification is already under review."))
    await ensure_files_are_yours(session, actor.require_user_id(), data.evidence_file_ids)
    row = ThreeSameCertification(
        organisation_id=organisation_id,
        export_standard=data.export_standard,
        destination_markets=data.destination_markets,
        production_line=data.production_line,
        certificates=data.certificates,
        evidence_file_ids=data.evidence_file_ids,
        status=ReviewStatus.SUBMITTED,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "merchants.certification_applied",
        target_type="certification",
        target_id=row.id,
    )
    return row


async def certifications(
    session: AsyncSession, actor: Actor, *, status: str | None = None
) -> Sequence[ThreeSameCertification]:
    """Reviewers see all; an enterprise sees its own."""
    query = select(ThreeSameCertification).order_by(ThreeSameCertification.id.desc()).limit(100)
    if not actor.has(PLATFORM_REVIEW):
        organisation_id = acting_enterprise(actor, ORG_READ)
        query = query.where(ThreeSameCertification.organisation_id == organisation_id)
    if status:
        query = query.where(ThreeSameCertification.status == status)
    return (await session.scalars(query)).all()


async def decide_certification(
    session: AsyncSession,
    actor: Actor,
    certification_id: int,
    *,
    approve: bool,
    reason: str | None,
) -> ThreeSameCertification:
    ensure(actor, PLATFORM_REVIEW)
    row = await session.scalar(
        select(ThreeSameCertification)
        .where(ThreeSameCertification.id == certification_id)
        .with_for_update()
    )
    if row is None:
        raise NotFound(N_("No such certification."))
    cleaned = ensure_decidable(row.status, approve=approve, reason=reason)
    rule = await rules.in_force(session, THREE_SAME)
    now = clock.now()
    row.reviewed_by_id = actor.user_id
    row.reviewed_at = now
    row.decision_reason = cleaned
    if approve:
        row.status = ReviewStatus.APPROVED
        row.valid_from = now
        row.valid_to = add_months(now, int(rule.values["validity_months"]))
    else:
        row.status = ReviewStatus.REJECTED
    outbox.publish(
        session,
        CertificationDecided(
            certification_id=row.id,
            organisation_id=row.organisation_id,
            status=row.status,
            reason=row.decision_reason,
        ),
    )
    audit.record(
        session,
        actor,
        "merchants.certification_decided",
        target_type="certification",
        target_id=row.id,
        organisation_id=row.organisation_id,
        status=row.status,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return row


async def revoke_certification(
    session: AsyncSession, actor: Actor, certification_id: int, *, reason: str
) -> ThreeSameCertification:
    ensure(actor, PLATFORM_REVIEW)
    row = await session.get(ThreeSameCertification, certification_id)
    if row is None:
        raise NotFound(N_("No such certification."))
    if row.status != ReviewStatus.APPROVED:
        raise Conflict(N_("Only an approved certification can be revoked."))
    if not reason.strip():
        raise ValidationFailed(N_("Say why it is revoked."), fields={"reason": N_("Required.")})
    row.status = ReviewStatus.REVOKED
    row.valid_to = clock.now()
    row.decision_reason = reason.strip()
    outbox.publish(
        session,
        CertificationDecided(
            certification_id=row.id,
            organisation_id=row.organisation_id,
            status=ReviewStatus.REVOKED,
            reason=row.decision_reason,
        ),
    )
    audit.record(
        session,
        actor,
        "merchants.certification_revoked",
        target_type="certification",
        target_id=row.id,
        organisation_id=row.organisation_id,
        reason=row.decision_reason,
    )
    return row
