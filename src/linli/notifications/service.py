"""The inbox: messages for a user, stored as message ids so each reader sees their language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.errors import NotFound
from linli.i18n import N_
from linli.notifications import policies
from linli.notifications.models import Notification


def notify(
    session: AsyncSession,
    user_id: int,
    kind: str,
    *,
    title: str,
    body: str,
    params: dict[str, Any] | None = None,
    link: str | None = None,
    source_event_id: str | None = None,
) -> Notification:
    """Queue an inbox message; `title` and `body` are message ids marked with N_()."""
    row = Notification(
        user_id=user_id,
        kind=kind,
        title=title,
        body=body,
        params=params or {},
        link=link,
        source_event_id=source_event_id,
        created_at=clock.now(),
    )
    session.add(row)
    return row


async def inbox(
    session: AsyncSession, actor: Actor, *, limit: int = 50, before_id: int | None = None
) -> Sequence[Notification]:
    query = policies.own_notifications(actor).order_by(Notification.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    return (await session.scalars(query)).all()


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    count = await session.scalar(
        select(func.count()).where(policies.owned_by(actor), Notification.read_at.is_(None))
    )
    return int(count or 0)


async def access_notification(
    session: AsyncSession, actor: Actor, notification_id: int
) -> Notification:
    """One of the actor's own messages, else 404 (another user's is as missing as none)."""
    row = await session.scalar(
        policies.own_notifications(actor).where(Notification.id == notification_id)
    )
    if row is None:
        raise NotFound(N_("No such message."))
    return row


async def mark_read(session: AsyncSession, actor: Actor, notification_id: int) -> Notification:
    row = await access_notification(session, actor, notification_id)
    if row.read_at is None:
        row.read_at = clock.now()
    return row


async def mark_all_read(session: AsyncSession, actor: Actor) -> None:
    await session.execute(
        update(Notification)
        .where(policies.owned_by(actor), Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
