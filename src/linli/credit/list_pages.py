"""Pages of the lists and credit repair, in both languages: the public lists, the merchant's
penalties, list entries and requests, and the regulator's requests to decide (docs/credit.md
"Lists and repair")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import CREDIT_REQUEST, REGULATOR_CREDIT_DECIDE, Actor, current_actor, require_user
from linli.credit import lists, repair
from linli.credit.list_presenters import (
    REQUEST_KIND_LABELS,
    REQUEST_STATUS_LABELS,
    present_desk,
    present_entries,
    present_red,
    present_requests,
)
from linli.credit.list_schemas import CreditDecisionIn, CreditRequestIn
from linli.credit.repair_models import CreditRequest
from linli.db import DbSession
from linli.i18n import _
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
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
LABELS = {"kind_labels": REQUEST_KIND_LABELS, "status_labels": REQUEST_STATUS_LABELS}
MERCHANT_DESK = "/merchant/credit/lists"
REGULATOR_DESK = "/regulator/credit/requests"


@router.get("/credit/lists")
async def public_lists(request: Request, session: DbSession, actor: AnyActor) -> Response:
    serious = await lists.serious_list(session)
    entries = await present_entries(session, [m.entry for m in serious if m.entry is not None])
    red = present_red(await lists.red_list(session))
    return render(request, "credit/lists.html", {"entries": entries, "red": red}, actor=actor)


@router.get(MERCHANT_DESK)
async def merchant_lists(request: Request, session: DbSession, actor: User_) -> Response:
    desk = await present_desk(session, await repair.merchant_desk(session, actor))
    return render(
        request,
        "credit/merchant_lists.html",
        {"desk": desk, "may_ask": actor.has(CREDIT_REQUEST), **LABELS},
        actor=actor,
    )


@router.post("/merchant/credit/penalties/{penalty_id}/repair")
async def apply_for_repair(
    penalty_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await repair.access_penalty(session, actor, penalty_id)
    form = await form_data(request)

    async def ask() -> CreditRequest:
        data = validate_form(CreditRequestIn, {"statement": form.get("statement", "")})
        return await repair.apply_for_repair(session, actor, penalty_id, data.statement)

    done = await form_action(session, ask, on_error=flash_error(MERCHANT_DESK))
    if isinstance(done, Response):
        return done
    return redirect(MERCHANT_DESK, text=_("Your request is sent to the authority that decided."))


@router.post("/merchant/credit/list-entries/{entry_id}/removal")
async def request_removal(
    entry_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await repair.access_entry(session, actor, entry_id)
    form = await form_data(request)

    async def ask() -> CreditRequest:
        data = validate_form(CreditRequestIn, {"statement": form.get("statement", "")})
        return await repair.request_removal(session, actor, entry_id, data.statement)

    done = await form_action(session, ask, on_error=flash_error(MERCHANT_DESK))
    if isinstance(done, Response):
        return done
    return redirect(MERCHANT_DESK, text=_("Your request is sent to the authority that decided."))


@router.get(REGULATOR_DESK)
async def regulator_requests(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await present_requests(session, await repair.regulator_requests(session, actor))
    return render(
        request,
        "credit/requests.html",
        {"rows": rows, "may_decide": actor.has(REGULATOR_CREDIT_DECIDE), **LABELS},
        actor=actor,
    )


@router.post("/regulator/credit/requests/{request_id}/decision")
async def decide(
    request_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await repair.access_request(session, actor, request_id)
    form = await form_data(request)

    async def decide_it() -> CreditRequest:
        data = validate_form(
            CreditDecisionIn,
            {"approve": form.get("approve") == "1", "reasons": form.get("reasons", "")},
        )
        return await repair.decide(
            session, actor, request_id, approve=data.approve, reasons=data.reasons
        )

    done = await form_action(session, decide_it, on_error=flash_error(REGULATOR_DESK))
    if isinstance(done, Response):
        return done
    return redirect(REGULATOR_DESK, text=_("The decision is recorded."))
