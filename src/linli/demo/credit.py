"""What the demo city's history left in the credit ledger: the event handlers filled it as
the history's events were delivered; this only counts (records and grades per subject kind)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.credit import ledger
from linli.credit.models import CreditRecord, CreditScore, SubjectKind


@dataclass
class CreditFigures:
    records: int = 0
    grades: dict[str, dict[str, int]] = field(default_factory=dict)  # subject kind -> grade -> n
    order: tuple[str, ...] = ()  # the rule's grades, best first

    def grades_text(self) -> str:
        """`merchants 2 AA, 20 A, 5 B, 1 C; ...`, each kind's grades best first."""
        rank = {grade: n for n, grade in enumerate(self.order)}
        return "; ".join(
            f"{kind}s "
            + ", ".join(
                f"{n} {grade}"
                for grade, n in sorted(per.items(), key=lambda kv: rank.get(kv[0], len(rank)))
            )
            for kind, per in sorted(self.grades.items())
        )


async def credit_figures(sessionmaker: async_sessionmaker[AsyncSession]) -> CreditFigures:
    figures = CreditFigures()
    async with sessionmaker() as session:
        figures.records = await session.scalar(select(func.count(CreditRecord.id))) or 0
        subjects = (
            await session.execute(select(CreditScore.subject_kind, CreditScore.subject_id))
        ).all()
        now = clock.now()
        scoring = await ledger.scoring_in_force(session, now)
        figures.order = tuple(grade for grade, _ in scoring.grades)
        for subject_kind, subject_id in subjects:
            standing = await ledger.standing(session, SubjectKind(subject_kind), subject_id, now)
            per = figures.grades.setdefault(subject_kind, {})
            per[standing.grade] = per.get(standing.grade, 0) + 1
    return figures
