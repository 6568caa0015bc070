"""Injectable clock: domain code asks `clock.now()`, tests move time with `FrozenClock`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Where Linli's users live: times are shown, and days counted, in this zone.
LOCAL = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)


_current: Clock = SystemClock()


def now() -> datetime:
    """The current time in UTC, from the installed clock."""
    return _current.now()


def install(clock: Clock) -> Clock:
    """Install `clock` and return the one it replaced."""
    global _current
    previous, _current = _current, clock
    return previous


@contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    clock = FrozenClock(at)
    previous = install(clock)
    try:
        yield clock
    finally:
        install(previous)
