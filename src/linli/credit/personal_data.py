"""Credit's part of a resident's personal data (linli.personal_data, docs/privacy.md): the
score, grade and records the resident has as a resident and as a group leader. The records
are the append-only ledger (kept, like other transaction records, while the account's
retention lasts); there is nothing credit erases at closing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.credit import ledger
from linli.credit.models import SubjectKind


async def _subject(session: AsyncSession, kind: SubjectKind, user_id: int) -> dict[str, Any]:
    standing = await ledger.standing(session, kind, user_id)
    records = await ledger.records_of(session, kind, user_id)
    return {
        "score": standing.score,
        "grade": standing.grade,
        "rule_version": standing.rule_version,
        "records": [
            {
                "kind": r.kind,
                "reference": r.reference,
                "event_type": r.event_type,
                "weight": r.weight,
                "rule_id": r.rule_id,
                "rule_version": r.rule_version,
                "occurred_at": r.occurred_at,
            }
            for r in records
        ],
    }


async def export_credit(session: AsyncSession, user_id: int) -> dict[str, Any]:
    return {
        "as_resident": await _subject(session, SubjectKind.RESIDENT, user_id),
        "as_leader": await _subject(session, SubjectKind.LEADER, user_id),
    }


personal_data.provide_export_section("credit", export_credit)
