"""What the public trace page `/t/{code}` (public_pages.py) shows: product, origin, dates, the
journey, inspections, the cold chain as an inline SVG chart, the pickup point of an order
line, whether the hash chain verifies, and any recall. Never who bought. Built from the faces
of the domains that own the parts (catalogue, community, group buying)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.catalog import offers
from linli.community import points as pickup_points
from linli.errors import NotFound
from linli.groupbuy import lines
from linli.i18n import N_
from linli.rules import service as rules
from linli.trace import recall, safety, verified
from linli.trace.journey import journey as journey_steps
from linli.trace.models import TraceBatch
from linli.trace.safety_models import TraceLineCode, TraceReading, TraceRecall


@dataclass(frozen=True)
class Chart:
    svg_points: str
    width: int
    height: int
    min_c: float
    max_c: float
    first: datetime
    last: datetime
    count: int
    limit_y: list[tuple[float, float]]  # (y, °C) of the class's limits


def temperature_chart(
    readings: Sequence[TraceReading],
    limits: Sequence[float] = (),
    *,
    width: int = 600,
    height: int = 200,
) -> Chart | None:
    """An SVG polyline (x: time, y: °C) of the readings, oldest first."""
    if not readings:
        return None
    rows = sorted(readings, key=lambda r: r.read_at)
    values = [r.temperature_mc / 1000 for r in rows]
    low = min([*values, *limits]) - 1
    high = max([*values, *limits]) + 1
    start, end = rows[0].read_at, rows[-1].read_at
    span = max((end - start).total_seconds(), 1.0)
    pad = 10

    def y(value: float) -> float:
        return round(pad + (high - value) / (high - low) * (height - 2 * pad), 1)

    points = " ".join(
        f"{round(pad + (r.read_at - start).total_seconds() / span * (width - 2 * pad), 1)},{y(v)}"
        for r, v in zip(rows, values, strict=True)
    )
    return Chart(
        points,
        width,
        height,
        min(values),
        max(values),
        start,
        end,
        len(rows),
        [(y(limit), limit) for limit in limits],
    )


async def batch_of_code(
    session: AsyncSession, code: str
) -> tuple[TraceBatch, TraceLineCode | None]:
    """The batch a batch code or an order-line code names (with the line code); 404 else."""
    line_code = None
    batch = await session.scalar(select(TraceBatch).where(TraceBatch.code == code))
    if batch is None:
        line_code = await session.scalar(select(TraceLineCode).where(TraceLineCode.code == code))
        if line_code is not None:
            batch = await session.get(TraceBatch, line_code.batch_id)
    if batch is None:
        raise NotFound(N_("No product has this trace code."), code="trace_code_not_found")
    return batch, line_code


JOURNEY_PAGE = 50  # events per page of the journey
MAX_PAGE = 1000


async def trace_view(session: AsyncSession, code: str, page: int = 1) -> dict[str, Any]:
    """Everything the public page shows for a batch code or an order-line code; the journey
    one page of JOURNEY_PAGE events at a time."""
    batch, line_code = await batch_of_code(session, code)
    product = await offers.sku_facts(session, batch.sku_id)
    point = None
    if line_code is not None:
        point_id = await lines.pickup_point_of_line(session, line_code.order_line_id)
        point = await pickup_points.point(session, point_id) if point_id is not None else None
    total = await safety.event_count(session, batch.id)
    pages = max(1, -(-total // JOURNEY_PAGE))
    page = min(page, pages)
    events = await safety.events_of(
        session, batch.id, limit=JOURNEY_PAGE, offset=(page - 1) * JOURNEY_PAGE
    )
    journey = await journey_steps(session, events)
    storage = product.storage_class if product else ""
    limits: list[float] = []
    rule = await rules.in_force(session, safety.COLDCHAIN_RULE)
    cls = safety.storage_class_of(rule.values, storage)
    if cls is not None:
        limits = [v / 1000 for v in (cls.min_mc, cls.max_mc) if v is not None]
    recalls: Sequence[TraceRecall] = await recall.recalls_of_batch(session, batch.id)
    return {
        "code": code,
        "batch": batch,
        "product_name": product.product_name if product else "",
        "sku_code": product.code if product else "",
        "storage_class": storage,
        "journey": journey,
        "journey_page": page,
        "journey_pages": pages,
        "journey_total": total,
        "inspections": await safety.inspections_of(session, batch.id),
        "chart": temperature_chart(await safety.readings_of(session, batch.id), limits),
        "excursions": await safety.excursions_of(session, batch.id),
        "point": point,
        "is_line": line_code is not None,
        "chain": await verified.verified_chain(session, batch.id),
        "recalls": recalls,
    }
