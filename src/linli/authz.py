"""The Actor (user + active organisation + roles) and the permission dependencies.

Roles belong to organisation kinds; permissions belong to roles; API tokens narrow them further
by scope. Route handlers declare the permission they need with `Depends(require("..."))`;
services scope their queries to the actor they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from linli.db import DbSession
from linli.errors import Forbidden, Unauthenticated
from linli.i18n import N_

if TYPE_CHECKING:
    from linli.accounts.models import Organisation, User


@dataclass(frozen=True)
class UserRef:
    """The acting user as plain values: usable after the request's session is gone."""

    id: int
    phone: str
    display_name: str
    locale: str | None
    # Runs a pickup point as an active group leader (resolved with the browser session; it
    # only adds menu entries, every leader page checks the point itself).
    leads_point: bool = False

    @classmethod
    def of(cls, user: User, *, leads_point: bool = False) -> UserRef:
        return cls(
            id=user.id,
            phone=user.phone,
            display_name=user.display_name,
            locale=user.locale,
            leads_point=leads_point,
        )


@dataclass(frozen=True)
class OrganisationRef:
    id: int
    kind: str
    name: str

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationRef:
        return cls(id=organisation.id, kind=organisation.kind, name=organisation.name)


ROLES_BY_KIND: dict[str, tuple[str, ...]] = {
    "merchant": ("owner", "staff"),
    "supplier": ("owner", "staff"),
    "regulator": ("inspector", "supervisor"),
    "platform": ("operator", "admin"),
}


@dataclass(frozen=True)
class Permission:
    name: str
    scope: str  # the API-token scope that must be granted to use it


def _perm(name: str, scope: str) -> Permission:
    return Permission(name, scope)


ORG_READ = _perm("org.read", "org:read")
ORG_MEMBERS_MANAGE = _perm("org.members.manage", "org:write")
ORG_AUDIT_READ = _perm("org.audit.read", "org:read")
PLATFORM_ORGS_MANAGE = _perm("platform.orgs.manage", "platform")
PLATFORM_AUDIT_READ = _perm("platform.audit.read", "platform")
OPS_OUTBOX_READ = _perm("ops.outbox.read", "platform")
OPS_OUTBOX_RETRY = _perm("ops.outbox.retry", "platform")
PLATFORM_REVIEW = _perm("platform.review", "platform")
COMMUNITY_MANAGE = _perm("community.manage", "platform")
CATALOG_READ = _perm("catalog.read", "org:read")  # the organisation's own products, drafts too
CATALOG_MANAGE = _perm("catalog.manage", "org:write")  # products, SKUs, prices, stock, images
PAYMENTS_READ = _perm("payments.read", "org:read")  # payments to the organisation, its balance
PAYMENTS_REFUND = _perm("payments.refund", "org:write")  # refund a payment made to it
PLATFORM_PAYMENTS_REFUND = _perm("platform.payments.refund", "platform")  # refund any payment
GROUPBUY_READ = _perm("groupbuy.read", "org:read")  # the organisation's campaigns and orders
GROUPBUY_MANAGE = _perm("groupbuy.manage", "org:write")  # create and publish campaigns
TRACE_READ = _perm("trace.read", "org:read")  # the organisation's batches and trace events
TRACE_MANAGE = _perm("trace.manage", "org:write")  # create batches
# EPCIS capture has its own scope, so a scanner or ERP gets a token that can only capture.
TRACE_CAPTURE = _perm("trace.capture", "trace:capture")
# Food safety of the organisation's own batches: read, send readings/inspections, decide holds
TRACE_SAFETY_READ = _perm("trace.safety.read", "org:read")
TRACE_SAFETY_MANAGE = _perm("trace.safety.manage", "org:write")
TRACE_RECALL = _perm("trace.recall", "org:write")  # open and run recalls of its own batches
# Regulators: read any batch's safety records, record inspections, order and run recalls
REGULATOR_TRACE_READ = _perm("regulator.trace.read", "org:read")
REGULATOR_TRACE_MANAGE = _perm("regulator.trace.manage", "org:write")
REGULATOR_RECALL = _perm("regulator.recall", "org:write")

_MEMBER = {ORG_READ}
_MANAGER = _MEMBER | {ORG_MEMBERS_MANAGE, ORG_AUDIT_READ}
_CATALOGUE = {CATALOG_READ, CATALOG_MANAGE}  # owner and staff: merchant and supplier roles
_PAYMENTS = {PAYMENTS_READ}
_GROUPBUY = {GROUPBUY_READ, GROUPBUY_MANAGE}  # owner and staff of a merchant
_TRACE = {TRACE_READ, TRACE_MANAGE, TRACE_CAPTURE}  # owner and staff: merchant and supplier
_TRACE_SAFETY = {TRACE_SAFETY_READ, TRACE_SAFETY_MANAGE}  # owner and staff of a merchant
_OPERATOR = _MEMBER | {
    ORG_AUDIT_READ,
    PLATFORM_AUDIT_READ,
    OPS_OUTBOX_READ,
    OPS_OUTBOX_RETRY,
    PLATFORM_REVIEW,
    COMMUNITY_MANAGE,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "owner": frozenset(
        _MANAGER
        | _CATALOGUE
        | _PAYMENTS
        | _GROUPBUY
        | _TRACE
        | _TRACE_SAFETY
        | {PAYMENTS_REFUND, TRACE_RECALL}
    ),
    "staff": frozenset(_MEMBER | _CATALOGUE | _PAYMENTS | _GROUPBUY | _TRACE | _TRACE_SAFETY),
    "supervisor": frozenset(
        _MANAGER | {REGULATOR_TRACE_READ, REGULATOR_TRACE_MANAGE, REGULATOR_RECALL}
    ),
    "inspector": frozenset(_MEMBER | {REGULATOR_TRACE_READ, REGULATOR_TRACE_MANAGE}),
    "operator": frozenset(_OPERATOR),
    "admin": frozenset(_OPERATOR | _MANAGER | {PLATFORM_ORGS_MANAGE, PLATFORM_PAYMENTS_REFUND}),
}

# Scopes a token may carry. "account" covers the user's own account (profile, tokens).
SCOPES: dict[str, str] = {
    "account": N_("Your own account: profile, sessions and tokens"),
    "org:read": N_("Read your organisation's data"),
    "org:write": N_("Change your organisation's data and members"),
    "platform": N_("Platform operations (operators and admins only)"),
    "trace:capture": N_("Capture EPCIS trace events for your organisation"),
}


@dataclass(frozen=True)
class Actor:
    """Who is asking: a user (or nobody), the organisation they act for, and their roles."""

    user: UserRef | None = None
    organisation: OrganisationRef | None = None
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None  # None: a browser session, every scope
    ip: str | None = None
    session_id: int | None = None
    token_id: int | None = None
    system: bool = False  # the command line, acting as the machine's operator
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        granted: set[Permission] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, frozenset())
        if self.scopes is not None:
            granted = {p for p in granted if p.scope in self.scopes}
        object.__setattr__(self, "permissions", frozenset(granted))

    @classmethod
    def for_system(cls) -> Actor:
        return cls(system=True)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None or self.system

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    def require_user_id(self) -> int:
        """The acting user's id; 401 for anonymous requests (and the command line)."""
        if self.user is None:
            raise Unauthenticated(N_("Please log in first."))
        return self.user.id

    @property
    def organisation_id(self) -> int | None:
        return self.organisation.id if self.organisation else None

    @property
    def organisation_kind(self) -> str | None:
        return self.organisation.kind if self.organisation else None

    def has(self, permission: Permission) -> bool:
        return self.system or permission in self.permissions

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def acts_for(self, kind: str) -> bool:
        return self.organisation is not None and self.organisation.kind == kind


async def current_actor(request: Request, session: DbSession) -> Actor:
    """The actor behind this request (bearer token, session cookie, or anonymous); cached."""
    actor = getattr(request.state, "actor", None)
    if isinstance(actor, Actor):
        return actor
    from linli.accounts.identity import resolve_actor  # accounts depends on authz

    actor = await resolve_actor(session, request)
    request.state.actor = actor
    return actor


def require_user(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))
    return actor


def require_scope(scope: str):  # type: ignore[no-untyped-def]
    def dependency(actor: Annotated[Actor, Depends(require_user)]) -> Actor:
        if not actor.has_scope(scope):
            raise Forbidden(N_("This token lacks the {scope} scope."), scope=scope)
        return actor

    return dependency


def require(permission: Permission):  # type: ignore[no-untyped-def]
    """Dependency: the actor must hold `permission` through their active organisation."""

    def dependency(actor: Annotated[Actor, Depends(require_user)]) -> Actor:
        ensure(actor, permission)
        return actor

    return dependency


def ensure(actor: Actor, permission: Permission) -> None:
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))
    if actor.has(permission):
        return
    if actor.scopes is not None and permission.scope not in actor.scopes:
        raise Forbidden(N_("This token lacks the {scope} scope."), scope=permission.scope)
    raise Forbidden(N_("You do not have permission to do this."))


# Role and organisation-kind names are shown translated: `term(ROLE_LABELS, role)` in templates.
LABELS = (
    N_("owner"),
    N_("staff"),
    N_("inspector"),
    N_("supervisor"),
    N_("operator"),
    N_("admin"),
    N_("merchant"),
    N_("supplier"),
    N_("regulator"),
    N_("platform"),
)
