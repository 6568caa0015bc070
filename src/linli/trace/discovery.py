"""The discovery endpoints of the EPCIS REST binding: the distinct event types, EPCs, business
steps, business locations, read points and dispositions of the actor's own events, in order,
a page at a time (keyset on the value: the next page token is the last value, encoded)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import TRACE_READ, Actor, ensure
from linli.errors import BadRequest
from linli.i18n import N_
from linli.trace.models import EPC_INSTANCE, TraceEvent, TraceEventEpc
from linli.trace.policies import own_rows

COLUMNS = {
    "eventTypes": TraceEvent.event_type,
    "bizSteps": TraceEvent.biz_step,
    "bizLocations": TraceEvent.biz_location,
    "readPoints": TraceEvent.read_point,
    "dispositions": TraceEvent.disposition,
}
WHAT = (*COLUMNS, "epcs")


def token_of(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii").rstrip("=")


def parse_token(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), b"-_", validate=True).decode(
            "utf-8"
        )
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(
            N_("The nextPageToken is not one we gave."), code="bad_page_token"
        ) from None


async def values(
    session: AsyncSession, actor: Actor, what: str, *, per_page: int, after: str | None
) -> tuple[Sequence[str], str | None]:
    """A page of the distinct values of `what` among the actor's events, and the token of the
    next page (None on the last)."""
    ensure(actor, TRACE_READ)
    column: Any
    if what == "epcs":
        column = TraceEventEpc.value
        query = (
            select(column)
            .join(TraceEvent, TraceEvent.id == TraceEventEpc.event_pk)
            .where(own_rows(actor, TraceEvent), TraceEventEpc.kind == EPC_INSTANCE)
        )
    else:
        column = COLUMNS[what]
        query = select(column).where(own_rows(actor, TraceEvent), column.is_not(None))
    if after is not None:
        query = query.where(column > after)
    rows = (await session.scalars(query.distinct().order_by(column).limit(per_page + 1))).all()
    found = [str(v) for v in rows]
    more = len(found) > per_page
    found = found[:per_page]
    return found, (token_of(found[-1]) if more and found else None)
