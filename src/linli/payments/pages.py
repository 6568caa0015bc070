"""The sandbox checkout page: the payer sees what they pay whom, and pays with one button."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from linli.accounts.models import Organisation
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.i18n import _
from linli.payments import service
from linli.payments.models import CREATED
from linli.web import redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
PublicId = Annotated[uuid.UUID, Path()]


@router.get("/pay/{public_id}")
async def checkout(
    public_id: PublicId, request: Request, session: DbSession, actor: User_
) -> Response:
    intent = await service.access_own_intent(session, actor, str(public_id))
    payee = await session.get(Organisation, intent.payee_organisation_id)
    return render(
        request,
        "payments/pay.html",
        {
            "intent": intent,
            "payee": payee,
            "payable": intent.status == CREATED,
            "status": service.status_label(intent.status),
        },
        actor=actor,
    )


@router.post("/pay/{public_id}")
async def pay(public_id: PublicId, request: Request, session: DbSession, actor: User_) -> Response:
    intent = await service.pay(session, actor, str(public_id), request.app.state.settings)
    return redirect(
        f"/pay/{intent.public_id}",
        text=_("Payment sent. This page shows it as paid once the provider confirms it."),
    )
