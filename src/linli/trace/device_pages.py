"""Page: a merchant's sensor devices (register, retire)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.errors import DomainError
from linli.i18n import N_
from linli.trace import devices
from linli.web import form_action, form_data, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]


async def _page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = await devices.devices_of(session, actor)
    return render(
        request,
        "trace/devices.html",
        {"devices": rows, "error": error, "form": form or {}},
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/devices")
async def devices_page(request: Request, session: DbSession, actor: User_) -> Response:
    return await _page(request, session, actor)


@router.post("/merchant/devices")
async def register_form(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    failed = await form_action(
        session,
        lambda: devices.register_device(
            session,
            actor,
            devices.DeviceInput(
                form.get("device_id", ""), form.get("model", ""), form.get("name", "")
            ),
        ),
        on_error=lambda error: _page(
            request, session, actor, error=error, form=form, status_code=error.status_code
        ),
    )
    if isinstance(failed, Response):
        return failed
    return redirect("/merchant/devices", text=N_("Device registered."))


@router.post("/merchant/devices/{device_id}/retire")
async def retire_form(
    request: Request, device_id: PathId, session: DbSession, actor: User_
) -> Response:
    await devices.retire_device(session, actor, device_id)
    return redirect("/merchant/devices", text=N_("Device retired."))
