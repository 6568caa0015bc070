"""Named queries (`/epcis/queries` of the EPCIS REST binding): an organisation saves a
SimpleEventQuery under a name, lists, reads, runs and deletes its own; nobody reaches another
organisation's. The parameters are validated as `/epcis/events` validates them (one parser,
`query_params`), and stored as name -> values."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import (
    TRACE_MANAGE,
    TRACE_READ,
    Actor,
    Permission,
    acting_organisation,
    ensure,
)
from linli.errors import BadRequest, Conflict, NotFound
from linli.i18n import N_
from linli.trace import queries, query_params
from linli.trace.query_models import TraceNamedQuery

NAME = re.compile(r"^[A-Za-z0-9._~-]{1,100}$")  # a path segment as it is: no encoding needed
ParameterValue = str | int | float | bool | list[str]


def parameters_of(query: dict[str, ParameterValue]) -> dict[str, list[str]]:
    """The REST binding's query object (`{"EQ_bizStep": ["shipping"], "GE_value": 4, ...}`) as
    name -> values; `true` for the EXISTS_ parameters, which take no value."""
    parameters: dict[str, list[str]] = {}
    for name, value in query.items():
        if name in query_params.PAGING:
            raise query_params.refuse(name, N_("Paging parameters are given when a query runs."))
        if isinstance(value, bool):
            if not (value and name.startswith("EXISTS_")):
                raise query_params.refuse(name, N_("Only EXISTS_ parameters take true."))
            parameters[name] = [""]
        elif isinstance(value, list):
            parameters[name] = [str(v) for v in value]
        else:
            parameters[name] = [str(value)]
    return parameters


def event_query(named: TraceNamedQuery, per_page: int = 100) -> queries.EventQuery:
    """The stored parameters as an `EventQuery` (they were valid when the query was saved)."""
    pairs = [(name, value) for name, values in named.parameters.items() for value in values]
    parsed = query_params.parse(pairs)
    return queries.EventQuery(**{**parsed.__dict__, "per_page": per_page})


async def create(
    session: AsyncSession, actor: Actor, name: str, query: dict[str, ParameterValue]
) -> TraceNamedQuery:
    organisation_id = acting_organisation(actor, TRACE_MANAGE)
    if not NAME.match(name):
        raise BadRequest(
            N_("A query name is 1 to 100 letters, digits, '.', '_', '~' or '-'."),
            code="bad_query_name",
            fields={"name": N_("Use letters, digits, '.', '_', '~' or '-'.")},
        )
    parameters = parameters_of(query)
    query_params.parse((k, v) for k, values in parameters.items() for v in values)
    taken = await session.scalar(
        select(TraceNamedQuery.id).where(
            TraceNamedQuery.organisation_id == organisation_id, TraceNamedQuery.name == name
        )
    )
    if taken is not None:
        raise Conflict(N_("You already have a query named {name}."), code="query_exists", name=name)
    named = TraceNamedQuery(
        organisation_id=organisation_id,
        name=name,
        parameters=parameters,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(named)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.query.create",
        target_type="trace_named_query",
        target_id=named.id,
        name=name,
        parameters=parameters,
    )
    return named


async def access(
    session: AsyncSession, actor: Actor, name: str, permission: Permission = TRACE_READ
) -> TraceNamedQuery:
    """The acting organisation's query of that name (holding `permission` there); 404 for
    anyone else's."""
    organisation_id = acting_organisation(actor, permission)
    named = await session.scalar(
        select(TraceNamedQuery).where(
            TraceNamedQuery.organisation_id == organisation_id, TraceNamedQuery.name == name
        )
    )
    if named is None:
        raise NotFound(N_("No such query."))
    return named


async def listed(
    session: AsyncSession, actor: Actor, *, per_page: int, after: str | None
) -> tuple[Sequence[TraceNamedQuery], str | None]:
    """A page of the organisation's queries by name, and the name the next page follows."""
    ensure(actor, TRACE_READ)
    organisation_id = acting_organisation(actor, TRACE_READ)
    query = select(TraceNamedQuery).where(TraceNamedQuery.organisation_id == organisation_id)
    if after is not None:
        query = query.where(TraceNamedQuery.name > after)
    rows = (await session.scalars(query.order_by(TraceNamedQuery.name).limit(per_page + 1))).all()
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (rows[-1].name if more and rows else None)


async def delete(session: AsyncSession, actor: Actor, name: str) -> None:
    named = await access(session, actor, name, TRACE_MANAGE)
    audit.record(
        session,
        actor,
        "trace.query.delete",
        target_type="trace_named_query",
        target_id=named.id,
        name=named.name,
    )
    await session.delete(named)
    await session.flush()
