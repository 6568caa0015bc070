"""What a selling domain tells of the money spent in it, per category: the one shape every
domain's consumption query returns (`groupbuy.consumption`, `live.consumption`,
`services.consumption`), so a report adds them up by the category tree's consumption types
without reading any domain's tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, true
from sqlalchemy.orm import InstrumentedAttribute


@dataclass(frozen=True)
class Spending:
    """Paid in one category over a period, net of what was refunded of it so far; `count`
    purchases (orders, enrolments, consultations) that kept something of it."""

    category_id: int
    amount_fen: int
    count: int


class Period(NamedTuple):
    """[start, end): UTC moments (a report turns Asia/Shanghai days into them)."""

    start: datetime
    end: datetime


def in_scope(
    column: InstrumentedAttribute[int], organisation_ids: Select[Any] | None
) -> ColumnElement[bool]:
    """The condition keeping the sellers a report covers (None: every seller)."""
    if organisation_ids is None:
        return true()
    return column.in_(organisation_ids)
