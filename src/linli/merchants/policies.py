"""Who may act on which enterprise's licences and certifications."""

from __future__ import annotations

from linli.authz import MERCHANT_PROFILE_MANAGE, Actor, Permission, acting_organisation

ENTERPRISES = ("merchant", "supplier")  # the organisation kinds with licences and a profile


def acting_enterprise(actor: Actor, permission: Permission = MERCHANT_PROFILE_MANAGE) -> int:
    """The merchant or supplier the actor acts for, holding `permission` there (filing licences
    and certifications is the owner's: MERCHANT_PROFILE_MANAGE)."""
    return acting_organisation(actor, permission, kinds=ENTERPRISES)
