"""Return pages, phone-first: the resident asks from the order page and follows their
returns with the time left; the merchant answers and refunds (nearest deadline first, overdue
in red); the group leader receives the goods at the point with their condition and photos."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import PROTECTION_RETURNS_ANSWER, PROTECTION_RETURNS_READ, Actor, require_user
from linli.db import DbSession
from linli.files import service as files
from linli.i18n import _
from linli.protection import return_policies as policies
from linli.protection import returns
from linli.protection.return_models import ReturnRequest
from linli.protection.return_presenters import (
    CONDITION_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    clock_of,
    photo_response,
)
from linli.protection.return_schemas import (
    ReturnAnswerIn,
    ReturnIn,
    ReturnReceiptIn,
    ReturnRefusalIn,
)
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

LABELS = {"status_labels": STATUS_LABELS, "reason_labels": REASON_LABELS}
PageNo = Annotated[int, Query(ge=1, le=returns.MAX_PAGE)]


def _rows(
    rows: list[ReturnRequest] | tuple[ReturnRequest, ...],
) -> list[tuple[ReturnRequest, object]]:
    return [(row, clock_of(row)) for row in rows]


# --- resident ------------------------------------------------------------------------------


@router.get("/returns")
async def my_returns(
    request: Request, session: DbSession, actor: User_, page: PageNo = 1
) -> Response:
    found = await returns.my_returns(session, actor, page)
    rows = found.rows
    return render(
        request,
        "protection/returns/mine.html",
        {
            "rows": _rows(rows),
            "found": found,
            **LABELS,
            "condition_labels": CONDITION_LABELS,
            "complain_links": True,
            "resident_photos": True,
        },
        actor=actor,
    )


@router.get("/returns/{return_id}/photos/{file_id}")
async def my_return_photo(
    return_id: PathId, file_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await photo_response(request, session, actor, return_id, file_id)


@router.get("/returns/new/{line_id}")
async def new_return(
    line_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    line = await returns.own_collected_line(session, actor, line_id)
    return render(
        request,
        "protection/returns/new.html",
        {"line": line, **LABELS},
        actor=actor,
    )


@router.get("/returns/new-live/{order_id}")
async def new_live_return(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """The request form for a received live order (docs/live.md "Returns")."""
    order = await returns.own_received_live_order(session, actor, order_id)
    return render(
        request,
        "protection/returns/new.html",
        {"live": order, **LABELS},
        actor=actor,
    )


@router.post("/returns")
async def request_return(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    live_order = forms.optional_id(form.get("live_order_id", ""))
    if live_order is not None:
        back = f"/returns/new-live/{live_order}"
        source: dict[str, object] = {"live_order_id": live_order}
    else:
        back = f"/returns/new/{forms.optional_id(form.get('line_id', '')) or 0}"
        source = {"line_id": forms.whole(form.get("line_id", ""))}

    async def ask() -> ReturnRequest:
        data = {
            **source,
            "quantity": forms.whole(form.get("quantity", "")),
            "reason_code": form.get("reason_code", ""),
            "reason_text": form.get("reason_text", ""),
        }
        return await returns.request_return(session, actor, validate_form(ReturnIn, data))

    made = await form_action(session, ask, on_error=flash_error(back))
    if isinstance(made, Response):
        return made
    return redirect("/returns", text=_("Your return is requested."))


# --- merchant ------------------------------------------------------------------------------


@router.get("/merchant/returns")
async def merchant_returns(
    request: Request, session: DbSession, actor: User_, page: PageNo = 1
) -> Response:
    found = await returns.returns_to_answer(session, actor, page)
    rows = found.rows
    may_answer = actor.has(PROTECTION_RETURNS_ANSWER)
    return render(
        request,
        "protection/returns/merchant.html",
        {
            "rows": _rows(rows),
            "found": found,
            **LABELS,
            "condition_labels": CONDITION_LABELS,
            "may_answer": may_answer,
        },
        actor=actor,
    )


@router.post("/merchant/returns/{return_id}/answer")
async def answer(return_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    await returns.access_merchant_return(session, actor, return_id)
    form = await form_data(request)

    async def decide() -> ReturnRequest:
        data = {"approve": form.get("approve") == "1", "note": form.get("note", "")}
        return await returns.answer(session, actor, return_id, validate_form(ReturnAnswerIn, data))

    done = await form_action(session, decide, on_error=flash_error("/merchant/returns"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/returns", text=_("Your answer is recorded."))


@router.post("/merchant/returns/{return_id}/refund")
async def refund(return_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    await returns.access_merchant_return(session, actor, return_id)

    async def pay() -> ReturnRequest:
        return await returns.refund(session, actor, return_id)

    done = await form_action(session, pay, on_error=flash_error("/merchant/returns"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/returns", text=_("Refunded."))


@router.post("/merchant/returns/{return_id}/refuse-refund")
async def refuse_refund(
    return_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    await returns.access_merchant_return(session, actor, return_id)
    form = await form_data(request)

    async def refuse() -> ReturnRequest:
        data = validate_form(ReturnRefusalIn, {"reason": form.get("reason", "")})
        return await returns.refuse_refund(session, actor, return_id, data)

    done = await form_action(session, refuse, on_error=flash_error("/merchant/returns"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/returns", text=_("The refusal is recorded; the resident is told."))


@router.post("/merchant/returns/{return_id}/collect")
async def collect(
    return_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    policies.acting_merchant(actor, PROTECTION_RETURNS_READ)
    await returns.access_merchant_return(session, actor, return_id)
    posted = await request.form()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    photo = posted.get("photo")

    async def take_back() -> ReturnRequest:
        photo_ids: list[int] = []
        if isinstance(photo, UploadFile) and photo.filename:
            content = await files.read_upload(photo)
            photo_ids.append(
                await returns.add_collection_photo(
                    session,
                    actor,
                    request.app.state.file_store,
                    return_id,
                    content,
                    filename=photo.filename,
                )
            )
        return await returns.collect(session, actor, return_id, _receipt(form, photo_ids))

    done = await form_action(session, take_back, on_error=flash_error("/merchant/returns"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/returns", text=_("The goods are recorded as collected."))


def _receipt(form: dict[str, str], photo_ids: list[int]) -> ReturnReceiptIn:
    data = {
        "condition": form.get("condition", ""),
        "note": form.get("note", ""),
        "photo_file_ids": photo_ids,
    }
    return validate_form(ReturnReceiptIn, data)


# --- group leader --------------------------------------------------------------------------


@router.get("/leader/returns")
async def leader_returns(
    request: Request, session: DbSession, actor: User_, page: PageNo = 1
) -> Response:
    found = await returns.returns_at_my_points(session, actor, page)
    rows = found.rows
    return render(
        request,
        "protection/returns/leader.html",
        {"rows": _rows(rows), "found": found, **LABELS, "condition_labels": CONDITION_LABELS},
        actor=actor,
    )


@router.post("/leader/returns/{return_id}/receive")
async def receive(
    return_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await returns.access_point_return(session, actor, return_id)
    posted = await request.form()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    photo = posted.get("photo")

    async def take_back() -> ReturnRequest:
        photo_ids: list[int] = []
        if isinstance(photo, UploadFile) and photo.filename:
            content = await files.read_upload(photo)
            photo_ids.append(
                await returns.add_photo(
                    session,
                    actor,
                    request.app.state.file_store,
                    return_id,
                    content,
                    filename=photo.filename,
                )
            )
        return await returns.receive(session, actor, return_id, _receipt(form, photo_ids))

    done = await form_action(session, take_back, on_error=flash_error("/leader/returns"))
    if isinstance(done, Response):
        return done
    return redirect("/leader/returns", text=_("The goods are recorded as received."))
