"""Writing and reading the audit log. Entries are only ever added, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import policies
from linli.audit.models import AuditEntry
from linli.authz import Actor


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object | None = None,
    user_id: int | None = None,
    organisation_id: int | None = None,
    **details: Any,
) -> AuditEntry:
    """Append an entry. `user_id`/`organisation_id` override the actor's (e.g. at login)."""
    entry = AuditEntry(
        at=clock.now(),
        user_id=user_id if user_id is not None else actor.user_id,
        organisation_id=(organisation_id if organisation_id is not None else actor.organisation_id),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        ip=actor.ip,
        details=details,
    )
    session.add(entry)
    return entry


_INSERT_ENTRY = insert(AuditEntry)


async def record_now(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object | None = None,
    organisation_id: int | None = None,
    **details: Any,
) -> None:
    """`record` as one Core INSERT on the session's connection, written at once: for paths
    that run on every event, where the ORM's unit of work costs more than the row."""
    connection = await session.connection()
    await connection.execute(
        _INSERT_ENTRY,
        {
            "at": clock.now(),
            "user_id": actor.user_id,
            "organisation_id": (
                organisation_id if organisation_id is not None else actor.organisation_id
            ),
            "action": action,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "ip": actor.ip,
            "details": details,
        },
    )


async def list_entries(
    session: AsyncSession,
    actor: Actor,
    *,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[AuditEntry]:
    """Platform auditors see everything; organisation managers see their organisation's rows."""
    query = policies.readable_entries(actor).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return (await session.scalars(query)).all()
