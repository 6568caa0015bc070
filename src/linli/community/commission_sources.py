"""Where a pickup point leader's commission comes from. Each selling domain that pays a leader
for handing goods over (group buying, live selling) keeps its own itemised commission and
provides its figures for a month here; the monthly statement (`groupbuy.commission`) adds every
source's figures up and pays the sum out of the one ledger account the settlements credit
(`leader:{id}:commission`). `community` sits below both domains, so neither reads the other's
tables (the same dependency inversion as `pickup_codes`' desks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class MonthFigures:
    """One leader's commission from one source in a month."""

    accrued_fen: int  # accruals (positive)
    reversed_fen: int  # reversals by refunds (positive: what was taken back)
    hand_overs: int  # orders with an accrual

    def __add__(self, other: MonthFigures) -> MonthFigures:
        return MonthFigures(
            self.accrued_fen + other.accrued_fen,
            self.reversed_fen + other.reversed_fen,
            self.hand_overs + other.hand_overs,
        )


NOTHING = MonthFigures(0, 0, 0)

# A source's figures for [start, end), by leader user id (leaders with none left out).
FiguresOf = Callable[[AsyncSession, datetime, datetime], Awaitable[dict[int, MonthFigures]]]

_sources: dict[str, FiguresOf] = {}


def provide_source(name: str, figures: FiguresOf) -> None:
    _sources[name] = figures


async def figures_besides(
    session: AsyncSession, start: datetime, end: datetime, *, besides: str
) -> dict[int, MonthFigures]:
    """Every other source's figures for [start, end), added up per leader."""
    total: dict[int, MonthFigures] = {}
    for name, figures in sorted(_sources.items()):
        if name == besides:
            continue
        for leader, month in (await figures(session, start, end)).items():
            total[leader] = total.get(leader, NOTHING) + month
    return total
