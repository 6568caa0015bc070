"""Merchant onboarding: applications checked against the negative list, review, verified
profiles, periodic re-verification, licences, and the export 'three same' certification."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts import service as accounts
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import ORG_READ, PLATFORM_REVIEW, Actor, ensure
from linli.categories import negative_list
from linli.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from linli.events import (
    CertificationDecided,
    MerchantApplicationDecided,
    MerchantApplicationSubmitted,
    MerchantListingsPaused,
    MerchantReverified,
)
from linli.files import service as files
from linli.i18n import N_, Message
from linli.jobs import ReverificationDue
from linli.merchants import credit_code
from linli.merchants.models import (
    Licence,
    MerchantApplication,
    MerchantProfile,
    ThreeSameCertification,
)
from linli.merchants.policies import acting_enterprise
from linli.merchants.queries import export_certified_organisation_ids
from linli.merchants.schemas import ApplicationIn, CertificationIn, LicenceIn
from linli.reviews import ReviewStatus, ensure_decidable
from linli.rules import service as rules

REVERIFICATION = "merchant.reverification"
THREE_SAME = "export.three_same"
REVERIFY_JOB = ReverificationDue.job_kind
LOCAL = clock.LOCAL
LICENCE_LABELS = {
    "business_licence": N_("business licence"),
    "food_business": N_("food business licence"),
    "medical_device_business": N_("medical device business licence"),
}


def local_today() -> date:
    return clock.now().astimezone(LOCAL).date()


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _valid_on(licence: LicenceIn | Licence, day: date) -> bool:
    return licence.valid_from <= day <= licence.valid_to


# --- applications -------------------------------------------------------------------------


async def submit_application(
    session: AsyncSession, actor: Actor, data: ApplicationIn
) -> MerchantApplication:
    """A resident applies for their company to sell here. Refusals record the rule used."""
    user_id = actor.require_user_id()
    checked = credit_code.validate(data.credit_code)
    if not checked.valid:
        raise ValidationFailed(
            N_("Check the unified social credit code."),
            code="invalid_credit_code",
            fields={"credit_code": checked.problems[0].message},
        )
    accounts.check_region_codes((data.province_code, data.city_code, data.district_code))
    if data.foreign_trade and data.kind != "supplier":
        raise ValidationFailed(
            N_("Only suppliers can be foreign-trade enterprises."),
            fields={"foreign_trade": N_("Only for suppliers.")},
        )
    phone = accounts.require_mobile(data.contact_phone, "contact_phone")
    market = await negative_list.in_force(
        session, negative_list.region_of(data.province_code, data.city_code, data.district_code)
    )
    scope = market.check_scope(data.business_scope)
    today = local_today()
    problems = _scope_problems(market, scope, data.licences, today)
    if problems:
        audit.record(
            session,
            actor,
            "merchants.application_refused",
            target_type="credit_code",
            target_id=checked.normalized,
            rule_id=market.rule_id,
            rule_version=market.version,
            reasons=[p.msgid for p in problems.values()],
        )
        raise ValidationFailed(
            N_("This application cannot be accepted under the market access rules."),
            code="negative_list",
            fields=dict(problems),
            keep_changes=True,
        )
    await _ensure_files_are_yours(session, user_id, [lic.file_id for lic in data.licences])
    await _ensure_code_is_free(session, checked.normalized)
    application = MerchantApplication(
        applicant_user_id=user_id,
        kind=data.kind,
        foreign_trade=data.foreign_trade,
        company_name=data.company_name,
        credit_code=checked.normalized,
        legal_representative=data.legal_representative,
        address=data.address,
        province_code=data.province_code,
        city_code=data.city_code,
        district_code=data.district_code,
        business_scope=sorted(set(data.business_scope)),
        contact_name=data.contact_name,
        contact_phone=phone,
        status=ReviewStatus.SUBMITTED,
        rule_id=market.rule_id,
        rule_version=market.version,
        created_at=clock.now(),
    )
    session.add(application)
    await session.flush()
    for licence in data.licences:
        session.add(
            Licence(
                application_id=application.id,
                licence_type=licence.licence_type,
                number=licence.number,
                valid_from=licence.valid_from,
                valid_to=licence.valid_to,
                file_id=licence.file_id,
                created_at=clock.now(),
            )
        )
    await session.flush()
    outbox.publish(
        session,
        MerchantApplicationSubmitted(application_id=application.id, applicant_user_id=user_id),
    )
    audit.record(
        session,
        actor,
        "merchants.application_submitted",
        target_type="merchant_application",
        target_id=application.id,
        rule_id=market.rule_id,
        rule_version=market.version,
    )
    return application


def _scope_problems(
    market: negative_list.NegativeList,
    scope: negative_list.ScopeCheck,
    licences: Sequence[LicenceIn],
    today: date,
) -> dict[str, Message]:
    problems: dict[str, Message] = {}
    for licence in licences:
        if licence.valid_to < licence.valid_from:
            problems["licences"] = Message(N_("A licence cannot end before it starts."))
    if scope.prohibited:
        problems["business_scope"] = Message(
            N_("Not allowed on this platform: {codes}."),
            {"codes": market.shown(scope.prohibited)},
        )
    held = {lic.licence_type for lic in licences if _valid_on(lic, today)}
    if "business_licence" not in held:
        problems.setdefault("licences", Message(N_("Attach your business licence, valid today.")))
    for kind, codes in sorted(scope.licences_needed.items()):
        if kind not in held:
            problems.setdefault(
                "licences",
                Message(
                    N_("Selling {codes} needs a valid {licence} on file."),
                    {
                        "codes": market.shown(codes),
                        "licence": Message(LICENCE_LABELS.get(kind, kind)).render(),
                    },
                ),
            )
    return problems


async def _ensure_files_are_yours(
    session: AsyncSession, user_id: int, file_ids: Sequence[int]
) -> None:
    owned = await files.owned_file_ids(session, user_id, file_ids)
    if set(file_ids) - owned:
        raise ValidationFailed(
            N_("Upload each file first; a file id must be one of your uploads."),
            fields={"licences": N_("Unknown file.")},
        )


async def _ensure_code_is_free(session: AsyncSession, code: str) -> None:
    taken = await session.scalar(
        select(MerchantProfile.organisation_id).where(MerchantProfile.credit_code == code)
    )
    pending = await session.scalar(
        select(MerchantApplication.id).where(
            MerchantApplication.credit_code == code,
            MerchantApplication.status == ReviewStatus.SUBMITTED,
        )
    )
    if taken is not None or pending is not None:
        raise Conflict(
            N_("This company is already registered or has an application under review."),
            code="credit_code_taken",
            fields={"credit_code": N_("Already in use.")},
        )


async def list_applications(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    limit: int = 50,
    mine_only: bool = False,
) -> Sequence[MerchantApplication]:
    """Reviewers see every application; applicants (and reviewers asking) see their own."""
    query = select(MerchantApplication).order_by(MerchantApplication.id.desc()).limit(limit)
    if mine_only or not actor.has(PLATFORM_REVIEW):
        query = query.where(MerchantApplication.applicant_user_id == actor.require_user_id())
    if status:
        query = query.where(MerchantApplication.status == status)
    return (await session.scalars(query)).all()


async def access_application(
    session: AsyncSession, actor: Actor, application_id: int
) -> MerchantApplication:
    query = select(MerchantApplication).where(MerchantApplication.id == application_id)
    if not actor.has(PLATFORM_REVIEW):
        query = query.where(MerchantApplication.applicant_user_id == actor.require_user_id())
    application = await session.scalar(query)
    if application is None:
        raise NotFound(N_("No such application."))
    return application


async def licences_of_application(session: AsyncSession, application_id: int) -> Sequence[Licence]:
    return (
        await session.scalars(
            select(Licence).where(Licence.application_id == application_id).order_by(Licence.id)
        )
    ).all()


async def decide_application(
    session: AsyncSession,
    actor: Actor,
    application_id: int,
    *,
    approve: bool,
    reason: str | None,
) -> MerchantApplication:
    ensure(actor, PLATFORM_REVIEW)
    application = await session.scalar(
        select(MerchantApplication)
        .where(MerchantApplication.id == application_id)
        .with_for_update()
    )
    if application is None:
        raise NotFound(N_("No such application."))
    cleaned = ensure_decidable(application.status, approve=approve, reason=reason)
    now = clock.now()
    application.reviewed_by_id = actor.user_id
    application.reviewed_at = now
    application.decision_reason = cleaned
    if approve:
        await _approve(session, actor, application, now)
    else:
        application.status = ReviewStatus.REJECTED
    outbox.publish(
        session,
        MerchantApplicationDecided(
            application_id=application.id,
            applicant_user_id=application.applicant_user_id,
            approved=approve,
            organisation_id=application.organisation_id,
            reason=application.decision_reason,
        ),
    )
    audit.record(
        session,
        actor,
        "merchants.application_decided",
        target_type="merchant_application",
        target_id=application.id,
        approved=approve,
        reason=application.decision_reason,
        organisation_id=application.organisation_id,
    )
    return application


async def _approve(
    session: AsyncSession, actor: Actor, application: MerchantApplication, now: datetime
) -> None:
    await _ensure_no_profile(session, application.credit_code)
    organisation = await accounts.insert_organisation(
        session,
        actor,
        kind=application.kind,
        name=application.company_name,
        foreign_trade=application.foreign_trade,
        province_code=application.province_code,
        city_code=application.city_code,
        district_code=application.district_code,
    )
    await accounts.insert_membership(
        session,
        actor,
        organisation_id=organisation.id,
        user_id=application.applicant_user_id,
        role="owner",
    )
    rule = await rules.in_force(session, REVERIFICATION)
    due = add_months(now, int(rule.values["interval_months"]))
    session.add(
        MerchantProfile(
            organisation_id=organisation.id,
            application_id=application.id,
            credit_code=application.credit_code,
            legal_representative=application.legal_representative,
            address=application.address,
            business_scope=application.business_scope,
            verified_at=now,
            next_verification_due=due,
            listings_paused=False,
        )
    )
    for licence in await licences_of_application(session, application.id):
        licence.organisation_id = organisation.id
    application.status = ReviewStatus.APPROVED
    application.organisation_id = organisation.id
    await session.flush()
    await _schedule_reverification(session, organisation.id, due)


async def _ensure_no_profile(session: AsyncSession, code: str) -> None:
    if (
        await session.scalar(
            select(MerchantProfile.organisation_id).where(MerchantProfile.credit_code == code)
        )
        is not None
    ):
        raise Conflict(N_("This company is already registered."), code="credit_code_taken")


async def _schedule_reverification(
    session: AsyncSession, organisation_id: int, due: datetime
) -> None:
    key = f"{REVERIFY_JOB}:{organisation_id}"
    from linli.outbox import DueJob  # the pending job, if any, moves to the new date

    pending = await session.scalar(
        select(DueJob).where(DueJob.dedupe_key == key, DueJob.status == outbox.PENDING)
    )
    if pending is not None:
        pending.due_at = due
        return
    await outbox.schedule(
        session, ReverificationDue(organisation_id=organisation_id), due, dedupe_key=key
    )


# --- verified profiles and re-verification ------------------------------------------------


async def profile(session: AsyncSession, organisation_id: int) -> MerchantProfile:
    row = await session.get(MerchantProfile, organisation_id)
    if row is None:
        raise NotFound(N_("No such merchant."))
    return row


async def public_profile(
    session: AsyncSession, organisation_id: int
) -> tuple[Organisation, MerchantProfile, list[str]]:
    """Anyone may see a verified merchant's identity and badges (never its risk class)."""
    row = await profile(session, organisation_id)
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    badges = ["verified"]
    certified = await session.scalar(
        export_certified_organisation_ids(clock.now()).where(
            ThreeSameCertification.organisation_id == organisation_id
        )
    )
    if certified is not None:
        badges.append("export_quality")
    return organisation, row, badges


async def pause_if_overdue(session: AsyncSession, organisation_id: int) -> bool:
    """The re-verification job: pause listings when re-verification is overdue."""
    row = await session.get(MerchantProfile, organisation_id)
    if row is None or row.listings_paused or row.next_verification_due > clock.now():
        return False
    row.listings_paused = True
    row.paused_reason = "reverification_overdue"
    rule = await rules.in_force(session, REVERIFICATION)
    outbox.publish(
        session,
        MerchantListingsPaused(organisation_id=organisation_id, reason="reverification_overdue"),
    )
    audit.record(
        session,
        Actor.for_system(),
        "merchants.listings_paused",
        target_type="organisation",
        target_id=organisation_id,
        organisation_id=organisation_id,
        reason="reverification_overdue",
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return True


async def reverify(
    session: AsyncSession, actor: Actor, organisation_id: int, *, note: str | None
) -> MerchantProfile:
    """A reviewer confirms the qualifications again; refused while a needed licence lapsed."""
    ensure(actor, PLATFORM_REVIEW)
    row = await profile(session, organisation_id)
    scope = (await negative_list.for_organisation(session, organisation_id)).check_scope(
        row.business_scope
    )
    held = await organisation_licences(session, organisation_id)
    today = local_today()
    valid_kinds = {lic.licence_type for lic in held if _valid_on(lic, today)}
    missing = sorted(({"business_licence"} | set(scope.licences_needed)) - valid_kinds)
    if missing:
        raise ValidationFailed(
            N_("Cannot re-verify: no valid {licences} on file. Ask the merchant to add one."),
            licences=", ".join(Message(LICENCE_LABELS.get(m, m)).render() for m in missing),
            code="licence_missing",
        )
    rule = await rules.in_force(session, REVERIFICATION)
    now = clock.now()
    row.verified_at = now
    row.next_verification_due = add_months(now, int(rule.values["interval_months"]))
    if row.paused_reason == "reverification_overdue":
        row.listings_paused = False
        row.paused_reason = None
    await _schedule_reverification(session, organisation_id, row.next_verification_due)
    outbox.publish(
        session,
        MerchantReverified(
            organisation_id=organisation_id, next_due=row.next_verification_due.isoformat()
        ),
    )
    audit.record(
        session,
        actor,
        "merchants.reverified",
        target_type="organisation",
        target_id=organisation_id,
        organisation_id=organisation_id,
        note=note,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return row


async def organisation_licences(session: AsyncSession, organisation_id: int) -> Sequence[Licence]:
    return (
        await session.scalars(
            select(Licence)
            .where(Licence.organisation_id == organisation_id)
            .order_by(Licence.valid_to)
        )
    ).all()


async def add_licence(session: AsyncSession, actor: Actor, data: LicenceIn) -> Licence:
    """The owner files a new or renewed licence for their organisation."""
    organisation_id = acting_enterprise(actor)
    if data.valid_to < data.valid_from:
        raise ValidationFailed(
            N_("A licence cannot end before it starts."),
            fields={"valid_to": N_("Before the start date.")},
        )
    await _ensure_files_are_yours(session, actor.require_user_id(), [data.file_id])
    licence = Licence(
        organisation_id=organisation_id,
        licence_type=data.licence_type,
        number=data.number,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        file_id=data.file_id,
        created_at=clock.now(),
    )
    session.add(licence)
    await session.flush()
    audit.record(
        session,
        actor,
        "merchants.licence_added",
        target_type="licence",
        target_id=licence.id,
        licence_type=data.licence_type,
    )
    return licence


async def my_licences(session: AsyncSession, actor: Actor) -> Sequence[Licence]:
    return await organisation_licences(session, acting_enterprise(actor, ORG_READ))


async def expiring_licences(
    session: AsyncSession, organisation_id: int
) -> list[tuple[Licence, int]]:
    """Licences that lapse within the warning window, with the days left (negative: lapsed)."""
    rule = await rules.in_force(session, REVERIFICATION)
    window = int(rule.values.get("licence_warning_days", 30))
    today = local_today()
    return [
        (lic, (lic.valid_to - today).days)
        for lic in await organisation_licences(session, organisation_id)
        if lic.valid_to - today <= timedelta(days=window)
    ]


# --- export to domestic: the 'three same' certification -----------------------------------


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
    await _ensure_files_are_yours(session, actor.require_user_id(), data.evidence_file_ids)
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
