"""The arithmetic of credit scores: decay, rounding, grades, and explanations that add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.credit.scoring import Fact, Scoring, apportion, explain, periods_of, round_half_up
from linli.rules.defaults import DEFAULT_RULES

pytestmark = pytest.mark.database_free

VALUES = next(r["values"] for r in DEFAULT_RULES if r["rule_id"] == "credit.scoring")
SCORING = Scoring.of("credit.scoring", 1, VALUES)
# 2026-01-01 in Shanghai is in period (2026-01-01 - 2020-01-01).days // 180 = 2192 // 180 = 12
T0 = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 Shanghai


def fact(kind: str, weight: int, at: datetime) -> Fact:
    return Fact(kind=kind, weight=weight, occurred_at=at)


def test_the_rule_as_numbers() -> None:
    assert SCORING.base == 600
    assert SCORING.weight("order_uncollected", "resident") == -30
    assert SCORING.weight("order_uncollected", "merchant") is None
    assert SCORING.grade(1000) == "AAA"
    assert SCORING.grade(850) == "AAA"
    assert SCORING.grade(849) == "AA"
    assert SCORING.grade(600) == "A"
    assert SCORING.grade(599) == "B"
    assert SCORING.grade(449) == "C"
    assert SCORING.grade(0) == "C"


def test_periods_are_counted_in_shanghai_dates_from_the_epoch() -> None:
    assert SCORING.period_of(T0) == 12
    assert SCORING.period_of(T0 - timedelta(seconds=1)) == 12  # 2025-12-31 23:59:59 Shanghai
    start = SCORING.period_start(12)
    assert start.isoformat() == "2025-11-30"  # 2020-01-01 + 12 x 180 days
    boundary = datetime(2026, 5, 28, 16, 0, tzinfo=UTC)  # 2026-05-29 00:00 Shanghai
    assert SCORING.period_start(13).isoformat() == "2026-05-29"
    assert SCORING.period_of(boundary - timedelta(seconds=1)) == 12
    assert SCORING.period_of(boundary) == 13


def test_weights_halve_at_each_period_boundary_and_expire_after_the_horizon() -> None:
    facts = [fact("inspection_failed", -120, T0)]
    for periods_later, expected in [(0, 480), (1, 540), (2, 570), (3, 585), (5, 596), (6, 600)]:
        at = datetime.combine(SCORING.period_start(12 + periods_later), datetime.min.time())
        at = at.replace(tzinfo=UTC) + timedelta(days=100)  # inside that period, after T0
        e = explain(SCORING, facts, at)
        assert e.score == expected, (periods_later, e)
        assert e.total == e.score
    late = explain(SCORING, facts, T0 + timedelta(days=6 * 180 + 60))
    assert late.lines == ()
    assert late.expired == 1
    assert late.score == 600


def test_rounding_half_up_once_and_shares_that_add_up() -> None:
    # Three -5s one period old: -2.5 each, -7.5 in all, rounded half up to -7.
    facts = [fact("complaint_mediated", -5, T0), fact("return_refunded", -5, T0)]
    facts.append(fact("complaint_upheld", -5, T0))
    at = T0 + timedelta(days=180)
    e = explain(SCORING, facts, at)
    assert [line.exact for line in e.lines] == [Fraction(-5, 2)] * 3
    assert e.score == 600 - 7
    assert sorted(line.contribution for line in e.lines) == [-3, -2, -2]
    assert e.total == e.score
    assert round_half_up(Fraction(-5, 2)) == -2
    assert round_half_up(Fraction(5, 2)) == 3
    assert apportion([Fraction(1, 3)] * 3, 1) == [1, 0, 0]


def test_the_bound_keeps_the_score_within_0_and_1000_and_is_shown() -> None:
    many = [fact("inspection_failed", -120, T0 + timedelta(minutes=i)) for i in range(10)]
    e = explain(SCORING, many, T0 + timedelta(hours=1))
    assert e.score == 0
    assert e.bound == 600  # 600 - 1200 = -600, kept at 0
    assert e.total == 0
    good = [fact("order_delivered", 2, T0 + timedelta(minutes=i)) for i in range(300)]
    e = explain(SCORING, good, T0 + timedelta(days=1))
    assert e.score == 1000
    assert e.bound == -200
    assert e.total == 1000


KINDS = [(kind, w) for kind, per in VALUES["weights"].items() for w in per.values()]
facts_strategy = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=6 * 365 * 24 * 60),  # minutes after 2020-06-01
    ),
    max_size=60,
)
START = datetime(2020, 6, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(raw=facts_strategy, later=st.integers(min_value=0, max_value=3 * 365))
def test_incremental_and_full_recomputation_agree(
    raw: list[tuple[tuple[str, int], int]], later: int
) -> None:
    """Points added per period as records arrive (in any order of occurrence) give the score
    that the explanation recomputes from all records, which adds up exactly and equals the
    naive per-record sum rounded once."""
    facts = [fact(kind, w, START + timedelta(minutes=m)) for (kind, w), m in raw]
    at = START + timedelta(days=6 * 365 + later)
    incremental: dict[int, int] = {}
    for f in facts:  # what ledger.append does per record
        period = SCORING.period_of(f.occurred_at)
        incremental[period] = incremental.get(period, 0) + f.weight
    assert incremental == {p: v for p, v in periods_of(SCORING, facts).items()}
    e = explain(SCORING, facts, at)
    assert SCORING.score(incremental, at) == e.score
    assert e.total == e.score
    assert e.grade == SCORING.grade(e.score)
    now_period = SCORING.period_of(at)
    naive = sum(
        (
            Fraction(f.weight, 2 ** (now_period - SCORING.period_of(f.occurred_at)))
            if 0 <= now_period - SCORING.period_of(f.occurred_at) < 6
            else Fraction(0)
            for f in facts
        ),
        Fraction(0),
    )
    assert e.score == min(max(600 + round_half_up(naive), 0), 1000)
    assert e.expired + sum(line.count for line in e.lines) == len(facts)
