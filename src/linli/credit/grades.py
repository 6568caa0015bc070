"""Credit's face to the domains below it: public grades, and the grade a group-leader
application needs (community asks, credit provides: docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, case, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from linli.catalog import reading
from linli.community import service as community
from linli.credit import ledger, lists
from linli.credit.models import CreditScore, SubjectKind
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


async def merchant_rank(
    session: AsyncSession,
) -> Callable[[InstrumentedAttribute[int]], ColumnElement[int]]:
    """For the catalogue's public search: a merchant's grade as a rank (0 for the best grade),
    from the grade kept with its score (refreshed on each record and daily once its decay
    period ends); a merchant without records ranks as the base score's grade. Within a grade,
    merchants on the red list come first (rank 2 * grade, plus 1 off the red list)."""
    scoring = await ledger.scoring_in_force(session)
    red = sorted(await lists.red_list_ids(session))
    ranks = {grade: scoring.grade_rank(grade) for grade, _ in scoring.grades}
    unrecorded = scoring.grade_rank(scoring.grade(scoring.bounded(scoring.base)))

    def rank(organisation_id: InstrumentedAttribute[int]) -> ColumnElement[int]:
        kept = (
            select(CreditScore.grade)
            .where(
                CreditScore.subject_kind == SubjectKind.MERCHANT,
                CreditScore.subject_id == organisation_id,
            )
            .scalar_subquery()
        )
        off_red = case((organisation_id.in_(red), 0), else_=1) if red else literal(1)
        return case(ranks, value=kept, else_=unrecorded) * 2 + off_red

    return rank


community.provide_leader_check(ensure_leader_grade)
reading.provide_merchant_rank(merchant_rank)
