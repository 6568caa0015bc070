"""Reading the rule in force; installing the defaults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.db import request_memo
from linli.rules.defaults import DEFAULT_RULES, SINCE
from linli.rules.models import RuleVersion

NATIONAL = "CN"


class RuleMissing(LookupError):
    pass


class Rule(Protocol):
    """A rule version as other domains read it (what `in_force` returns)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def jurisdiction(self) -> str: ...
    @property
    def values(self) -> dict[str, Any]: ...


async def in_force(
    session: AsyncSession,
    rule_id: str,
    *,
    at: datetime | None = None,
    jurisdiction: str | None = None,
) -> RuleVersion:
    """The newest version effective at `at`: the jurisdiction's own, else the national one.

    Jurisdictions are region codes: a district's rule beats its city's, its province's, then
    the national rule. A reading request (GET) asks the database once per rule and
    jurisdiction: the version in force when it first asked is the one for the whole request.
    """
    memo = request_memo(session) if at is None else None
    key = ("rules.in_force", rule_id, jurisdiction)
    if memo is not None and isinstance(kept := memo.get(key), RuleVersion):
        return kept
    found = await _in_force(session, rule_id, at=at, jurisdiction=jurisdiction)
    if memo is not None:
        memo[key] = found
    return found


async def _in_force(
    session: AsyncSession, rule_id: str, *, at: datetime | None, jurisdiction: str | None
) -> RuleVersion:
    moment = at or clock.now()
    candidates = [NATIONAL]
    if jurisdiction:
        candidates = [
            jurisdiction[:6],
            jurisdiction[:4] + "00",
            jurisdiction[:2] + "0000",
            NATIONAL,
        ]
    rows = (
        await session.scalars(
            select(RuleVersion)
            .where(
                RuleVersion.rule_id == rule_id,
                RuleVersion.jurisdiction.in_(candidates),
                RuleVersion.effective_from <= moment,
                (RuleVersion.effective_to.is_(None)) | (RuleVersion.effective_to > moment),
            )
            .order_by(RuleVersion.version.desc())
        )
    ).all()
    for candidate in candidates:
        for row in rows:
            if row.jurisdiction == candidate:
                return row
    raise RuleMissing(f"no version of rule {rule_id!r} in force at {moment.isoformat()}")


async def ensure_defaults(session: AsyncSession) -> int:
    """Insert the default versions that are missing; returns how many were added."""
    existing = {
        (r.rule_id, r.version, r.jurisdiction)
        for r in (await session.scalars(select(RuleVersion))).all()
    }
    added = 0
    for rule in DEFAULT_RULES:
        key = (rule["rule_id"], rule["version"], NATIONAL)
        if key in existing:
            continue
        session.add(
            RuleVersion(
                rule_id=rule["rule_id"],
                version=rule["version"],
                jurisdiction=NATIONAL,
                title=rule["title"],
                legal_basis=rule["legal_basis"],
                effective_from=SINCE,
                effective_to=None,
                values=rule["values"],
                created_at=clock.now(),
            )
        )
        added += 1
    await session.flush()
    return added


async def all_versions(session: AsyncSession) -> Sequence[RuleVersion]:
    return (
        await session.scalars(
            select(RuleVersion).order_by(RuleVersion.rule_id, RuleVersion.version)
        )
    ).all()
