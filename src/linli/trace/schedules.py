"""The query schedule of a scheduled EPCIS subscription (EPCIS 1.2 section 8.2.5.3, the
`schedule` object of the 2.0 REST binding): `second`, `minute`, `hour`, `dayOfMonth`, `month`,
`dayOfWeek` (1 Monday ... 7 Sunday), each a value, a range `[low-high]` (or `low-high`), or a
comma-separated list of values and ranges, evaluated in UTC.

A run is due at every whole second that matches every given field (day of month and day of
week both, when both are given). An omitted field matches any value, except the time-of-day
fields (second, minute, hour) finer than the finest field given, which are 0: `{"hour": "2"}`
runs once a day at 02:00:00, not every second of that hour; `{"minute": "0,30"}` twice an
hour at :00:00 and :30:00; `{"dayOfWeek": "1"}` on Mondays at 00:00:00 (the standard leaves
omitted fields open; this reading, as implementations commonly do, avoids a run every second
of a matching hour or day). At least one field is given.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from linli.errors import BadRequest
from linli.i18n import N_

# field -> (lowest, highest), finest first
FIELDS: dict[str, tuple[int, int]] = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "dayOfMonth": (1, 31),
    "month": (1, 12),
    "dayOfWeek": (1, 7),
}
_ITEM = re.compile(
    r"^\s*(?:\[\s*(\d{1,2})\s*-\s*(\d{1,2})\s*\]|(\d{1,2})\s*-\s*(\d{1,2})|(\d{1,2}))\s*$"
)
TIME_OF_DAY = ("second", "minute", "hour")
HORIZON_YEARS = 8  # a schedule with no run within this many years (30 February) is refused


@dataclass(frozen=True)
class Schedule:
    """The matching values of each field (all of them where any value matches)."""

    second: frozenset[int]
    minute: frozenset[int]
    hour: frozenset[int]
    day_of_month: frozenset[int]
    month: frozenset[int]
    day_of_week: frozenset[int]

    def matches_day(self, when: datetime) -> bool:
        return (
            when.month in self.month
            and when.day in self.day_of_month
            and when.isoweekday() in self.day_of_week
        )


def _refuse(name: str, message: str) -> BadRequest:
    return BadRequest(
        N_("The schedule's {field} is not valid."),
        code="bad_schedule",
        fields={f"schedule.{name}": message},
        field=name,
    )


def _values(name: str, text: str) -> frozenset[int]:
    low, high = FIELDS[name]
    found: set[int] = set()
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise _refuse(name, N_("Give numbers, ranges [low-high] or a list of them."))
        if match.group(5) is not None:
            first = last = int(match.group(5))
        else:
            first = int(match.group(1) or match.group(3))
            last = int(match.group(2) or match.group(4))
        if not (low <= first <= high and low <= last <= high):
            raise _refuse(name, N_("A value is out of range."))
        if first > last:
            raise _refuse(name, N_("A range's low end is above its high end."))
        found.update(range(first, last + 1))
    return frozenset(found)


def parse(given: Mapping[str, str | int | None]) -> Schedule:
    """The schedule of the REST binding's `schedule` object; 400 naming the field otherwise."""
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise _refuse(unknown[0], N_("Not a schedule field."))
    texts = {name: str(value) for name, value in given.items() if value not in (None, "")}
    if not texts:
        raise _refuse("second", N_("Give at least one schedule field."))
    names = list(FIELDS)
    finest = min(names.index(name) for name in texts)
    sets: dict[str, frozenset[int]] = {}
    for index, name in enumerate(names):
        low, high = FIELDS[name]
        if name in texts:
            sets[name] = _values(name, texts[name])
        elif index < finest and name in TIME_OF_DAY:
            sets[name] = frozenset({low})
        else:
            sets[name] = frozenset(range(low, high + 1))
    schedule = Schedule(
        second=sets["second"],
        minute=sets["minute"],
        hour=sets["hour"],
        day_of_month=sets["dayOfMonth"],
        month=sets["month"],
        day_of_week=sets["dayOfWeek"],
    )
    if next_run(schedule, datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise _refuse("dayOfMonth", N_("No date matches this schedule."))
    return schedule


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The first whole second strictly after `after` that the schedule matches (aware, UTC);
    None if there is none within `HORIZON_YEARS`."""
    if after.tzinfo is None:
        raise ValueError("next_run needs an aware datetime")
    t = after.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    limit = t.replace(year=t.year + HORIZON_YEARS, day=min(t.day, 28))
    while t < limit:
        if t.month not in schedule.month:
            days = calendar.monthrange(t.year, t.month)[1]
            t = t.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=days)
            continue
        if not schedule.matches_day(t):
            t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            continue
        if t.hour not in schedule.hour:
            t = t.replace(minute=0, second=0) + timedelta(hours=1)
            continue
        if t.minute not in schedule.minute:
            t = t.replace(second=0) + timedelta(minutes=1)
            continue
        if t.second not in schedule.second:
            t += timedelta(seconds=1)
            continue
        return t
    return None
