"""Writing the credit ledger (event handlers only) and reading scores from it.

`append` is the one writer: it adds a record per entry (once per event, subject and kind),
adds its weight to the subject's period, and recomputes the subject's score and grade from
the periods in the same transaction. `rebuild` recomputes a subject from its records alone;
it gives the same numbers (tests/credit/test_scoring.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import LOCAL
from linli.credit.models import CreditPeriod, CreditRecord, CreditScore, RecordKind, SubjectKind
from linli.credit.scoring import Explanation, Fact, Scoring, explain, periods_of
from linli.rules import service as rules

SCORING_RULE = "credit.scoring"


async def scoring_in_force(session: AsyncSession, at: datetime | None = None) -> Scoring:
    rule = await rules.in_force(session, SCORING_RULE, at=at)
    return Scoring.of(rule.rule_id, rule.version, rule.values)


@dataclass(frozen=True)
class Entry:
    """What an event tells credit about one subject."""

    subject_kind: SubjectKind
    subject_id: int
    kind: RecordKind
    reference: str


@dataclass(frozen=True)
class Standing:
    """A subject's score and public grade now."""

    subject_kind: SubjectKind
    subject_id: int
    score: int
    grade: str
    records: int
    rule_version: int


async def append(
    session: AsyncSession,
    *,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    entries: Sequence[Entry],
) -> list[CreditRecord]:
    """Record what one event tells (an entry whose kind the rule does not weigh for its
    subject is skipped); idempotent per (event, subject, kind)."""
    scoring = await scoring_in_force(session, occurred_at)
    written: list[CreditRecord] = []
    for entry in entries:
        weight = scoring.weight(entry.kind, entry.subject_kind)
        if weight is None:
            continue
        exists = await session.scalar(
            select(CreditRecord.id).where(
                CreditRecord.event_id == event_id,
                CreditRecord.subject_kind == entry.subject_kind,
                CreditRecord.subject_id == entry.subject_id,
                CreditRecord.kind == entry.kind,
            )
        )
        if exists is not None:
            continue
        score_row = await _locked_score(session, entry.subject_kind, entry.subject_id, scoring)
        record = CreditRecord(
            subject_kind=entry.subject_kind,
            subject_id=entry.subject_id,
            kind=entry.kind,
            event_id=event_id,
            event_type=event_type,
            reference=entry.reference,
            rule_id=scoring.rule_id,
            rule_version=scoring.version,
            weight=weight,
            occurred_at=occurred_at,
            recorded_at=clock.now(),
        )
        session.add(record)
        await _add_to_period(session, entry, scoring.period_of(occurred_at), weight)
        await session.flush()
        await _refresh(session, score_row, scoring, extra_records=1)
        written.append(record)
    return written


async def _locked_score(
    session: AsyncSession, subject_kind: str, subject_id: int, scoring: Scoring
) -> CreditScore:
    """The subject's score row, locked (FOR UPDATE on PostgreSQL) so that two records of the
    same subject are added one after the other; created at the base score when missing."""
    row = await session.scalar(
        select(CreditScore)
        .where(CreditScore.subject_kind == subject_kind, CreditScore.subject_id == subject_id)
        .with_for_update()
    )
    if row is None:
        row = CreditScore(
            subject_kind=subject_kind,
            subject_id=subject_id,
            score=scoring.bounded(scoring.base),
            grade=scoring.grade(scoring.bounded(scoring.base)),
            records=0,
            rule_version=scoring.version,
            computed_at=clock.now(),
        )
        session.add(row)
        await session.flush()  # a concurrent first record fails here and is retried
    return row


async def _add_to_period(session: AsyncSession, entry: Entry, period: int, weight: int) -> None:
    row = await session.scalar(
        select(CreditPeriod).where(
            CreditPeriod.subject_kind == entry.subject_kind,
            CreditPeriod.subject_id == entry.subject_id,
            CreditPeriod.period == period,
        )
    )
    if row is None:
        session.add(
            CreditPeriod(
                subject_kind=entry.subject_kind,
                subject_id=entry.subject_id,
                period=period,
                points=weight,
                records=1,
            )
        )
    else:
        row.points += weight
        row.records += 1


async def _periods(session: AsyncSession, subject_kind: str, subject_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(CreditPeriod.period, CreditPeriod.points).where(
            CreditPeriod.subject_kind == subject_kind, CreditPeriod.subject_id == subject_id
        )
    )
    return {period: points for period, points in rows.all()}


async def _refresh(
    session: AsyncSession, row: CreditScore, scoring: Scoring, *, extra_records: int
) -> None:
    now = clock.now()
    periods = await _periods(session, row.subject_kind, row.subject_id)
    row.score = scoring.score(periods, now)
    row.grade = scoring.grade(row.score)
    row.records += extra_records
    row.rule_version = scoring.version
    row.computed_at = now


async def standing(
    session: AsyncSession,
    subject_kind: SubjectKind,
    subject_id: int,
    at: datetime | None = None,
    *,
    scoring: Scoring | None = None,
) -> Standing:
    """The subject's score and grade at `at` (now), from its points per period: decay moves
    it at period boundaries even when no record came since. (`scoring`: the rule in force at
    `at`, when the caller already read it for many subjects.)"""
    moment = at or clock.now()
    scoring = scoring or await scoring_in_force(session, moment)
    periods = await _periods(session, subject_kind, subject_id)
    records = await session.scalar(
        select(func.coalesce(func.sum(CreditPeriod.records), 0)).where(
            CreditPeriod.subject_kind == subject_kind, CreditPeriod.subject_id == subject_id
        )
    )
    score = scoring.score(periods, moment)
    return Standing(
        subject_kind=subject_kind,
        subject_id=subject_id,
        score=score,
        grade=scoring.grade(score),
        records=int(records or 0),
        rule_version=scoring.version,
    )


async def records_of(
    session: AsyncSession, subject_kind: SubjectKind, subject_id: int, *, limit: int | None = None
) -> Sequence[CreditRecord]:
    """The subject's records, newest first."""
    query = (
        select(CreditRecord)
        .where(CreditRecord.subject_kind == subject_kind, CreditRecord.subject_id == subject_id)
        .order_by(CreditRecord.occurred_at.desc(), CreditRecord.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return (await session.scalars(query)).all()


async def explanation(
    session: AsyncSession, subject_kind: SubjectKind, subject_id: int, at: datetime | None = None
) -> Explanation:
    """Why the score is what it is, from the ledger itself (the full recomputation)."""
    moment = at or clock.now()
    scoring = await scoring_in_force(session, moment)
    facts = [
        Fact(kind=r.kind, weight=r.weight, occurred_at=r.occurred_at)
        for r in await records_of(session, subject_kind, subject_id)
    ]
    return explain(scoring, facts, moment)


async def rebuild(session: AsyncSession, subject_kind: SubjectKind, subject_id: int) -> Standing:
    """Recompute a subject's periods and score from its records alone (after a rule change
    of the decay, or to check the incremental numbers)."""
    now = clock.now()
    scoring = await scoring_in_force(session, now)
    records = await records_of(session, subject_kind, subject_id)
    periods = periods_of(scoring, (Fact(r.kind, r.weight, r.occurred_at) for r in records))
    counts: dict[int, int] = {}
    for r in records:
        period = scoring.period_of(r.occurred_at)
        counts[period] = counts.get(period, 0) + 1
    existing = {
        row.period: row
        for row in await session.scalars(
            select(CreditPeriod).where(
                CreditPeriod.subject_kind == subject_kind, CreditPeriod.subject_id == subject_id
            )
        )
    }
    for period, points in periods.items():
        row = existing.pop(period, None)
        if row is None:
            session.add(
                CreditPeriod(
                    subject_kind=subject_kind,
                    subject_id=subject_id,
                    period=period,
                    points=points,
                    records=counts[period],
                )
            )
        else:
            row.points, row.records = points, counts[period]
    for row in existing.values():
        await session.delete(row)
    await session.flush()
    score_row = await _locked_score(session, subject_kind, subject_id, scoring)
    score_row.records = 0
    await _refresh(session, score_row, scoring, extra_records=len(records))
    await session.flush()
    return await standing(session, subject_kind, subject_id, now)


async def refresh_stale(session: AsyncSession) -> int:
    """Recompute the kept scores last computed before the current decay period began (decay
    moved them at the boundary); returns how many. Each subject is locked as in `append`."""
    now = clock.now()
    scoring = await scoring_in_force(session, now)
    start = scoring.period_start(scoring.period_of(now))
    began = datetime.combine(start, time.min, tzinfo=LOCAL)
    stale = (
        await session.execute(
            select(CreditScore.subject_kind, CreditScore.subject_id).where(
                CreditScore.computed_at < began
            )
        )
    ).all()
    for subject_kind, subject_id in stale:
        row = await _locked_score(session, subject_kind, subject_id, scoring)
        await _refresh(session, row, scoring, extra_records=0)
    await session.flush()
    return len(stale)


async def stored_scores(
    session: AsyncSession, subject_kind: SubjectKind, subject_ids: Sequence[int]
) -> dict[int, CreditScore]:
    rows = await session.scalars(
        select(CreditScore).where(
            CreditScore.subject_kind == subject_kind, CreditScore.subject_id.in_(subject_ids)
        )
    )
    return {row.subject_id: row for row in rows}
