"""Pages of the online session room's side: the practitioner's real-name check before each
session (today's sessions on /services/desk/identity, or the room page's form), and marking a
client who did not attend a no-show from the desk (docs/services.md, "Session room")."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli import clock
from linli.apitypes import PathId
from linli.authz import SERVICES_MANAGE, Actor, require_user
from linli.db import DbSession
from linli.i18n import _
from linli.rules.workdays import local_date
from linli.services import booking, room
from linli.services.join import JOIN_PREFIX
from linli.services.policies import acting_provider
from linli.services.practitioners import local_moment
from linli.services.schemas import IdentityIn
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
IDENTITY_PAGE = "/services/desk/identity"


@router.get(IDENTITY_PAGE)
async def identity_page(request: Request, session: DbSession, actor: User_) -> Response:
    """Today's sessions the actor runs, each with its real-name check or the form for it."""
    today = local_date(clock.now())
    start = local_moment(today, 0)
    rows = await room.own_sessions_today(session, actor, start, start + timedelta(days=1))
    return render(
        request,
        "services/identity.html",
        {"today": today, "sessions": rows, "now": clock.now(), "opens": room.OPENS_BEFORE},
        actor=actor,
    )


@router.post("/services/slots/{slot_id}/identity")
async def confirm_identity(
    slot_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)
    back = form.get("back", "")
    if not back.startswith(JOIN_PREFIX) or len(back) > 300:
        back = IDENTITY_PAGE

    async def do() -> object:
        data = validate_form(
            IdentityIn,
            {
                "real_name": form.get("real_name", "").strip(),
                "credential_last4": form.get("credential_last4", "").strip(),
            },
        )
        return await room.confirm_identity(
            session, actor, slot_id, data.real_name, data.credential_last4
        )

    done = await form_action(session, do, on_error=flash_error(back))
    if isinstance(done, Response):
        return done
    return redirect(back, text=_("Identity confirmed for this session."))


@router.post("/services/desk/bookings/{booking_id}/no-show")
async def desk_no_show(booking_id: PathId, session: DbSession, actor: User_) -> Response:
    acting_provider(actor, SERVICES_MANAGE)

    async def do() -> object:
        return await booking.mark_no_show(session, actor, booking_id)

    done = await form_action(session, do, on_error=flash_error("/services/desk"))
    if isinstance(done, Response):
        return done
    return redirect("/services/desk", text=_("Marked a no-show: nothing is released for it."))
