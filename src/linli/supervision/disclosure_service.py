"""Public disclosure of penalty decisions: authority, merchant, decision, basis, date. Only
what the decision publishes; never internal notes, findings or rule parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from linli.accounts.models import Organisation
from linli.supervision.case_models import PENALTY, Case


@dataclass(frozen=True)
class Disclosure:
    case_id: int
    authority: str
    merchant: str
    decision: str
    summary: str
    penalty_fen: int
    serious: bool
    legal_basis: str
    decided_at: datetime


async def penalties(session: AsyncSession, *, limit: int = 200) -> list[Disclosure]:
    authority = aliased(Organisation)
    merchant = aliased(Organisation)
    rows = await session.execute(
        select(Case, authority.name, merchant.name)
        .join(authority, authority.id == Case.regulator_organisation_id)
        .join(merchant, merchant.id == Case.organisation_id)
        .where(Case.decision == PENALTY, Case.decided_at.is_not(None))
        .order_by(Case.decided_at.desc(), Case.id.desc())
        .limit(limit)
    )
    found: list[Disclosure] = []
    for case, authority_name, merchant_name in rows.all():
        assert case.decided_at is not None
        found.append(
            Disclosure(
                case_id=case.id,
                authority=authority_name,
                merchant=merchant_name,
                decision=PENALTY,
                summary=case.decision_summary or "",
                penalty_fen=case.penalty_fen or 0,
                serious=case.serious,
                legal_basis=case.legal_basis or "",
                decided_at=case.decided_at,
            )
        )
    return found
