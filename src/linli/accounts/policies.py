"""Who may do what to which organisation: the rules the accounts service applies."""

from __future__ import annotations

from sqlalchemy import Select, select

from linli.accounts.models import Membership, Organisation
from linli.authz import (
    ORG_MEMBERS_MANAGE,
    ORG_READ,
    PLATFORM_ORGS_MANAGE,
    Actor,
    Permission,
    acting_organisation,
)
from linli.errors import Forbidden, Unauthenticated
from linli.i18n import N_


def visible_organisations(actor: Actor) -> Select[Organisation]:
    """Organisations the actor may see: their own, or all for platform admins."""
    query = select(Organisation)
    if actor.has(PLATFORM_ORGS_MANAGE):
        return query
    if actor.user is None:
        raise Unauthenticated(N_("Please log in first."))
    mine = select(Membership.organisation_id).where(Membership.user_id == actor.user.id)
    return query.where(Organisation.id.in_(mine))


def ensure_can_manage_members(actor: Actor, organisation_id: int) -> None:
    """Owners and supervisors manage the organisation they act for; platform admins any."""
    if actor.has(PLATFORM_ORGS_MANAGE):
        return
    _ensure_acting_for(actor, ORG_MEMBERS_MANAGE, organisation_id)


def may_manage_members(actor: Actor, organisation_id: int) -> bool:
    """Whether `ensure_can_manage_members` lets the actor through (pages show the forms)."""
    try:
        ensure_can_manage_members(actor, organisation_id)
    except (Forbidden, Unauthenticated):
        return False
    return True


def ensure_can_read_members(actor: Actor, organisation_id: int) -> None:
    if actor.has(PLATFORM_ORGS_MANAGE):
        return
    _ensure_acting_for(actor, ORG_READ, organisation_id)


def _ensure_acting_for(actor: Actor, permission: Permission, organisation_id: int) -> None:
    if acting_organisation(actor, permission) != organisation_id:
        raise Forbidden(N_("Switch to this organisation first."), code="not_active_organisation")
