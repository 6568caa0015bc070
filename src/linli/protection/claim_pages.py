"""Quality-claim pages, phone-first: the resident claims from the order page (with a photo)
and follows their claims with the time left; the merchant decides (nearest deadline first,
overdue in red); the platform's operators decide escalated claims and review abuse flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import (
    PAYMENTS_REFUND,
    PROTECTION_CLAIMS_DECIDE,
    PROTECTION_CLAIMS_READ,
    Actor,
    require_user,
)
from linli.db import DbSession
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_, _
from linli.protection import claim_policies as policies
from linli.protection import claims
from linli.protection.claim_models import ClaimAbuseFlag, QualityClaim
from linli.protection.claim_presenters import (
    FLAG_LABELS,
    OUTCOME_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    clock_of,
)
from linli.protection.claim_schemas import ClaimDecisionIn, ClaimEscalationIn, ClaimIn, FlagReviewIn
from linli.protection.complaint_files import attachment_response
from linli.web import (
    flash_error,
    form_action,
    form_data,
    redirect,
    render,
    validate_form,
    verify_csrf,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]

LABELS = {
    "status_labels": STATUS_LABELS,
    "reason_labels": REASON_LABELS,
    "outcome_labels": OUTCOME_LABELS,
    "flag_labels": FLAG_LABELS,
}


def _rows(rows: list[QualityClaim]) -> list[tuple[QualityClaim, object]]:
    return [(row, clock_of(row)) for row in rows]


def _amount(form: dict[str, str], field: str) -> int | None:
    """An amount typed in yuan, or None when left blank."""
    return forms.optional_fen(form.get(field, ""), field)


# --- resident ------------------------------------------------------------------------------


@router.get("/claims")
async def my_claims(request: Request, session: DbSession, actor: User_) -> Response:
    rows = list(await claims.my_claims(session, actor))
    return render(
        request, "protection/claims/mine.html", {"rows": _rows(rows), **LABELS}, actor=actor
    )


@router.get("/claims/new/{line_id}")
async def new_claim(
    line_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    line = await claims.own_collected_line(session, actor, line_id)
    values = await claims.rule_values(session)
    return render(
        request,
        "protection/claims/new.html",
        {"line": line, "rule_values": values, **LABELS},
        actor=actor,
    )


@router.get("/claims/new-live/{order_id}")
async def new_live_claim(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """The claim form for a received live order (docs/live.md "Quality claims")."""
    order = await claims.own_received_live_order(session, actor, order_id)
    claimed = await claims.live_units_claimed(session, order.order_id)
    return render(
        request,
        "protection/claims/new.html",
        {
            "live": order,
            "claimed": claimed,
            "rule_values": await claims.rule_values(session),
            **LABELS,
        },
        actor=actor,
    )


@router.post("/claims")
async def file_claim(request: Request, session: DbSession, actor: User_) -> Response:
    posted = await request.form()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    photo = posted.get("photo")
    live_order = forms.optional_id(form.get("live_order_id", ""))
    if live_order is not None:
        back = f"/claims/new-live/{live_order}"
    else:
        back = f"/claims/new/{forms.optional_id(form.get('line_id', '')) or 0}"

    async def claim() -> QualityClaim:
        source: dict[str, object]
        if live_order is not None:
            source = {"live_order_id": live_order}
            line_id, live_id = None, live_order
        else:
            line = forms.whole(form.get("line_id", ""))
            source = {"line_id": line}
            line_id, live_id = (line if isinstance(line, int) else None), None
        photo_ids: list[int] = []
        if isinstance(photo, UploadFile) and photo.filename and (line_id or live_id):
            content = await files.read_upload(photo)
            photo_ids.append(
                await claims.add_photo(
                    session,
                    actor,
                    request.app.state.file_store,
                    line_id,
                    content,
                    filename=photo.filename,
                    live_order_id=live_id,
                )
            )
        data = {
            **source,
            "quantity": forms.whole(form.get("quantity", "")),
            "reason_code": form.get("reason_code", ""),
            "description": form.get("description", "").strip(),
            "photo_file_ids": photo_ids,
            "amount_fen": _amount(form, "amount"),
        }
        return await claims.file_claim(session, actor, validate_form(ClaimIn, data))

    made = await form_action(session, claim, on_error=flash_error(back))
    if isinstance(made, Response):
        return made
    return redirect("/claims", text=_("Your claim is filed."))


@router.post("/claims/{claim_id}/escalate")
async def escalate(
    claim_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await claims.access_own_claim(session, actor, claim_id)
    form = await form_data(request)

    async def take_up() -> QualityClaim:
        data = validate_form(ClaimEscalationIn, {"note": form.get("note", "")})
        return await claims.escalate(session, actor, claim_id, data)

    done = await form_action(session, take_up, on_error=flash_error("/claims"))
    if isinstance(done, Response):
        return done
    return redirect("/claims", text=_("Your claim goes to the platform."))


@router.get("/claims/{claim_id}/photos/{file_id}")
async def photo(
    claim_id: PathId, file_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    row = await claims.access_claim(session, actor, claim_id)
    claims.photo_of(row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return attachment_response(content)


# --- merchant ------------------------------------------------------------------------------


@router.get("/merchant/claims")
async def merchant_claims(request: Request, session: DbSession, actor: User_) -> Response:
    rows = list(await claims.claims_to_decide(session, actor))
    return render(
        request,
        "protection/claims/merchant.html",
        {
            "rows": _rows(rows),
            **LABELS,
            "may_decide": actor.has(PROTECTION_CLAIMS_DECIDE),
            "may_refund": actor.has(PAYMENTS_REFUND),
        },
        actor=actor,
    )


def _decision(form: dict[str, str]) -> ClaimDecisionIn:
    data = {
        "uphold": form.get("uphold") == "1",
        "amount_fen": _amount(form, "amount"),
        "note": form.get("note", ""),
    }
    return validate_form(ClaimDecisionIn, data)


@router.post("/merchant/claims/{claim_id}/decide")
async def decide(claim_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor, PROTECTION_CLAIMS_READ)
    await claims.access_merchant_claim(session, actor, claim_id)
    form = await form_data(request)

    async def decide_it() -> QualityClaim:
        return await claims.decide(session, actor, claim_id, _decision(form))

    done = await form_action(session, decide_it, on_error=flash_error("/merchant/claims"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/claims", text=_("Your decision is recorded."))


# --- platform ------------------------------------------------------------------------------


@router.get("/platform/claims")
async def platform_claims(request: Request, session: DbSession, actor: User_) -> Response:
    rows = list(await claims.escalated_claims(session, actor))
    flagged: list[ClaimAbuseFlag] = list(await claims.flags(session, actor))
    return render(
        request,
        "protection/claims/platform.html",
        {"rows": _rows(rows), "flags": flagged, **LABELS},
        actor=actor,
    )


@router.get("/platform/claims/residents/{user_id}")
async def resident_history(
    user_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    history = await claims.resident_history(session, actor, user_id)
    return render(
        request,
        "protection/claims/resident.html",
        {"history": history, "rows": _rows(list(history.claims)), **LABELS},
        actor=actor,
    )


@router.post("/platform/claims/{claim_id}/decide")
async def platform_decide(
    claim_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await claims.access_platform_claim(session, actor, claim_id)
    form = await form_data(request)

    async def decide_it() -> QualityClaim:
        return await claims.decide_escalated(session, actor, claim_id, _decision(form))

    done = await form_action(session, decide_it, on_error=flash_error("/platform/claims"))
    if isinstance(done, Response):
        return done
    return redirect("/platform/claims", text=_("Your decision is recorded."))


@router.post("/platform/claims/flags/{flag_id}/review")
async def review_flag(
    flag_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    policies.require_platform(actor)
    form = await form_data(request)

    async def review() -> ClaimAbuseFlag:
        data = {"confirm": form.get("confirm") == "1", "reason": form.get("reason", "").strip()}
        return await claims.review_flag(session, actor, flag_id, validate_form(FlagReviewIn, data))

    done = await form_action(session, review, on_error=flash_error("/platform/claims"))
    if isinstance(done, Response):
        return done
    return redirect("/platform/claims", text=_("Your review is recorded."))
