"""Merchant onboarding: applications checked against the negative list (refusals record the
rule used), their review, and the organisation and verified profile an approval creates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts import service as accounts
from linli.audit import service as audit
from linli.authz import PLATFORM_REVIEW, Actor, ensure
from linli.categories import negative_list
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import MerchantApplicationDecided, MerchantApplicationSubmitted
from linli.i18n import N_, Message
from linli.merchants import credit_code
from linli.merchants.dates import add_months, local_today
from linli.merchants.licences import LICENCE_LABELS, licences_of_application, valid_on
from linli.merchants.models import Licence, MerchantApplication, MerchantProfile
from linli.merchants.policies import ensure_files_are_yours
from linli.merchants.reverification import REVERIFICATION, schedule_reverification
from linli.merchants.schemas import ApplicationIn, LicenceIn
from linli.reviews import ReviewStatus, ensure_decidable
from linli.rules import service as rules


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
    await ensure_files_are_yours(session, user_id, [lic.file_id for lic in data.licences])
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
    held = {lic.licence_type for lic in licences if valid_on(lic, today)}
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
    await schedule_reverification(session, organisation.id, due)


async def _ensure_no_profile(session: AsyncSession, code: str) -> None:
    if (
        await session.scalar(
            select(MerchantProfile.organisation_id).where(MerchantProfile.credit_code == code)
        )
        is not None
    ):
        raise Conflict(N_("This company is already registered."), code="credit_code_taken")
