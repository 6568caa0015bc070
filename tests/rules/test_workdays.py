"""Working days: the State Council's arrangement from chinese-calendar (Spring Festival with its
调休 weekends), plain weekends, Monday to Friday for a year the package lacks, operators'
overrides, and the counting convention (the start day never counts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli.rules import workdays
from linli.rules.workdays import DayKind, Override, WorkingCalendar, YearSource

PLAIN = WorkingCalendar(workdays.CALENDAR_RULE, 1)


def with_overrides(*entries: tuple[date, DayKind]) -> WorkingCalendar:
    found = {day: Override(day, kind, "因故调整") for day, kind in entries}
    return WorkingCalendar(workdays.CALENDAR_RULE, 2, MappingProxyType(found))


def test_the_package_covers_the_pinned_years() -> None:
    years = workdays.package_years()
    assert {2004, 2025, 2026} <= set(years)
    assert 2027 not in years  # chinese-calendar 1.11.0 stops at 2026
    assert workdays.PACKAGE_VERSION == "1.11.0"
    assert PLAIN.label == "calendar.working_days@1+chinese-calendar==1.11.0"


def test_spring_festival_2026_with_its_adjusted_saturdays() -> None:
    assert PLAIN.is_working_day(date(2026, 2, 13))  # Friday
    assert PLAIN.is_working_day(date(2026, 2, 14))  # Saturday, worked (调休)
    for offset in range(9):  # Sunday 15 to Monday 23 February: the holiday
        assert not PLAIN.is_working_day(date(2026, 2, 15) + timedelta(offset))
    assert PLAIN.is_working_day(date(2026, 2, 24))
    assert PLAIN.is_working_day(date(2026, 2, 28))  # Saturday, worked (调休)
    assert not PLAIN.is_working_day(date(2026, 3, 1))  # an ordinary Sunday
    # A complaint filed on Friday 13 February is accepted within 7 working days: 14 (Sat), 24,
    # 25, 26, 27, 28 (Sat) February and Monday 2 March. Monday to Friday would say 25 February.
    assert PLAIN.add_working_days(date(2026, 2, 13), 7) == date(2026, 3, 2)
    assert PLAIN.working_days_between(date(2026, 2, 13), date(2026, 3, 2)) == 7
    assert PLAIN.working_days_between(date(2026, 2, 14), date(2026, 2, 23)) == 0


def test_spring_festival_2025_with_an_adjusted_sunday() -> None:
    assert PLAIN.add_working_days(date(2025, 1, 24), 1) == date(2025, 1, 26)  # Fri -> Sun 调休
    assert PLAIN.add_working_days(date(2025, 1, 26), 1) == date(2025, 1, 27)
    assert PLAIN.add_working_days(date(2025, 1, 27), 1) == date(2025, 2, 5)  # 28 Jan - 4 Feb off
    assert PLAIN.is_working_day(date(2025, 2, 8))  # Saturday, worked
    assert PLAIN.add_working_days(date(2025, 2, 7), 1) == date(2025, 2, 8)


def test_a_plain_weekend_and_the_start_day_never_counts() -> None:
    assert PLAIN.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)  # Fri -> Mon
    assert PLAIN.add_working_days(date(2026, 11, 28), 1) == date(2026, 11, 30)  # Sat -> Mon
    assert PLAIN.add_working_days(date(2026, 11, 26), 10) == date(2026, 12, 10)
    assert PLAIN.add_working_days(date(2026, 11, 28), 0) == date(2026, 11, 28)
    assert PLAIN.working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 1
    assert PLAIN.working_days_between(date(2026, 11, 30), date(2026, 11, 27)) == -1
    assert PLAIN.working_days_between(date(2026, 11, 27), date(2026, 11, 27)) == 0
    for start in (date(2026, 9, 30) + timedelta(k) for k in range(20)):  # National Day
        for n in range(12):
            assert PLAIN.working_days_between(start, PLAIN.add_working_days(start, n)) == n


def test_a_year_the_package_lacks_is_monday_to_friday_and_missing() -> None:
    assert PLAIN.year_source(2026) == YearSource.PACKAGE
    assert PLAIN.year_source(2027) == YearSource.MISSING
    assert PLAIN.year_source(2003) == YearSource.MISSING
    assert PLAIN.missing_years([2026, 2027, 2028]) == [2027, 2028]
    assert PLAIN.is_working_day(date(2027, 1, 1))  # New Year's Day, unknown: a Friday
    assert not PLAIN.is_working_day(date(2027, 1, 2))
    assert PLAIN.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 1)
    assert PLAIN.add_working_days(date(2027, 1, 8), 1) == date(2027, 1, 11)


def test_overrides_make_a_weekday_a_holiday_and_a_saturday_a_working_day() -> None:
    calendar = with_overrides(
        (date(2027, 1, 1), DayKind.HOLIDAY),  # Friday
        (date(2027, 1, 9), DayKind.WORKING_DAY),  # Saturday
    )
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 9))
    assert calendar.add_working_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert calendar.add_working_days(date(2027, 1, 8), 1) == date(2027, 1, 9)
    # 4-8 January, Saturday 9, Monday 11; not 1 January
    assert calendar.working_days_between(date(2026, 12, 31), date(2027, 1, 11)) == 7
    assert calendar.year_source(2027) == YearSource.OVERRIDES
    assert calendar.missing_years([2027, 2028]) == [2028]


def test_an_override_wins_over_the_package() -> None:
    calendar = with_overrides(
        (date(2026, 2, 24), DayKind.HOLIDAY),  # a late extension of the Spring Festival
        (date(2026, 2, 14), DayKind.HOLIDAY),  # the adjusted Saturday cancelled
    )
    assert not calendar.is_working_day(date(2026, 2, 24))
    assert not calendar.is_working_day(date(2026, 2, 14))
    assert calendar.add_working_days(date(2026, 2, 13), 1) == date(2026, 2, 25)
    assert calendar.year_source(2026) == YearSource.PACKAGE


def test_dates_are_shanghai_dates_and_moments_are_refused() -> None:
    evening = datetime(2026, 2, 13, 17, 0, tzinfo=UTC)  # 01:00 on the 14th in Shanghai
    assert workdays.local_date(evening) == date(2026, 2, 14)
    with pytest.raises(ValueError, match="naive"):
        workdays.local_date(datetime(2026, 2, 13, 17, 0))
    with pytest.raises(TypeError):
        PLAIN.is_working_day(evening)
    with pytest.raises(TypeError):
        PLAIN.add_working_days(evening, 1)
    with pytest.raises(ValueError, match="forward"):
        PLAIN.add_working_days(date(2026, 2, 13), -1)


async def test_the_calendar_in_force_is_read_once_per_transaction(session: AsyncSession) -> None:
    first = await workdays.load(session)
    assert (first.rule_id, first.version, dict(first.overrides)) == (
        workdays.CALENDAR_RULE,
        1,
        {},
    )
    assert await workdays.load(session) is first
    await session.commit()  # the transaction ended: the next one reads again
    assert await workdays.load(session) is not first
