"""Whose batches and recalls an actor reaches: the one way trace scopes them. A merchant's
owner or staff reach their own organisation's; a regulator the organisations registered in its
jurisdiction (trace.reach); anyone else is refused. The EPCIS and batch API (batches,
capture, queries) reaches only the acting organisation's own rows (`own_rows`)."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import TRACE_READ, Actor, Permission, acting_organisation
from linli.trace.models import TraceBatch, TraceEvent
from linli.trace.reach import Reach, regulator_reach


async def reach(
    session: AsyncSession, actor: Actor, *, merchant: Permission, regulator: Permission
) -> Reach:
    """What the actor reaches, holding `merchant` (acting for a merchant) or `regulator`
    (acting for a regulator) there; 403 otherwise."""
    if actor.acts_for("regulator"):
        acting_organisation(actor, regulator, kinds=("regulator",))
        return await regulator_reach(session, actor)
    return Reach(organisation_id=acting_organisation(actor, merchant, kinds=("merchant",)))


def own_rows(actor: Actor, model: type[TraceBatch] | type[TraceEvent]) -> ColumnElement[bool]:
    """The condition for the acting organisation's own batches or events (every row for the
    system actor)."""
    if actor.system:
        return model.id.is_not(None)
    return model.organisation_id == acting_organisation(actor, TRACE_READ)
