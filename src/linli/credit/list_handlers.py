"""Supervision's decisions, as the lists and repair keep them (the credit records they make
are `credit.handlers`' subscriptions): a penalty is published and a serious one listed, and
a fulfilled rectification is noted for repair. The only writers of `credit_penalties` and
`credit_serious_list` (no route creates either)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.credit import lists
from linli.events import CaseDecided, RectificationFulfilled


@outbox.subscribe(CaseDecided, "credit.lists.case_decided")
async def case_decided(session: AsyncSession, envelope: outbox.Envelope[CaseDecided]) -> None:
    await lists.record_decision(session, envelope.payload)


@outbox.subscribe(RectificationFulfilled, "credit.lists.rectification_fulfilled")
async def rectification_fulfilled(
    session: AsyncSession, envelope: outbox.Envelope[RectificationFulfilled]
) -> None:
    await lists.record_fulfilled(session, envelope.payload)
