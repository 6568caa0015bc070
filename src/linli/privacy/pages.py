"""HTML pages for personal data: the public privacy page, and in the account area my data
(download it, close the account)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli.accounts.identity import clear_session_cookie
from linli.authz import Actor, current_actor, require_user
from linli.db import DbSession
from linli.errors import DomainError, ValidationFailed
from linli.i18n import N_, _
from linli.privacy import service
from linli.privacy.schemas import CloseAccountIn
from linli.web import form_action, form_data, redirect, render, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]


@router.get("/privacy")
async def privacy_page(request: Request, session: DbSession, actor: AnyActor) -> Response:
    rule = await service.retention(session)
    return render(request, "privacy/policy.html", {"rule": rule}, actor=actor)


async def _my_data_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    user_id = actor.require_user_id()
    context = {
        "rule": await service.retention(session),
        "obligations": await service.obligations(session, user_id),
        "error": error,
    }
    return render(request, "privacy/my_data.html", context, status_code=status_code, actor=actor)


@router.get("/account/privacy")
async def my_data(request: Request, session: DbSession, actor: User_) -> Response:
    return await _my_data_page(request, session, actor)


@router.get("/account/privacy/export.json")
async def my_data_export(request: Request, session: DbSession, actor: User_) -> Response:
    document = await service.export(session, actor)
    async with request.app.state.sessionmaker() as writer, writer.begin():
        service.record_export(writer, actor, document)
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="linli-data-{document["user_id"]}.json"'
        },
    )


@router.post("/account/close")
async def close_account(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)

    async def close() -> None:
        data = validate_form(
            CloseAccountIn,
            {"password": form.get("password", ""), "confirm": form.get("confirm") == "true"},
        )
        if not data.confirm:
            raise ValidationFailed(
                N_("Confirm that you want to close your account."),
                fields={"confirm": N_("Required.")},
            )
        await service.close_account(session, actor, password=data.password)

    failed = await form_action(
        session,
        close,
        on_error=lambda error: _my_data_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(failed, Response):
        return failed
    response = redirect("/privacy", text=_("Your account is closed. Goodbye, neighbour."))
    clear_session_cookie(response)
    return response
