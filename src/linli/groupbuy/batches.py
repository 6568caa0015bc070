"""What group buying needs to know about the batches (lots) its items are sold from.

Batches are trace's, and trace sits above group buying (a recall finds and refunds the order
lines holding a batch), so group buying declares what it asks here and trace provides it
(`linli.trace.sellability`, imported by `app.load_domain_handlers`): the same inversion as an
event subscriber. Until it is provided, asking raises.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, ScalarSelect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

ACTIVE, ON_HOLD, RECALLED, DESTROYED = "active", "on_hold", "recalled", "destroyed"
UNSELLABLE = frozenset({ON_HOLD, RECALLED, DESTROYED})


@dataclass(frozen=True)
class BatchFacts:
    id: int
    sku_id: int | None
    status: str  # ACTIVE, ON_HOLD, RECALLED or DESTROYED


class BatchSource(Protocol):
    async def own_batches(
        self, session: AsyncSession, organisation_id: int, batch_ids: Collection[int]
    ) -> dict[int, BatchFacts]:
        """The organisation's own batches among `batch_ids`."""

    async def statuses(self, session: AsyncSession, batch_ids: Collection[int]) -> dict[int, str]:
        """The status of each batch."""

    def status_of(
        self, batch_id: ColumnElement[Any] | QueryableAttribute[Any]
    ) -> ScalarSelect[Any]:
        """The status of the batch `batch_id` names (a correlated subquery; NULL for none)."""

    async def line_codes(self, session: AsyncSession, line_ids: Collection[int]) -> dict[int, str]:
        """The public trace code of each order line that has one."""


class _Missing:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "No batch source: import linli.trace.sellability (app.load_domain_handlers does)."
        )


source: BatchSource = _Missing()


def provide(provider: BatchSource) -> None:
    global source
    source = provider
