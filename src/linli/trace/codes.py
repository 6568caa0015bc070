"""Trace codes of order lines and QR images of trace codes.

An order line sold from a batch gets its own code (`L` + 11 random characters from a
32-letter alphabet: 55 bits), stored in `trace_line_codes`: nothing in it derives from the
order, the line or the buyer, so codes cannot be enumerated. Its page shows the batch and the
pickup point, never who bought. Codes are given when the order is paid (handler), and on
demand (`ensure_line_code`, e.g. when a recall tells the buyer).
"""

from __future__ import annotations

import io

import segno
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.groupbuy import lines
from linli.trace.generated import random_code
from linli.trace.models import TraceBatch
from linli.trace.safety_models import TraceLineCode


async def trace_code_for_line(session: AsyncSession, order_line_id: int) -> str | None:
    """The public trace code of an order line (for the order page: link to /t/{code}), or
    None when its item names no batch or no code was given yet."""
    code = await session.scalar(
        select(TraceLineCode.code).where(TraceLineCode.order_line_id == order_line_id)
    )
    return str(code) if code is not None else None


async def trace_codes_for_lines(session: AsyncSession, line_ids: list[int]) -> dict[int, str]:
    if not line_ids:
        return {}
    rows = await session.execute(
        select(TraceLineCode.order_line_id, TraceLineCode.code).where(
            TraceLineCode.order_line_id.in_(line_ids)
        )
    )
    return {int(line_id): str(code) for line_id, code in rows.all()}


async def ensure_line_code(session: AsyncSession, order_line_id: int, batch_id: int) -> str:
    existing = await trace_code_for_line(session, order_line_id)
    if existing is not None:
        return existing
    for _ in range(5):
        row = TraceLineCode(
            order_line_id=order_line_id,
            batch_id=batch_id,
            code=random_code("L"),
            created_at=clock.now(),
        )
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:
            existing = await trace_code_for_line(session, order_line_id)
            if existing is not None:
                return existing
            continue  # a code collision (2^-55): draw again
        return row.code
    raise RuntimeError("could not draw a unique trace code")


async def ensure_codes_for_order(session: AsyncSession, order_id: int) -> list[str]:
    return [
        await ensure_line_code(session, line_id, batch_id)
        for line_id, batch_id in await lines.batched_lines_of_order(session, order_id)
    ]


async def ensure_codes_for_orders(session: AsyncSession, order_ids: list[int]) -> None:
    """`ensure_codes_for_order` for several orders: their lines read in one statement."""
    for line_id, batch_id in await lines.batched_lines_of_orders(session, order_ids):
        await ensure_line_code(session, line_id, batch_id)


async def batch_code(session: AsyncSession, batch_id: int) -> str | None:
    """The public code of a batch (for messages that name it)."""
    code = await session.scalar(select(TraceBatch.code).where(TraceBatch.id == batch_id))
    return str(code) if code is not None else None


def qr_svg(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return out.getvalue()
