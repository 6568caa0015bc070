"""Working days in China: weekends, public holidays and the adjusted working weekends (调休).

Every deadline counted in working days (recalls today, complaints next) asks a
`WorkingCalendar`. Whether a date is a working day is decided, first match wins, by:

1. an operator's override for that date: rule `calendar.working_days` (versioned rule data,
   edited at /ops/rules/calendar, `rules.workday_overrides`); overrides win in every year, so a
   late State Council notice the installed package does not carry can be entered;
2. the `chinese-calendar` package, for the years it carries the State Council's yearly
   arrangement (`package_years()`): holidays are days off, 调休 weekends are working days;
3. Monday to Friday, for a year the package does not cover. The operator pages warn while the
   current or next year is in this state with no override entered (`missing_years`).

Dates are Asia/Shanghai calendar dates (`local_date` turns a moment into one). Counting follows
Civil Code art. 201: the day a period starts on is not counted, so `add_working_days(start, n)`
is the n-th working day *after* `start`, whatever `start` is, and a deadline always falls on a
working day (art. 203: a period ending on a holiday ends on the next working day).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, cast

import chinese_calendar
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from linli import clock
from linli.i18n import N_
from linli.rules import service
from linli.rules.service import Rule

CALENDAR_RULE = "calendar.working_days"
PACKAGE = "chinese-calendar"
PACKAGE_VERSION = importlib.metadata.version(PACKAGE)
_HOLIDAYS = cast("Mapping[date, str]", chinese_calendar.holidays)
_WORKDAYS = cast("Mapping[date, str]", chinese_calendar.workdays)
# The package's own notion of what it covers (chinese_calendar.utils._validate_date).
_FIRST_YEAR = min(d.year for d in _HOLIDAYS)
_LAST_YEAR = max(d.year for d in _HOLIDAYS)


class DayKind(StrEnum):
    """What an override makes of a date (the values stored in the rule)."""

    HOLIDAY = "holiday"
    WORKING_DAY = "working_day"


DAY_KIND_LABELS: dict[str, str] = {
    DayKind.HOLIDAY: N_("holiday (no work)"),
    DayKind.WORKING_DAY: N_("working day"),
}
assert set(DAY_KIND_LABELS) == set(DayKind)


class YearSource(StrEnum):
    """Where a year's working days come from."""

    PACKAGE = "package"  # the State Council's arrangement, from chinese-calendar
    OVERRIDES = "overrides"  # Monday to Friday plus the operator's overrides
    MISSING = "missing"  # Monday to Friday only: nobody has entered the arrangement


@dataclass(frozen=True)
class Override:
    day: date
    kind: DayKind
    reason: str


def package_years() -> range:
    """The years the installed `chinese-calendar` carries the yearly arrangement for."""
    return range(_FIRST_YEAR, _LAST_YEAR + 1)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no calendar date here; pass an aware one")
    return moment.astimezone(clock.LOCAL).date()


def _day(value: date) -> date:
    # A datetime is a date too; its .date() would be the UTC (or whatever zone) date, which is
    # off by one for eight hours of every Shanghai day. Make the caller say which date it means.
    if isinstance(value, datetime):
        raise TypeError("pass a calendar date; local_date() turns a moment into one")
    return value


@dataclass(frozen=True)
class WorkingCalendar:
    """The working-day calendar of one version of rule `calendar.working_days`."""

    rule_id: str
    version: int
    overrides: Mapping[date, Override] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def label(self) -> str:
        """What decisions record as the calendar they used."""
        return f"{self.rule_id}@{self.version}+{PACKAGE}=={PACKAGE_VERSION}"

    def is_working_day(self, day: date) -> bool:
        day = _day(day)
        override = self.overrides.get(day)
        if override is not None:
            return override.kind == DayKind.WORKING_DAY
        if _FIRST_YEAR <= day.year <= _LAST_YEAR:
            return day in _WORKDAYS or (day.weekday() < 5 and day not in _HOLIDAYS)
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The `days`-th working day after `start` (`start` itself never counts, working day or
        not; 0 gives `start`). A complaint filed on Friday 2026-02-13 must be accepted within
        7 working days: by `add_working_days(date(2026, 2, 13), 7)`, Monday 2026-03-02 (the
        调休 Saturdays 14 and 28 February count, the Spring Festival 15-23 February does not)."""
        current = _day(start)
        if days < 0:
            raise ValueError("count forward: days must be 0 or more")
        left = days
        while left > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                left -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days fall after `start` up to and including `end`: the inverse of
        `add_working_days` (`working_days_between(s, add_working_days(s, n)) == n`). Negative
        when `end` is before `start`; what is left of a deadline is `between(today, last_day)`.
        """
        start, end = _day(start), _day(end)
        if end < start:
            return -self.working_days_between(end, start)
        days = (start + timedelta(offset) for offset in range(1, (end - start).days + 1))
        return sum(1 for day in days if self.is_working_day(day))

    def year_source(self, year: int) -> YearSource:
        if _FIRST_YEAR <= year <= _LAST_YEAR:
            return YearSource.PACKAGE
        if any(day.year == year for day in self.overrides):
            return YearSource.OVERRIDES
        return YearSource.MISSING

    def missing_years(self, years: Iterable[int]) -> list[int]:
        """Those of `years` whose calendar nobody has: not in the package, no override."""
        return [y for y in years if self.year_source(y) == YearSource.MISSING]


def calendar_of(rule: Rule) -> WorkingCalendar:
    """The calendar a version of rule `calendar.working_days` describes."""
    stored: dict[str, Any] = rule.values.get("overrides") or {}
    overrides = {}
    for text, entry in stored.items():
        day = date.fromisoformat(text)
        overrides[day] = Override(day, DayKind(entry["kind"]), str(entry.get("reason", "")))
    return WorkingCalendar(rule.rule_id, rule.version, MappingProxyType(overrides))


# The calendar in force is read once per transaction: `load` keeps it in the session's `info`
# and it is dropped when the transaction ends (so the next request, or the next transaction of a
# long-lived session, sees an operator's edit) or when this session edits it (`forget`).
_CACHE_KEY = "linli.rules.workdays.calendar"


@event.listens_for(Session, "after_transaction_end")
def _drop_at_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CACHE_KEY, None)


async def load(session: AsyncSession) -> WorkingCalendar:
    """The calendar in force now (rule `calendar.working_days` plus the package)."""
    cached = session.info.get(_CACHE_KEY)
    if isinstance(cached, WorkingCalendar):
        return cached
    calendar = calendar_of(await service.in_force(session, CALENDAR_RULE))
    session.info[_CACHE_KEY] = calendar
    return calendar


def forget(session: AsyncSession) -> None:
    """Drop this session's cached calendar (after an edit of the overrides)."""
    session.info.pop(_CACHE_KEY, None)


async def missing_years_ahead(session: AsyncSession) -> list[int]:
    """This year and next (Asia/Shanghai) when their calendar is missing: the operator warning."""
    this_year = local_date(clock.now()).year
    return (await load(session)).missing_years((this_year, this_year + 1))
