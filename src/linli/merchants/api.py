"""JSON routes: credit-code check, onboarding, licences, profiles, export certification."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from linli.apitypes import PathId
from linli.authz import (
    MERCHANT_PROFILE_MANAGE,
    ORG_READ,
    PLATFORM_REVIEW,
    Actor,
    current_actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.files import service as files
from linli.merchants import (
    after_sales,
    certification,
    credit_code,
    licences,
    onboarding,
    profiles,
    reverification,
)
from linli.merchants.models import MerchantApplication
from linli.merchants.schemas import (
    AfterSalesIn,
    AfterSalesOut,
    ApplicationIn,
    ApplicationOut,
    CertificationIn,
    CertificationOut,
    CreditCodeCheckOut,
    CreditCodeError,
    DecisionIn,
    LicenceIn,
    LicenceOut,
    ProfileOut,
    ReverifyIn,
    UploadedFileOut,
)
from linli.phone import mask_phone

router = APIRouter(prefix="/api/v1", tags=["merchants"], responses=ERROR_RESPONSES)
AnyActor = Annotated[Actor, Depends(current_actor)]
Account = Annotated[Actor, Depends(require_scope("account"))]
Uploader = Annotated[Actor, Depends(require_scope("account", "org:write"))]
ApplicationReader = Annotated[Actor, Depends(require_scope("account", "platform"))]
Reviewer = Annotated[Actor, Depends(require(PLATFORM_REVIEW))]
OrgReader = Annotated[Actor, Depends(require(ORG_READ))]
ProfileManager = Annotated[Actor, Depends(require(MERCHANT_PROFILE_MANAGE))]
CertificationReader = Annotated[Actor, Depends(require_scope("org:read", "platform"))]
ApplicationStatus = Literal["submitted", "approved", "rejected"]
CertificationStatus = Literal["submitted", "approved", "rejected", "revoked"]


@router.get("/credit-codes/{code}", summary="Check a unified social credit code (public)")
async def check_credit_code(code: Annotated[str, Path(max_length=64)]) -> CreditCodeCheckOut:
    checked = credit_code.validate(code)
    return CreditCodeCheckOut(
        valid=checked.valid,
        normalized=checked.normalized,
        errors=[
            CreditCodeError(
                code=p.code,
                position=p.position,
                message=p.message.render(),
            )
            for p in checked.problems
        ],
    )


@router.post(
    "/merchants/files",
    status_code=201,
    summary="Upload a licence or evidence file (PDF, JPEG or PNG, at most 5 MB)",
)
async def upload_document(
    request: Request,
    session: DbSession,
    actor: Uploader,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[Literal["licence", "evidence"], Form()] = "licence",
) -> UploadedFileOut:
    data = await files.read_upload(file)
    row = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=file.filename or "upload",
        purpose=purpose,
        allowed=files.DOCUMENT_TYPES,
    )
    return UploadedFileOut.model_validate(row)


async def present_application(
    session: AsyncSession, actor: Actor, row: MerchantApplication
) -> ApplicationOut:
    """The application and its licences. The contact's number in full for the applicant only;
    reviewers see it masked, as on the review page (docs/privacy.md)."""
    filed = await licences.licences_of_application(session, row.id)
    phone = (
        row.contact_phone
        if row.applicant_user_id == actor.user_id
        else mask_phone(row.contact_phone)
    )
    return ApplicationOut.from_row(row, licences=filed, contact_phone=phone)


@router.post(
    "/merchants/applications",
    status_code=201,
    summary="Apply to sell on Linli (checked against the negative list)",
)
async def submit_application(
    body: ApplicationIn, session: DbSession, actor: Account
) -> ApplicationOut:
    row = await onboarding.submit_application(session, actor, body)
    return await present_application(session, actor, row)


@router.get(
    "/merchants/applications", summary="Applications: mine, or every one for platform reviewers"
)
async def list_applications(
    session: DbSession,
    actor: ApplicationReader,
    status: Annotated[ApplicationStatus | None, Query()] = None,
) -> list[ApplicationOut]:
    rows = await onboarding.list_applications(session, actor, status=status)
    return [await present_application(session, actor, row) for row in rows]


@router.get("/merchants/applications/{application_id}", summary="One application")
async def get_application(
    application_id: PathId, session: DbSession, actor: ApplicationReader
) -> ApplicationOut:
    return await present_application(
        session, actor, await onboarding.access_application(session, actor, application_id)
    )


@router.post(
    "/merchants/applications/{application_id}/decision",
    summary="Approve or reject (platform reviewers)",
)
async def decide_application(
    application_id: PathId, body: DecisionIn, session: DbSession, actor: Reviewer
) -> ApplicationOut:
    row = await onboarding.decide_application(
        session, actor, application_id, approve=body.approve, reason=body.reason
    )
    return await present_application(session, actor, row)


@router.get("/merchants/{organisation_id}/profile", summary="A verified merchant (public)")
async def public_profile(organisation_id: PathId, session: DbSession) -> ProfileOut:
    organisation, row, badges = await profiles.public_profile(session, organisation_id)
    return ProfileOut(
        organisation_id=organisation.id,
        name=organisation.name,
        kind=organisation.kind,
        foreign_trade=organisation.foreign_trade,
        credit_code=row.credit_code,
        legal_representative=row.legal_representative,
        region=[
            c
            for c in (
                organisation.province_code,
                organisation.city_code,
                organisation.district_code,
            )
            if c
        ],
        business_scope=list(row.business_scope),
        verified_at=row.verified_at,
        listings_paused=row.listings_paused,
        badges=badges,
        credit_grade=None,
        after_sales_phone=row.after_sales_phone,
        after_sales_terms=row.after_sales_terms,
    )


@router.post(
    "/merchants/{organisation_id}/reverify",
    summary="Confirm a merchant's qualifications again (platform reviewers)",
)
async def reverify(
    organisation_id: PathId, body: ReverifyIn, session: DbSession, actor: Reviewer
) -> ProfileOut:
    await reverification.reverify(session, actor, organisation_id, note=body.note)
    return await public_profile(organisation_id, session)


@router.put(
    "/merchants/me/after-sales",
    summary="Set my organisation's public after-sales contact (owner; shown in live rooms)",
)
async def set_after_sales(
    body: AfterSalesIn, session: DbSession, actor: ProfileManager
) -> AfterSalesOut:
    row = await after_sales.set_after_sales(session, actor, body)
    return AfterSalesOut(phone=row.after_sales_phone, terms=row.after_sales_terms)


@router.get("/merchants/me/licences", summary="My organisation's licences")
async def my_licences(session: DbSession, actor: OrgReader) -> list[LicenceOut]:
    rows = await licences.my_licences(session, actor)
    return [LicenceOut.model_validate(r) for r in rows]


@router.post(
    "/merchants/me/licences", status_code=201, summary="File a new or renewed licence (owner)"
)
async def add_licence(body: LicenceIn, session: DbSession, actor: ProfileManager) -> LicenceOut:
    row = await licences.add_licence(session, actor, body)
    return LicenceOut.model_validate(row)


@router.post(
    "/merchants/me/certifications",
    status_code=201,
    summary="Apply for the 'three same' certification (foreign-trade enterprises)",
)
async def apply_certification(
    body: CertificationIn, session: DbSession, actor: ProfileManager
) -> CertificationOut:
    return CertificationOut.model_validate(
        await certification.apply_for_certification(session, actor, body)
    )


@router.get(
    "/merchants/certifications", summary="'Three same' certifications: mine, or all for reviewers"
)
async def list_certifications(
    session: DbSession,
    actor: CertificationReader,
    status: Annotated[CertificationStatus | None, Query()] = None,
) -> list[CertificationOut]:
    rows = await certification.certifications(session, actor, status=status)
    return [CertificationOut.model_validate(r) for r in rows]


@router.post(
    "/merchants/certifications/{certification_id}/decision",
    summary="Approve or reject a certification (platform reviewers)",
)
async def decide_certification(
    certification_id: PathId, body: DecisionIn, session: DbSession, actor: Reviewer
) -> CertificationOut:
    row = await certification.decide_certification(
        session, actor, certification_id, approve=body.approve, reason=body.reason
    )
    return CertificationOut.model_validate(row)


@router.post(
    "/merchants/certifications/{certification_id}/revoke",
    summary="Revoke a certification (platform reviewers)",
)
async def revoke_certification(
    certification_id: PathId, body: ReverifyIn, session: DbSession, actor: Reviewer
) -> CertificationOut:
    row = await certification.revoke_certification(
        session, actor, certification_id, reason=body.note or ""
    )
    return CertificationOut.model_validate(row)
