"""Consumption statistics (docs/supervision.md, "Consumption statistics"): for a period of
Asia/Shanghai days and the actor's scope, what was paid and how many purchases, by the
category tree's consumption types, from goods and services alike.

Each selling domain reads its own tables behind its face (`groupbuy.consumption`,
`live.consumption`, `services.consumption`), all answering `categories.spending.Spending` per
category; this module only adds them up by consumption type. Scope: the platform's operators
see every seller (`platform.consumption.read`); a regulator the sellers registered in its
jurisdiction (district, else city, else province: `trace.reach`, the rule every regulator
view uses; none without a registered region) with `regulator.consumption.read`; anyone else
is refused (403).

Amounts are paid amounts net of what has been refunded of them so far: group-buying lines less
their refunds, live orders as paid (never refunded once paid), course enrolments less the
classes refunded; consultations carry no fee on Linli and count at ¥0.00. A purchase counts
while something of it is kept (an order refunded in full does not).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.authz import (
    PLATFORM_CONSUMPTION_READ,
    REGULATOR_CONSUMPTION_READ,
    Actor,
    acting_organisation,
)
from linli.categories.spending import Period, Spending
from linli.categories.tree import category_tree
from linli.errors import ValidationFailed
from linli.groupbuy import consumption as groupbuy_consumption
from linli.i18n import N_
from linli.live import consumption as live_consumption
from linli.services import consumption as services_consumption
from linli.supervision.chart_figures import EARLIEST, LATEST, MAX_DAYS, day_of, end_of, start_of
from linli.trace.reach import regulator_reach

DEFAULT_DAYS = 30
PLATFORM = "platform"
REGULATOR = "regulator"


class Source(StrEnum):
    """Where a figure comes from (the values are the API's)."""

    GROUPBUY = "groupbuy"
    LIVE = "live"
    COURSES = "courses"
    CONSULTATIONS = "consultations"


SOURCE_LABELS: dict[Source, str] = {
    Source.GROUPBUY: N_("Group-buying orders"),
    Source.LIVE: N_("Live-selling orders"),
    Source.COURSES: N_("Course enrolments"),
    Source.CONSULTATIONS: N_("Consultations held"),
}
assert set(SOURCE_LABELS) == set(Source)

Reader = Callable[[AsyncSession, Period, Select[Any] | None], Awaitable[list[Spending]]]
READERS: tuple[tuple[Source, Reader], ...] = (
    (Source.GROUPBUY, groupbuy_consumption.paid_by_category),
    (Source.LIVE, live_consumption.paid_by_category),
    (Source.COURSES, services_consumption.enrolments_by_category),
    (Source.CONSULTATIONS, services_consumption.consultations_by_category),
)


@dataclass(frozen=True)
class SourceFigure:
    source: Source
    amount_fen: int
    count: int


@dataclass(frozen=True)
class TypeFigure:
    """One consumption type's figures, named in both languages (its root category's names)."""

    consumption_type: str
    name_en: str
    name_zh: str
    amount_fen: int
    count: int
    sources: list[SourceFigure]


@dataclass(frozen=True)
class Scope:
    kind: str  # platform | regulator
    organisation_id: int
    region_code: str | None  # a regulator's registered region (None: the platform's, or none)


@dataclass(frozen=True)
class ConsumptionReport:
    first: date
    last: date
    scope: Scope
    types: list[TypeFigure] = field(default_factory=list)

    @property
    def amount_fen(self) -> int:
        return sum(t.amount_fen for t in self.types)

    @property
    def count(self) -> int:
        return sum(t.count for t in self.types)


def period_of(first: date | None, last: date | None) -> tuple[date, date]:
    """The days asked (default: the last 30 days to today in Shanghai); 422 when the first is
    after the last, outside 2000-2100, or longer than 366 days."""
    for name, day in (("first", first), ("last", last)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationFailed(
                N_("Choose a day between 2000 and 2100."), fields={name: N_("Out of range.")}
            )
    last = last or day_of(clock.now())
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed(
            N_("The first day is after the last."), fields={"first": N_("After the last day.")}
        )
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed(
            N_("Choose at most 366 days."), fields={"first": N_("Too long before the last day.")}
        )
    return first, last


async def scope_of(session: AsyncSession, actor: Actor) -> tuple[Scope, Select[Any] | None]:
    """The actor's scope and the organisations it covers (None: all). 401 anonymous; 403 for
    anyone acting for neither the platform nor a regulator, or without the permission (a
    token's scope honoured)."""
    if actor.acts_for(PLATFORM):
        platform_id = acting_organisation(actor, PLATFORM_CONSUMPTION_READ, kinds=(PLATFORM,))
        return Scope(PLATFORM, platform_id, None), None
    regulator_id = acting_organisation(actor, REGULATOR_CONSUMPTION_READ, kinds=(REGULATOR,))
    reach = await regulator_reach(session, actor)
    if reach.region is None:  # a regulator without a registered region covers nobody
        return Scope(REGULATOR, regulator_id, None), select(Organisation.id).where(false())
    name, code = reach.region
    covered = select(Organisation.id).where(getattr(Organisation, name) == code)
    return Scope(REGULATOR, regulator_id, code), covered


async def consumption_report(
    session: AsyncSession, actor: Actor, first: date | None = None, last: date | None = None
) -> ConsumptionReport:
    """Paid amounts and purchases by consumption type over the days `first`..`last`
    (inclusive, Asia/Shanghai), in the actor's scope; every consumption type of the tree is
    listed, with zeros where nothing was bought."""
    scope, organisations = await scope_of(session, actor)
    first, last = period_of(first, last)
    period = Period(start_of(first), end_of(last))
    tree = await category_tree(session)
    totals: dict[tuple[str, Source], list[int]] = {}
    for source, read in READERS:
        for spent in await read(session, period, organisations):
            category = tree.by_id.get(spent.category_id)
            if category is None:
                continue
            figure = totals.setdefault((category.consumption_type, source), [0, 0])
            figure[0] += spent.amount_fen
            figure[1] += spent.count
    types: list[TypeFigure] = []
    for root in tree.consumption_types():
        if any(t.consumption_type == root.consumption_type for t in types):
            continue
        sources = [
            SourceFigure(source, *totals[(root.consumption_type, source)])
            for source, _read in READERS
            if (root.consumption_type, source) in totals
        ]
        types.append(
            TypeFigure(
                consumption_type=root.consumption_type,
                name_en=root.name_en,
                name_zh=root.name_zh,
                amount_fen=sum(s.amount_fen for s in sources),
                count=sum(s.count for s in sources),
                sources=sources,
            )
        )
    return ConsumptionReport(first, last, scope, types)
