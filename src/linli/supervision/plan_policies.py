"""Who sees and acts on inspection plans: the regulator that made the plan, nobody else (404
for everyone outside it). Results become public once recorded; the risk class of a target,
the seed's inputs and the inspectors stay regulator-only."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false

from linli.authz import SUPERVISION_INSPECT, SUPERVISION_PLANS_READ, Actor
from linli.supervision.plan_models import InspectionPlan

REGULATOR = "regulator"


def visible(actor: Actor) -> ColumnElement[bool]:
    """Plans of the regulator the actor acts for, if they may read plans there."""
    if not actor.acts_for(REGULATOR) or not actor.has(SUPERVISION_PLANS_READ):
        return false()
    return InspectionPlan.regulator_organisation_id == actor.organisation_id


def may_record(actor: Actor, inspector_ids: set[int]) -> bool:
    """An inspection's result is recorded by one of the inspectors drawn for it."""
    return (
        actor.acts_for(REGULATOR)
        and actor.has(SUPERVISION_INSPECT)
        and actor.user_id is not None
        and actor.user_id in inspector_ids
    )
