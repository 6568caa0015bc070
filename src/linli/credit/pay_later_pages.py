"""The resident's pay-later page, in both languages: the facility (limit from the score,
available, state), opening it, the bills with their charges, paying a bill (through the
ordinary checkout page). Only the resident's own bills; another's answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.credit import pay_later
from linli.credit.pay_later_models import PayLaterAccount
from linli.db import DbSession
from linli.i18n import N_, _
from linli.payments import providers
from linli.payments.views import IntentView
from linli.web import flash_error, form_action, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
PAGE = "/credit/pay-later"
STATUS_LABELS = {
    "open": N_("to pay"),
    "paid": N_("paid"),
    "overdue": N_("overdue"),
    "active": N_("active"),
    "suspended": N_("suspended"),
}


@router.get(PAGE)
async def my_facility(request: Request, session: DbSession, actor: User_) -> Response:
    facility = await pay_later.my_facility(session, actor)
    return render(
        request,
        "credit/pay_later.html",
        {"facility": facility, "status_labels": STATUS_LABELS},
        actor=actor,
    )


@router.post(f"{PAGE}/open")
async def open_facility(request: Request, session: DbSession, actor: User_) -> Response:
    async def open_it() -> PayLaterAccount:
        return await pay_later.open_facility(session, actor)

    done = await form_action(session, open_it, on_error=flash_error(PAGE))
    if isinstance(done, Response):
        return done
    return redirect(PAGE, text=_("Pick up first, pay later is open."))


@router.post(f"{PAGE}/bills/{{bill_id}}/pay")
async def pay_bill(bill_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    await pay_later.access_bill(session, actor, bill_id)

    async def pay_it() -> IntentView:
        return await pay_later.pay_bill(session, actor, bill_id, request.app.state.settings)

    done = await form_action(session, pay_it, on_error=flash_error(PAGE))
    if isinstance(done, Response):
        return done
    return redirect(providers.get(done.provider).checkout_url(done))
