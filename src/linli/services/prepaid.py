"""The prepaid limits of off-campus training (rule `services.training_prepaid`, RULES.md
"Online services"): the version in force for a school's region, and what one collection
breaks. Courses refuse such a collection with it (`courses.check_prepaid`); supervision checks
each paid collection against the limits in force at payment time with it
(`supervision.prepaid_over_limit`), so the numbers and the reading of them live here only.

A collection covers `classes` classes of `class_minutes` each, from the day of the first to
the day of the last (local days), for `amount_fen`: it may span at most `max_months` months,
cover at most `max_class_hours` class hours and, for non-subject training, cost at most
`max_fen_non_subject`. "At most" everywhere: a collection exactly at a limit keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from linli.rules import service as rules
from linli.services.policies import provider_rule

PREPAID_RULE = "services.training_prepaid"


class Breach(StrEnum):
    """A limit a collection goes beyond (the values are the error codes courses refuse with)."""

    TOO_LONG = "prepaid_too_long"
    TOO_MANY_HOURS = "prepaid_too_many_hours"
    OVER_AMOUNT = "prepaid_over_amount"


@dataclass(frozen=True)
class Collection:
    """One collection of prepaid fees: what it covers and what it costs."""

    first_day: date
    last_day: date
    classes: int
    class_minutes: int
    amount_fen: int
    subject_training: bool


@dataclass(frozen=True)
class Limits:
    """The values of a version of `services.training_prepaid`."""

    max_months: int
    max_class_hours: int
    max_fen_non_subject: int

    @classmethod
    def of(cls, rule: rules.Rule) -> Limits:
        values = rule.values
        return cls(
            int(values["max_months"]),
            int(values["max_class_hours"]),
            int(values["max_fen_non_subject"]),
        )


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def breaches(limits: Limits, collection: Collection) -> list[Breach]:
    """Every limit the collection goes beyond, in the order courses check them."""
    found = []
    if collection.last_day > add_months(collection.first_day, limits.max_months):
        found.append(Breach.TOO_LONG)
    if collection.classes * collection.class_minutes > limits.max_class_hours * 60:
        found.append(Breach.TOO_MANY_HOURS)
    if not collection.subject_training and collection.amount_fen > limits.max_fen_non_subject:
        found.append(Breach.OVER_AMOUNT)
    return found


async def rule_in_force(
    session: AsyncSession, organisation_id: int, *, at: datetime | None = None
) -> rules.Rule:
    """The version of the prepaid rule in force at `at` (default now) for the school's region."""
    return await provider_rule(session, PREPAID_RULE, organisation_id, at=at)
