"""HTML inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.i18n import Message
from linli.notifications import service
from linli.web import redirect, render, safe_next, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]


@router.get("/inbox")
async def inbox_page(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await service.inbox(session, actor, limit=100)
    messages = [
        {
            "row": row,
            "title": Message(row.title, row.params).render(),
            "body": Message(row.body, row.params).render(),
        }
        for row in rows
    ]
    return render(request, "notifications/inbox.html", {"messages": messages}, actor=actor)


@router.post("/inbox/read-all")
async def read_all(session: DbSession, actor: User_) -> Response:
    await service.mark_all_read(session, actor)
    return redirect("/inbox")


@router.post("/inbox/{notification_id}/open")
async def open_message(notification_id: PathId, session: DbSession, actor: User_) -> Response:
    row = await service.mark_read(session, actor, notification_id)
    return redirect(safe_next(row.link, "/inbox"))
