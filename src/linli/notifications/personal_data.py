"""The inbox's part of a resident's personal data (linli.personal_data, docs/privacy.md): the
messages for the export, in the reader's language; the inbox goes when the account closes (it
is no transaction record)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.i18n import Message
from linli.notifications.models import Notification


async def export_inbox(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
    )
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "title": Message(row.title, row.params).render(),
            "body": Message(row.body, row.params).render(),
            "link": row.link,
            "created_at": row.created_at,
            "read_at": row.read_at,
        }
        for row in rows
    ]


async def forget_inbox(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(Notification).where(Notification.user_id == user_id))


personal_data.provide_export_section("notifications", export_inbox)
personal_data.provide_on_close("notifications", forget_inbox)
