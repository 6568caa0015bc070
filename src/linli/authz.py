"""The Actor (user + active organisation + roles) and the permission dependencies.

Roles belong to organisation kinds; permissions belong to roles; API tokens narrow them further
by scope. Route handlers declare the permission they need with `Depends(require("..."))`;
services scope their queries to the actor they are given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from linli.db import DbSession
from linli.errors import Forbidden, Unauthenticated
from linli.i18n import N_


class UserRow(Protocol):
    """A user as accounts stores it (accounts sits above this kernel module)."""

    @property
    def id(self) -> int: ...
    @property
    def phone(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def locale(self) -> str | None: ...


class OrganisationRow(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...


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
    def of(cls, user: UserRow, *, leads_point: bool = False) -> UserRef:
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
    def of(cls, organisation: OrganisationRow) -> OrganisationRef:
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
# Operators enter the working-day calendar where the package lacks a year (rules.workdays)
RULES_CALENDAR_MANAGE = _perm("rules.calendar.manage", "platform")
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
# The owner's own acts for a merchant or supplier: file licences and certifications.
MERCHANT_PROFILE_MANAGE = _perm("merchant.profile.manage", "org:write")
# consumer protection: reviews
REVIEWS_READ = _perm("protection.reviews.read", "org:read")  # reviews of the merchant's goods
REVIEWS_REPLY = _perm("protection.reviews.reply", "org:write")  # reply once to a review
PLATFORM_REVIEWS_HIDE = _perm("platform.reviews.hide", "platform")  # hide, with a legal reason
# consumer protection: complaints
COMPLAINTS_READ = _perm("complaints.read", "org:read")  # complaints about the organisation
COMPLAINTS_REPLY = _perm("complaints.reply", "org:write")  # its answers on their timelines
PLATFORM_COMPLAINTS = _perm("platform.complaints", "platform")  # decide platform disputes
# a regulator reads and decides the complaints assigned to it (its jurisdiction covers the
# merchant)
REGULATOR_COMPLAINTS_READ = _perm("regulator.complaints.read", "org:read")
REGULATOR_COMPLAINTS = _perm("regulator.complaints", "org:write")
# consumer protection: returns
PROTECTION_RETURNS_READ = _perm("protection.returns.read", "org:read")  # returns to the merchant
PROTECTION_RETURNS_ANSWER = _perm("protection.returns.answer", "org:write")  # answer, refund
# credit: a merchant reads its own score and its explanation; regulators read the risk classes
# of the merchants in their jurisdiction (never shown to anyone else); nobody writes credit
CREDIT_READ = _perm("credit.read", "org:read")
REGULATOR_CREDIT_READ = _perm("regulator.credit.read", "org:read")
# consumer protection: quality claims (refund without return)
PROTECTION_CLAIMS_READ = _perm("protection.claims.read", "org:read")  # claims to the merchant
PROTECTION_CLAIMS_DECIDE = _perm("protection.claims.decide", "org:write")  # uphold or reject
PLATFORM_CLAIMS = _perm("platform.claims", "platform")  # escalated claims and abuse flags
# credit lists and repair: the merchant's owner asks the deciding regulator to repair a
# published penalty or remove a serious-dishonesty list entry early; supervisors of that
# regulator decide (with reasons)
CREDIT_REQUEST = _perm("credit.request", "org:write")
REGULATOR_CREDIT_DECIDE = _perm("regulator.credit.decide", "org:write")
# supervision: double random inspections (docs/supervision-inspections.md). An inspector is a
# member of a regulator holding SUPERVISION_INSPECT (drawn for targets, records their results).
SUPERVISION_INSPECT = _perm("supervision.inspect", "org:write")
SUPERVISION_PLANS_READ = _perm("supervision.plans.read", "org:read")  # the regulator's plans
SUPERVISION_PLANS_MANAGE = _perm("supervision.plans.manage", "org:write")  # create, draw
# supervision: reports of suspected violations (docs/supervision-reports.md)
PLATFORM_SUPERVISION_REPORTS = _perm("platform.supervision.reports", "platform")  # triage
REGULATOR_REPORTS_READ = _perm("regulator.reports.read", "org:read")  # reports forwarded to it
REGULATOR_REPORTS = _perm("regulator.reports", "org:write")  # acknowledge, record the outcome
# supervision (docs/supervision.md): a regulator's alerts, cases, emergencies and rules, in its
# jurisdiction. Inspectors work the cases assigned to them; supervisors manage.
SUPERVISION_READ = _perm("supervision.read", "org:read")
SUPERVISION_MANAGE = _perm("supervision.manage", "org:write")  # cases, decisions, emergencies
SUPERVISION_RULES = _perm("supervision.rules", "org:write")  # edit supervision rule parameters
# live selling (docs/live.md): a merchant's rooms, goods, pins and sessions (owner and staff);
# registering the organisation's real-name streamers is the owner's act; the platform suspends
# streamers and rooms and keeps the identity blacklist.
LIVE_READ = _perm("live.read", "org:read")
LIVE_MANAGE = _perm("live.manage", "org:write")
LIVE_STREAMERS_MANAGE = _perm("live.streamers.manage", "org:write")
PLATFORM_LIVE = _perm("platform.live", "platform")

# online services (docs/services.md): a provider's practitioners, schedules, slots and bookings.
# Owner and staff read the desk and run the sessions (schedules, check-in, completion); only
# the owner registers practitioners, whose credentials the organisation answers for.
SERVICES_READ = _perm("services.read", "org:read")
SERVICES_MANAGE = _perm("services.manage", "org:write")
SERVICES_PRACTITIONERS = _perm("services.practitioners", "org:write")
# Internet+medical follow-up care: a regulator reads the consultations and prescriptions of
# the providers registered in its jurisdiction (the data interface the 2022 rules require).
REGULATOR_MEDICAL_READ = _perm("regulator.medical.read", "org:read")
# consumption statistics (docs/supervision.md "Consumption statistics"): paid amounts and counts
# by consumption type, goods and services; a regulator's of the sellers registered in its
# jurisdiction, the platform's of every seller.
REGULATOR_CONSUMPTION_READ = _perm("regulator.consumption.read", "org:read")
PLATFORM_CONSUMPTION_READ = _perm("platform.consumption.read", "platform")

_MEMBER = {ORG_READ}
_MANAGER = _MEMBER | {ORG_MEMBERS_MANAGE, ORG_AUDIT_READ}
_CATALOGUE = {CATALOG_READ, CATALOG_MANAGE}  # owner and staff: merchant and supplier roles
_PAYMENTS = {PAYMENTS_READ}
_GROUPBUY = {GROUPBUY_READ, GROUPBUY_MANAGE}  # owner and staff of a merchant
_TRACE = {TRACE_READ, TRACE_MANAGE, TRACE_CAPTURE}  # owner and staff: merchant and supplier
_TRACE_SAFETY = {TRACE_SAFETY_READ, TRACE_SAFETY_MANAGE}  # owner and staff of a merchant
_REVIEWS = {REVIEWS_READ, REVIEWS_REPLY}  # owner and staff of a merchant
_COMPLAINTS = {COMPLAINTS_READ, COMPLAINTS_REPLY}  # owner and staff of a merchant
_REGULATOR_COMPLAINTS = {REGULATOR_COMPLAINTS_READ, REGULATOR_COMPLAINTS}
_RETURNS = {PROTECTION_RETURNS_READ, PROTECTION_RETURNS_ANSWER}  # owner and staff of a merchant
_CREDIT = {CREDIT_READ}  # owner and staff of a merchant
_CLAIMS = {PROTECTION_CLAIMS_READ, PROTECTION_CLAIMS_DECIDE}  # owner and staff of a merchant
_LIVE = {LIVE_READ, LIVE_MANAGE}  # owner and staff of a merchant
_SERVICES = {SERVICES_READ, SERVICES_MANAGE}  # owner and staff of a merchant
_OPERATOR = _MEMBER | {
    PLATFORM_COMPLAINTS,
    ORG_AUDIT_READ,
    PLATFORM_AUDIT_READ,
    OPS_OUTBOX_READ,
    OPS_OUTBOX_RETRY,
    PLATFORM_REVIEW,
    COMMUNITY_MANAGE,
    RULES_CALENDAR_MANAGE,
    PLATFORM_REVIEWS_HIDE,
    PLATFORM_CLAIMS,
    PLATFORM_SUPERVISION_REPORTS,
    PLATFORM_LIVE,
    PLATFORM_CONSUMPTION_READ,
}
_REGULATOR_SUPERVISION = {
    SUPERVISION_INSPECT,
    SUPERVISION_PLANS_READ,
    REGULATOR_REPORTS_READ,
    REGULATOR_REPORTS,
    REGULATOR_CONSUMPTION_READ,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "owner": frozenset(
        _MANAGER
        | _CATALOGUE
        | _PAYMENTS
        | _GROUPBUY
        | _TRACE
        | _TRACE_SAFETY
        | _REVIEWS
        | _COMPLAINTS
        | _RETURNS
        | _CREDIT
        | _CLAIMS
        | _LIVE
        | {PAYMENTS_REFUND, TRACE_RECALL, MERCHANT_PROFILE_MANAGE, CREDIT_REQUEST}
        | _SERVICES
        | {LIVE_STREAMERS_MANAGE, SERVICES_PRACTITIONERS}
    ),
    "staff": frozenset(
        _MEMBER
        | _CATALOGUE
        | _PAYMENTS
        | _GROUPBUY
        | _TRACE
        | _TRACE_SAFETY
        | _REVIEWS
        | _COMPLAINTS
        | _RETURNS
        | _CREDIT
        | _CLAIMS
        | _LIVE
        | _SERVICES
    ),
    "supervisor": frozenset(
        _MANAGER
        | {REGULATOR_TRACE_READ, REGULATOR_TRACE_MANAGE, REGULATOR_RECALL, *_REGULATOR_COMPLAINTS}
        | {REGULATOR_CREDIT_READ, REGULATOR_CREDIT_DECIDE, REGULATOR_MEDICAL_READ}
        | _REGULATOR_SUPERVISION
        | {SUPERVISION_PLANS_MANAGE}
        | {SUPERVISION_READ, SUPERVISION_MANAGE, SUPERVISION_RULES}
    ),
    "inspector": frozenset(
        _MEMBER
        | {REGULATOR_TRACE_READ, REGULATOR_TRACE_MANAGE, *_REGULATOR_COMPLAINTS}
        | {REGULATOR_CREDIT_READ, REGULATOR_MEDICAL_READ}
        | _REGULATOR_SUPERVISION
        | {SUPERVISION_READ}
    ),
    "operator": frozenset(_OPERATOR),
    "admin": frozenset(_OPERATOR | _MANAGER | {PLATFORM_ORGS_MANAGE, PLATFORM_PAYMENTS_REFUND}),
}

# Scopes a token may carry. Every API route states the scopes (or the permission, whose scope
# then counts) a token needs; page routes take no tokens at all. "account" covers the user's own
# account (profile, phone number, tokens, inbox, merchant applications); "resident" what a
# resident does (residence, orders, cart, payments, leader applications); "leader" what a group
# leader does at their pickup point.
SCOPES: dict[str, str] = {
    "account": N_("Your own account: profile, sessions and tokens"),
    "resident": N_("Shop as a resident: your residence, orders, cart and payments"),
    "leader": N_("Run your pickup point as a group leader: arrivals, pickups, earnings"),
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


# Who is asking is resolved by accounts (tokens, sessions), which sits above this module: it
# provides the resolver when linli.accounts.identity is imported.
ActorResolver = Callable[[AsyncSession, Request], Awaitable["Actor"]]
_resolve_actor: ActorResolver | None = None


def provide_actor_resolver(resolver: ActorResolver) -> None:
    global _resolve_actor
    _resolve_actor = resolver


async def current_actor(request: Request, session: DbSession) -> Actor:
    """The actor behind this request (bearer token, session cookie, or anonymous); cached."""
    actor = getattr(request.state, "actor", None)
    if isinstance(actor, Actor):
        return actor
    if _resolve_actor is None:
        raise RuntimeError("No actor resolver: import linli.accounts.identity (the app does).")
    actor = await _resolve_actor(session, request)
    request.state.actor = actor
    return actor


async def require_user(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))
    return actor


def require_scope(*scopes: str):  # type: ignore[no-untyped-def]
    """Dependency: a logged-in user; a token must carry one of `scopes`."""
    unknown = [s for s in scopes if s not in SCOPES]
    assert scopes, "name at least one scope"
    assert not unknown, f"unknown scopes {unknown}"

    async def dependency(actor: Annotated[Actor, Depends(require_user)]) -> Actor:
        if not any(actor.has_scope(scope) for scope in scopes):
            raise Forbidden(N_("This token lacks the {scope} scope."), scope=" / ".join(scopes))
        return actor

    dependency.access = frozenset(scopes)  # type: ignore[attr-defined]
    return dependency


def require(permission: Permission):  # type: ignore[no-untyped-def]
    """Dependency: the actor must hold `permission` through their active organisation."""

    async def dependency(actor: Annotated[Actor, Depends(require_user)]) -> Actor:
        if actor.organisation is None and permission.scope != "platform":
            acting_organisation(actor, permission)  # "act for your organisation first"
        ensure(actor, permission)
        return actor

    dependency.access = frozenset({permission.scope})  # type: ignore[attr-defined]
    return dependency


def ensure(actor: Actor, permission: Permission) -> None:
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))
    if actor.has(permission):
        return
    if actor.scopes is not None and permission.scope not in actor.scopes:
        raise Forbidden(N_("This token lacks the {scope} scope."), scope=permission.scope)
    raise Forbidden(N_("You do not have permission to do this."))


def acting_organisation(
    actor: Actor, permission: Permission, *, kinds: tuple[str, ...] = ()
) -> int:
    """The organisation the actor acts for, holding `permission` there (a token's scopes
    honoured): the one way to ask it. 401 anonymous; 403 `not_active_organisation` when the
    actor acts for no organisation (or for one not of `kinds`, when given); 403 when the role
    or the token lacks the permission."""
    if not actor.is_authenticated:
        raise Unauthenticated(N_("Please log in first."))
    organisation = actor.organisation
    if organisation is None or (kinds and organisation.kind not in kinds):
        raise Forbidden(
            N_("Act for your organisation first (on your account page)."),
            code="not_active_organisation",
        )
    ensure(actor, permission)
    return organisation.id


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
