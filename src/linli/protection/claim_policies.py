"""Who sees and decides which quality claim: the resident their own, the merchant those about
itself, the platform's operators the escalated ones and the abuse flags. Rows are scoped in
the query."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, or_, select

from linli.authz import (
    PLATFORM_CLAIMS,
    PROTECTION_CLAIMS_READ,
    Actor,
    Permission,
    acting_organisation,
    ensure,
)
from linli.protection.claim_models import QualityClaim


def acting_merchant(actor: Actor, permission: Permission) -> int:
    return acting_organisation(actor, permission, kinds=("merchant",))


def require_platform(actor: Actor) -> None:
    """An operator (their token, if any, carrying the platform scope); 403 otherwise."""
    ensure(actor, PLATFORM_CLAIMS)


def _may(actor: Actor, permission: Permission) -> bool:
    return actor.has(permission) and actor.has_scope(permission.scope)


def visible(actor: Actor) -> ColumnElement[bool]:
    """The claims a party sees: the resident their own, the merchant those about itself,
    the platform's operators all of them."""
    if _may(actor, PLATFORM_CLAIMS):
        return QualityClaim.id.is_not(None)
    seen: list[ColumnElement[bool]] = []
    if actor.user is not None and actor.has_scope("resident"):
        seen.append(QualityClaim.user_id == actor.user.id)
    organisation = actor.organisation
    if (
        organisation is not None
        and organisation.kind == "merchant"
        and _may(actor, PROTECTION_CLAIMS_READ)
    ):
        seen.append(QualityClaim.organisation_id == organisation.id)
    return or_(*seen) if seen else false()


def own_claims(actor: Actor) -> Select[QualityClaim]:
    """The resident's own claims."""
    return select(QualityClaim).where(QualityClaim.user_id == actor.require_user_id())


def merchant_claims(organisation_id: int) -> Select[QualityClaim]:
    return select(QualityClaim).where(QualityClaim.organisation_id == organisation_id)


def platform_claims(actor: Actor) -> Select[QualityClaim]:
    require_platform(actor)
    return select(QualityClaim)
