"""Credit's face to the domains below it: public grades, and the grade a group-leader
application needs (community asks, credit provides: docs/architecture.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.community import service as community
from linli.credit import ledger
from linli.credit.models import SubjectKind
from linli.errors import Conflict
from linli.i18n import N_


async def public_grade(session: AsyncSession, organisation_id: int) -> str:
    standing = await ledger.standing(session, SubjectKind.MERCHANT, organisation_id)
    return standing.grade


async def ensure_leader_grade(session: AsyncSession, user_id: int) -> None:
    """A group-leader application needs the rule's minimum grade (as a resident, or as a
    leader before); refused with the grade asked and the grade held."""
    scoring = await ledger.scoring_in_force(session)
    resident = await ledger.standing(session, SubjectKind.RESIDENT, user_id)
    leader = await ledger.standing(session, SubjectKind.LEADER, user_id)
    held = (
        resident
        if scoring.grade_rank(resident.grade) >= scoring.grade_rank(leader.grade)
        else leader
    )
    if scoring.grade_rank(held.grade) > scoring.grade_rank(scoring.leader_min_grade):
        raise Conflict(
            N_(
                "Group leaders need a credit grade of at least {required}; yours is {grade} "
                "(see My credit)."
            ),
            code="credit_grade_too_low",
            required=scoring.leader_min_grade,
            grade=held.grade,
        )


community.provide_leader_check(ensure_leader_grade)
