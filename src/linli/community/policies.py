"""Who sees which leader applications and pickup points. Communities and their points are
public; what is scoped to the actor is built here, in the query, never filtered after loading."""

from __future__ import annotations

from sqlalchemy import Select, select

from linli.authz import PLATFORM_REVIEW, Actor
from linli.community.models import LeaderApplication, PickupPoint


def readable_leader_applications(
    actor: Actor, *, mine_only: bool = False
) -> Select[LeaderApplication]:
    """Platform reviewers see every application; anyone else (or a reviewer asking for
    `mine_only`) the ones they made. 401 anonymous."""
    query = select(LeaderApplication)
    if mine_only or not actor.has(PLATFORM_REVIEW):
        query = query.where(LeaderApplication.user_id == actor.require_user_id())
    return query


def led_points(actor: Actor) -> Select[PickupPoint]:
    """The pickup points the acting user runs as their leader. 401 anonymous."""
    return select(PickupPoint).where(PickupPoint.leader_user_id == actor.require_user_id())
