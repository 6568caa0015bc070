"""Query schedules of scheduled subscriptions: parsing (a 400 naming the field when invalid)
and the next run, against a brute-force search of the matching seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linli.errors import BadRequest
from linli.trace import schedules

pytestmark = pytest.mark.database_free


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({}, "second"),
        ({"hour": None}, "second"),
        ({"hour": "24"}, "hour"),
        ({"minute": "60"}, "minute"),
        ({"second": "-1"}, "second"),
        ({"dayOfMonth": "0"}, "dayOfMonth"),
        ({"month": "13"}, "month"),
        ({"dayOfWeek": "0"}, "dayOfWeek"),
        ({"dayOfWeek": "8"}, "dayOfWeek"),
        ({"hour": "[5-2]"}, "hour"),
        ({"hour": "1,,2"}, "hour"),
        ({"hour": "*"}, "hour"),
        ({"hour": "1;2"}, "hour"),
        ({"hour": "[1-2"}, "hour"),
        ({"minute": "005"}, "minute"),
        ({"weekday": "1"}, "weekday"),
        ({"dayOfMonth": "30", "month": "2"}, "dayOfMonth"),  # 30 February never comes
    ],
)
def test_invalid_schedules_are_refused_naming_the_field(given: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        schedules.parse(given)
    assert refused.value.code == "bad_schedule"
    assert list(refused.value.fields) == [f"schedule.{field}"]


def test_values_ranges_and_lists() -> None:
    parsed = schedules.parse({"minute": "0,[10-12], 30-31", "dayOfWeek": 5})
    assert parsed.minute == frozenset({0, 10, 11, 12, 30, 31})
    assert parsed.day_of_week == frozenset({5})
    # finer fields than the finest given are 0; coarser ones match anything
    assert parsed.second == frozenset({0})
    assert parsed.hour == frozenset(range(24))
    assert parsed.day_of_month == frozenset(range(1, 32))


# (schedule, after, the next run)
CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"second": "0"}, "2026-12-06T10:00:00", "2026-12-06T10:01:00"),
    ({"second": "0,30"}, "2026-12-06T10:00:00.5", "2026-12-06T10:00:30"),
    ({"minute": "0"}, "2026-12-06T10:00:00", "2026-12-06T11:00:00"),
    ({"minute": "[15-16]"}, "2026-12-06T10:15:00", "2026-12-06T10:16:00"),
    ({"hour": "2"}, "2026-12-06T10:00:00", "2026-12-07T02:00:00"),
    ({"hour": "2", "minute": "30"}, "2026-12-06T02:29:59", "2026-12-06T02:30:00"),
    ({"dayOfMonth": "1"}, "2026-12-06T10:00:00", "2027-01-01T00:00:00"),
    ({"dayOfMonth": "31"}, "2027-01-31T00:00:00", "2027-03-31T00:00:00"),
    ({"dayOfMonth": "29", "month": "2"}, "2026-12-06T00:00:00", "2028-02-29T00:00:00"),
    ({"dayOfWeek": "1"}, "2026-12-06T10:00:00", "2026-12-07T00:00:00"),  # a Sunday -> Monday
    (
        {"dayOfWeek": "7", "hour": "23", "minute": "59", "second": "59"},
        "2026-12-06T23:59:59",
        "2026-12-13T23:59:59",
    ),
    (
        {"month": "12", "dayOfMonth": "31", "hour": "23", "minute": "59", "second": "59"},
        "2026-12-31T23:59:59",
        "2027-12-31T23:59:59",
    ),
    ({"dayOfMonth": "13", "dayOfWeek": "5"}, "2026-12-06T00:00:00", "2027-08-13T00:00:00"),
]


@pytest.mark.parametrize(("given", "after", "expected"), CASES)
def test_the_next_run(given: dict[str, Any], after: str, expected: str) -> None:
    found = schedules.next_run(schedules.parse(given), at(after))
    assert found == at(expected)
    assert found is not None
    assert found.tzinfo is not None


def _matches(schedule: schedules.Schedule, t: datetime) -> bool:
    return (
        t.second in schedule.second
        and t.minute in schedule.minute
        and t.hour in schedule.hour
        and schedule.matches_day(t)
    )


@pytest.mark.parametrize(
    "given",
    [
        {"second": "[0-5],40"},
        {"minute": "7,[50-52]"},
        {"minute": "0", "hour": "[22-23],1"},
        {"second": "30", "minute": "59", "hour": "23", "dayOfWeek": "1,7"},
    ],
)
def test_the_next_run_is_the_first_matching_second_after(given: dict[str, Any]) -> None:
    """Property: over several consecutive runs, each is the first matching second after the
    previous one (checked second by second within a two-day window)."""
    schedule = schedules.parse(given)
    moment = at("2026-12-05T21:59:58")
    end = moment + timedelta(days=2)
    expected = [
        moment + timedelta(seconds=s)
        for s in range(1, int((end - moment).total_seconds()))
        if _matches(schedule, moment + timedelta(seconds=s))
    ][:50]
    runs: list[datetime] = []
    while len(runs) < len(expected):
        found = schedules.next_run(schedule, moment)
        assert found is not None
        runs.append(found)
        moment = found
    assert runs == expected


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedules.next_run(schedules.parse({"hour": "1"}), datetime(2026, 1, 1))
