"""Trace subscribers: order lines sold from a batch get their trace codes once paid."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import OrderPaid
from linli.outbox import Envelope
from linli.trace import codes


@outbox.subscribe(OrderPaid, "trace.line_codes")
async def line_codes(session: AsyncSession, envelope: Envelope[OrderPaid]) -> None:
    event = envelope.payload
    await codes.ensure_codes_for_order(session, event.order_id)


@outbox.batch_form(OrderPaid, "trace.line_codes")
async def line_codes_batch(session: AsyncSession, envelopes: list[Envelope[OrderPaid]]) -> None:
    """A batch of paid orders: their batched lines read in one statement."""
    await codes.ensure_codes_for_orders(session, [e.payload.order_id for e in envelopes])
