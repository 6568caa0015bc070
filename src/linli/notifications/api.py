"""JSON routes for my inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from linli.apitypes import OptionalQueryId, PageSize, PathId
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.i18n import Message
from linli.notifications import service
from linli.notifications.models import Notification
from linli.schemas import OutputModel

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"], responses=ERROR_RESPONSES)
Account = Annotated[Actor, Depends(require_scope("account"))]


class NotificationOut(OutputModel):
    id: int
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


def present_notification(row: Notification) -> NotificationOut:
    """The notification with its title and body rendered in the reader's language."""
    return NotificationOut.from_row(
        row,
        title=Message(row.title, row.params).render(),
        body=Message(row.body, row.params).render(),
    )


@router.get("", summary="My messages, newest first")
async def inbox(
    session: DbSession, actor: Account, before_id: OptionalQueryId = None, limit: PageSize = 50
) -> list[NotificationOut]:
    rows = await service.inbox(session, actor, limit=limit, before_id=before_id)
    return [present_notification(r) for r in rows]


@router.post("/{notification_id}/read", summary="Mark one message read")
async def mark_read(notification_id: PathId, session: DbSession, actor: Account) -> NotificationOut:
    return present_notification(await service.mark_read(session, actor, notification_id))
