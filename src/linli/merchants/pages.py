"""HTML pages: applying to sell, the merchant console, public profiles, review queues."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import (
    MERCHANT_PROFILE_MANAGE,
    PLATFORM_REVIEW,
    Actor,
    current_actor,
    ensure,
    require,
    require_user,
)
from linli.categories.tree import CategoryNode, category_tree
from linli.db import DbSession
from linli.errors import DomainError
from linli.files import service as files
from linli.i18n import _
from linli.merchants import after_sales, certification, licences, onboarding, profiles
from linli.merchants.models import MerchantApplication
from linli.merchants.schemas import AfterSalesIn, ApplicationIn, CertificationIn, LicenceIn
from linli.reviews import ReviewStatus
from linli.web import (
    flash_error,
    form_action,
    page_sections,
    redirect,
    render,
    validate_form,
    verify_csrf,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
LICENCE_SLOTS = ("business", "extra")


async def _categories(session: DbSession) -> list[CategoryNode]:
    return list((await category_tree(session)).rows)


async def _store_upload(
    request: Request,
    session: DbSession,
    actor: Actor,
    upload: Any,
    *,
    purpose: str,
    field: str,
) -> int | None:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await files.read_upload(upload)
    row = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=upload.filename,
        purpose=purpose,
        allowed=files.DOCUMENT_TYPES,
        field=field,
    )
    return row.id


async def _licences_from_form(
    request: Request, session: DbSession, actor: Actor, form: FormData
) -> list[dict[str, Any]]:
    filed: list[dict[str, Any]] = []
    for slot in LICENCE_SLOTS:
        number = forms.text(form, f"{slot}_number")
        file_id = await _store_upload(
            request,
            session,
            actor,
            form.get(f"{slot}_file"),
            purpose="licence",
            field=f"{slot}_file",
        )
        if not number and file_id is None:
            continue
        filed.append(
            {
                "licence_type": forms.text(form, f"{slot}_type") or "business_licence",
                "number": number,
                "valid_from": forms.text(form, f"{slot}_valid_from"),
                "valid_to": forms.text(form, f"{slot}_valid_to"),
                "file_id": file_id or 0,
            }
        )
    return filed


@router.get("/merchants/apply")
async def apply_form(request: Request, session: DbSession, actor: User_) -> Response:
    return render(
        request,
        "merchants/apply.html",
        {"form": {}, "scope": [], "categories": await _categories(session)},
        actor=actor,
    )


@router.post("/merchants/apply")
async def apply_submit(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    scope = [s for s in form.getlist("business_scope") if isinstance(s, str)]

    async def submit() -> MerchantApplication:
        data = validate_form(
            ApplicationIn,
            {
                "kind": values.get("kind", "merchant"),
                "foreign_trade": forms.checked(values, "foreign_trade"),
                "company_name": values.get("company_name", ""),
                "credit_code": values.get("credit_code", ""),
                "legal_representative": values.get("legal_representative", ""),
                "address": values.get("address", ""),
                "province_code": values.get("province_code", ""),
                "city_code": values.get("city_code", ""),
                "district_code": values.get("district_code", ""),
                "business_scope": scope,
                "contact_name": values.get("contact_name", ""),
                "contact_phone": values.get("contact_phone", ""),
                "licences": await _licences_from_form(request, session, actor, form),
            },
        )
        return await onboarding.submit_application(session, actor, data)

    async def failed(error: DomainError) -> Response:
        return render(
            request,
            "merchants/apply.html",
            {
                "form": values,
                "scope": scope,
                "error": error,
                "categories": await _categories(session),
            },
            status_code=error.status_code,
            actor=actor,
        )

    application = await form_action(session, submit, on_error=failed)
    if isinstance(application, Response):
        return application
    return redirect(
        "/merchants/applications",
        text=_("Application #{id} submitted; we will tell you the decision.").format(
            id=application.id
        ),
    )


@router.get("/merchants/applications")
async def my_applications(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await onboarding.list_applications(
        session, actor.__class__(user=actor.user, ip=actor.ip)
    )  # always my own, even for reviewers
    return render(request, "merchants/applications.html", {"applications": rows}, actor=actor)


@router.post("/merchant/licences", dependencies=[Depends(require(MERCHANT_PROFILE_MANAGE))])
async def console_add_licence(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()

    async def file_licence() -> None:
        file_id = await _store_upload(
            request, session, actor, form.get("file"), purpose="licence", field="file"
        )
        data = validate_form(
            LicenceIn,
            {
                "licence_type": forms.text(form, "licence_type"),
                "number": forms.text(form, "number"),
                "valid_from": forms.text(form, "valid_from"),
                "valid_to": forms.text(form, "valid_to"),
                "file_id": file_id or 0,
            },
        )
        await licences.add_licence(session, actor, data)

    failed = await form_action(session, file_licence, on_error=flash_error("/merchant"))
    if isinstance(failed, Response):
        return failed
    return redirect("/merchant", text=_("Licence filed."))


@router.post("/merchant/after-sales", dependencies=[Depends(require(MERCHANT_PROFILE_MANAGE))])
async def console_set_after_sales(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()

    async def set_contact() -> None:
        data = validate_form(
            AfterSalesIn,
            {"phone": forms.text(form, "phone"), "terms": forms.text(form, "terms") or None},
        )
        await after_sales.set_after_sales(session, actor, data)

    failed = await form_action(session, set_contact, on_error=flash_error("/merchant"))
    if isinstance(failed, Response):
        return failed
    return redirect("/merchant", text=_("After-sales contact saved."))


@router.post("/merchant/certifications", dependencies=[Depends(require(MERCHANT_PROFILE_MANAGE))])
async def console_apply_certification(
    request: Request, session: DbSession, actor: User_
) -> Response:
    form = await request.form()

    async def apply() -> None:
        evidence = await _store_upload(
            request, session, actor, form.get("evidence"), purpose="evidence", field="evidence"
        )
        data = validate_form(
            CertificationIn,
            {
                "export_standard": forms.text(form, "export_standard"),
                "destination_markets": [
                    m.strip()
                    for m in forms.text(form, "destination_markets").replace("，", ",").split(",")
                    if m.strip()
                ],
                "production_line": forms.text(form, "production_line"),
                "certificates": [
                    c.strip()
                    for c in forms.text(form, "certificates").replace("，", ",").split(",")
                    if c.strip()
                ],
                "evidence_file_ids": [evidence] if evidence else [],
            },
        )
        await certification.apply_for_certification(session, actor, data)

    failed = await form_action(session, apply, on_error=flash_error("/merchant"))
    if isinstance(failed, Response):
        return failed
    return redirect("/merchant", text=_("Certification application submitted."))


@router.get("/m/{organisation_id}")
async def public_profile(
    organisation_id: PathId, request: Request, session: DbSession, actor: AnyActor
) -> Response:
    organisation, profile, badges = await profiles.public_profile(session, organisation_id)
    sections = await page_sections("merchant", request, session, organisation_id)
    return render(
        request,
        "merchants/profile.html",
        {"organisation": organisation, "profile": profile, "badges": badges, "sections": sections},
        actor=actor,
        public=True,
    )


# --- review queues (platform reviewers) ---------------------------------------------------


@router.get("/ops/merchants")
async def review_queue(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_REVIEW)
    pending = await onboarding.list_applications(session, actor, status=ReviewStatus.SUBMITTED)
    decided = [
        a
        for a in await onboarding.list_applications(session, actor, limit=30)
        if a.status != ReviewStatus.SUBMITTED
    ]
    return render(
        request, "merchants/review_list.html", {"pending": pending, "decided": decided}, actor=actor
    )


@router.get("/ops/merchants/{application_id}")
async def review_detail(
    application_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    ensure(actor, PLATFORM_REVIEW)
    application = await onboarding.access_application(session, actor, application_id)
    filed = await licences.licences_of_application(session, application_id)
    return render(
        request,
        "merchants/review_detail.html",
        {"application": application, "licences": filed},
        actor=actor,
    )


@router.post(
    "/ops/merchants/{application_id}/decision", dependencies=[Depends(require(PLATFORM_REVIEW))]
)
async def review_decide(
    application_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await request.form()
    approve = forms.text(form, "decision") == "approve"
    reason = forms.text(form, "reason")[:500] or None
    failed = await form_action(
        session,
        lambda: onboarding.decide_application(
            session, actor, application_id, approve=approve, reason=reason
        ),
        on_error=flash_error(f"/ops/merchants/{application_id}"),
    )
    if isinstance(failed, Response):
        return failed
    return redirect("/ops/merchants", text=_("Approved.") if approve else _("Rejected."))


@router.get("/ops/certifications")
async def certification_queue(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_REVIEW)
    rows = await certification.certifications(session, actor)
    return render(request, "merchants/certifications.html", {"certifications": rows}, actor=actor)


@router.post(
    "/ops/certifications/{certification_id}/decision",
    dependencies=[Depends(require(PLATFORM_REVIEW))],
)
async def certification_decide(
    certification_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await request.form()
    decision = forms.text(form, "decision")
    reason = forms.text(form, "reason")[:500] or None

    async def decide() -> None:
        if decision == "revoke":
            await certification.revoke_certification(
                session, actor, certification_id, reason=reason or ""
            )
        else:
            await certification.decide_certification(
                session, actor, certification_id, approve=decision == "approve", reason=reason
            )

    failed = await form_action(session, decide, on_error=flash_error("/ops/certifications"))
    if isinstance(failed, Response):
        return failed
    return redirect("/ops/certifications", text=_("Saved."))
