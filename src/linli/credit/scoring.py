"""The arithmetic of credit scores, from the rule `credit.scoring` (pure: no database).

A record adds its weight (integer points) in the decay period it occurred in: periods are
`half_life_days` long, counted in Asia/Shanghai dates from the rule's `epoch`. At a moment in
period P a record of period p counts `weight / 2**(P - p)`, and nothing once
`P - p >= horizon_periods`. The sum is exact (fractions), rounded half up once:

    score = min(max(base + round_half_up(sum), low), high)

An explanation gives every line (the records of one kind, weight and period) its integer
share of the rounded sum by largest remainders, so that base + the shares (+ the bound, when
the score meets 0 or 1000) is the score exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from linli.clock import LOCAL

HALF = Fraction(1, 2)


def round_half_up(value: Fraction) -> int:
    return math.floor(value + HALF)


@dataclass(frozen=True)
class Scoring:
    """The rule `credit.scoring` as numbers."""

    rule_id: str
    version: int
    base: int
    low: int
    high: int
    epoch: date
    period_days: int
    horizon: int
    grades: tuple[tuple[str, int], ...]  # best first: (grade, minimum score)
    weights: Mapping[str, Mapping[str, int]]  # record kind -> subject kind -> points
    leader_min_grade: str

    @classmethod
    def of(cls, rule_id: str, version: int, values: Mapping[str, Any]) -> Scoring:
        grades = tuple((str(g), int(m)) for g, m in values["grades"])
        assert [m for _, m in grades] == sorted((m for _, m in grades), reverse=True)
        return cls(
            rule_id=rule_id,
            version=version,
            base=int(values["base"]),
            low=int(values["min"]),
            high=int(values["max"]),
            epoch=date.fromisoformat(values["epoch"]),
            period_days=int(values["half_life_days"]),
            horizon=int(values["horizon_periods"]),
            grades=grades,
            weights={
                kind: {subject: int(points) for subject, points in per.items()}
                for kind, per in values["weights"].items()
            },
            leader_min_grade=str(values["leader_min_grade"]),
        )

    def weight(self, kind: str, subject: str) -> int | None:
        """The points a record of `kind` gives a subject of this kind (None: it does not count)."""
        return self.weights.get(kind, {}).get(subject)

    def period_of(self, moment: datetime) -> int:
        return (moment.astimezone(LOCAL).date() - self.epoch).days // self.period_days

    def period_start(self, period: int) -> date:
        return date.fromordinal(self.epoch.toordinal() + period * self.period_days)

    def factor(self, period: int, now_period: int) -> Fraction:
        """What a point of `period` counts for in `now_period` (a later record counts whole)."""
        age = max(now_period - period, 0)
        if age >= self.horizon:
            return Fraction(0)
        return Fraction(1, 2**age)

    def grade(self, score: int) -> str:
        for grade, minimum in self.grades:
            if score >= minimum:
                return grade
        return self.grades[-1][0]

    def grade_rank(self, grade: str) -> int:
        """0 for the best grade, larger for worse ones (unknown grades rank last)."""
        names = [g for g, _ in self.grades]
        return names.index(grade) if grade in names else len(names)

    def exact_sum(self, periods: Mapping[int, int], at: datetime) -> Fraction:
        now_period = self.period_of(at)
        return sum(
            (points * self.factor(period, now_period) for period, points in periods.items()),
            Fraction(0),
        )

    def bounded(self, unbounded: int) -> int:
        return min(max(unbounded, self.low), self.high)

    def score(self, periods: Mapping[int, int], at: datetime) -> int:
        """The score at `at` from the points per period."""
        return self.bounded(self.base + round_half_up(self.exact_sum(periods, at)))


@dataclass(frozen=True)
class Fact:
    """A ledger record as the explanation needs it."""

    kind: str
    weight: int
    occurred_at: datetime


@dataclass(frozen=True)
class Line:
    """The records of one kind, with one weight, in one period: how much they count now."""

    kind: str
    weight: int
    count: int
    first: datetime
    last: datetime
    period_start: date
    factor: Fraction
    exact: Fraction  # weight * count * factor
    contribution: int  # its integer share of the rounded sum


@dataclass(frozen=True)
class Explanation:
    rule_id: str
    rule_version: int
    at: datetime
    base: int
    lines: tuple[Line, ...]
    bound: int  # what keeping the score within low..high added (0 mostly)
    score: int
    grade: str
    expired: int  # records too old to count any more

    @property
    def total(self) -> int:
        """base + contributions + bound: equal to `score` by construction (tests check it)."""
        return self.base + sum(line.contribution for line in self.lines) + self.bound


def periods_of(scoring: Scoring, facts: Iterable[Fact]) -> dict[int, int]:
    """Points per period, summed from the records themselves (the full recomputation)."""
    periods: dict[int, int] = {}
    for fact in facts:
        period = scoring.period_of(fact.occurred_at)
        periods[period] = periods.get(period, 0) + fact.weight
    return periods


def apportion(exact: Sequence[Fraction], target: int) -> list[int]:
    """Integers, one per exact value, adding up to `target` (the rounded sum): each value's
    floor, plus one for the largest remainders (earlier lines first on ties)."""
    floors = [math.floor(value) for value in exact]
    extra = target - sum(floors)
    assert 0 <= extra <= len(exact), (extra, len(exact))
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:extra]:
        floors[i] += 1
    return floors


def explain(scoring: Scoring, facts: Iterable[Fact], at: datetime) -> Explanation:
    now_period = scoring.period_of(at)
    groups: dict[tuple[int, str, int], list[Fact]] = {}
    expired = 0
    for fact in facts:
        period = scoring.period_of(fact.occurred_at)
        if scoring.factor(period, now_period) == 0:
            expired += 1
            continue
        groups.setdefault((period, fact.kind, fact.weight), []).append(fact)
    keys = sorted(groups, key=lambda k: (-k[0], k[1], k[2]))  # newest period first
    exact = [k[2] * len(groups[k]) * scoring.factor(k[0], now_period) for k in keys]
    rounded = round_half_up(sum(exact, Fraction(0)))
    shares = apportion(exact, rounded)
    lines = tuple(
        Line(
            kind=kind,
            weight=weight,
            count=len(groups[(period, kind, weight)]),
            first=min(f.occurred_at for f in groups[(period, kind, weight)]),
            last=max(f.occurred_at for f in groups[(period, kind, weight)]),
            period_start=scoring.period_start(period),
            factor=scoring.factor(period, now_period),
            exact=value,
            contribution=share,
        )
        for (period, kind, weight), value, share in zip(keys, exact, shares, strict=True)
    )
    unbounded = scoring.base + rounded
    score = scoring.bounded(unbounded)
    return Explanation(
        rule_id=scoring.rule_id,
        rule_version=scoring.version,
        at=at,
        base=scoring.base,
        lines=lines,
        bound=score - unbounded,
        score=score,
        grade=scoring.grade(score),
        expired=expired,
    )
