"""Who is asking: turn a bearer token or a session cookie into an Actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from linli import authz, clock
from linli.accounts.models import ApiToken, Organisation, User, UserSession
from linli.accounts.service import LoginPolicy, SignupPolicy, roles_in, start_session
from linli.authz import Actor, OrganisationRef, UserRef
from linli.db import UTCDateTime
from linli.errors import Forbidden, Unauthenticated
from linli.i18n import N_
from linli.middleware import LANG_COOKIE, LANG_COOKIE_SECONDS
from linli.security import constant_time_equal, token_digest
from linli.web import CSRF_COOKIE as CSRF_COOKIE
from linli.web import CSRF_HEADER as CSRF_HEADER
from linli.web import SAFE_METHODS as SAFE_METHODS

SESSION_COOKIE = "linli_session"
# Where machines talk to Linli: bearer tokens are taken here and nowhere else, and a
# cookie-authenticated write here must echo the CSRF cookie in a header (pages check the form
# field instead, with `verify_csrf` on every page router).
API_PREFIXES = ("/api/", "/epcis/")
_LAST_USED_GRANULARITY = timedelta(minutes=5)

# Whether a user leads a pickup point is the community's to say, and community sits above this
# kernel: it provides the condition when linli.community.points is imported (as
# app.load_domain_handlers does). Until then nobody leads.
LeadsCondition = Callable[[Any], ColumnElement[bool]]
_leads_condition: LeadsCondition | None = None


def provide_leads_condition(condition: LeadsCondition) -> None:
    global _leads_condition
    _leads_condition = condition


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def resolve_actor(session: AsyncSession, request: Request) -> Actor:
    ip = client_ip(request)
    authorization = request.headers.get("authorization")
    if authorization:
        if not is_api_path(request.url.path):
            raise Unauthenticated(
                N_("API tokens work only under /api/ and /epcis/; pages need a login."),
                code="token_not_accepted",
            )
        return await _actor_from_token(session, request, authorization, ip)
    signed = request.cookies.get(SESSION_COOKIE)
    if signed:
        actor = await _actor_from_session(session, request, signed, ip)
        if actor is not None:
            return actor
    return Actor(ip=ip)


_TOKEN_AND_USER = (
    select(
        ApiToken.id,
        ApiToken.organisation_id,
        ApiToken.scopes,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.phone,
        User.display_name,
        User.locale,
        User.is_active,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_digest == bindparam("digest"))
)
_TOUCH_TOKEN = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("now", type_=UTCDateTime))
)


async def _actor_from_token(
    session: AsyncSession, request: Request, authorization: str, ip: str | None
) -> Actor:
    scheme, _sep, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(N_("Send the token as 'Authorization: Bearer <token>'."))
    # The token and its user in one statement of plain columns (every bearer request starts
    # here: loading them as ORM objects cost more than the round trip).
    connection = await session.connection()
    found = (
        await connection.execute(_TOKEN_AND_USER, {"digest": token_digest(token.strip())})
    ).first()
    now = clock.now()
    if found is None:
        raise Unauthenticated(N_("This API token is invalid, expired or revoked."))
    if (
        found.revoked_at is not None
        or (found.expires_at is not None and found.expires_at <= now)
        or not found.is_active
    ):
        raise Unauthenticated(N_("This API token is invalid, expired or revoked."))
    organisation: Organisation | None = None
    roles: frozenset[str] = frozenset()
    if found.organisation_id is not None:
        roles = await roles_in(session, found.user_id, found.organisation_id)
        if roles:
            organisation = await session.get(Organisation, found.organisation_id)
    if found.last_used_at is None or now - found.last_used_at > _LAST_USED_GRANULARITY:
        if request.method in SAFE_METHODS:
            # A reading request's transaction must stay read-only: on SQLite a deferred
            # transaction that starts writing fails at once when another writer got in first.
            await _touch_token(request, found.id, now)
        else:
            await connection.execute(_TOUCH_TOKEN, {"token_id": found.id, "now": now})
    return Actor(
        user=UserRef(
            id=found.user_id,
            phone=found.phone,
            display_name=found.display_name,
            locale=found.locale,
        ),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=roles,
        scopes=frozenset(found.scopes),
        ip=ip,
        token_id=found.id,
    )


async def _actor_from_session(
    session: AsyncSession, request: Request, signed: str, ip: str | None
) -> Actor | None:
    raw = request.app.state.session_signer.unsign(signed)
    if raw is None:
        return None
    # The session, its user and whether they lead a pickup point (for the menu): one statement.
    leads = _leads_condition(User.id) if _leads_condition is not None else literal(False)
    found = (
        await session.execute(
            select(UserSession, User, leads)
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.token_digest == token_digest(raw),
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > clock.now(),
            )
        )
    ).first()
    if found is None:
        return None
    row, user, leads_point = found
    if not user.is_active:
        return None
    if is_api_path(request.url.path) and request.method not in SAFE_METHODS:
        _check_api_csrf(request)
    organisation: Organisation | None = None
    roles: frozenset[str] = frozenset()
    if row.active_organisation_id is not None:
        roles = await roles_in(session, user.id, row.active_organisation_id)
        if roles:
            organisation = await session.get(Organisation, row.active_organisation_id)
        else:
            roles = frozenset()
    return Actor(
        user=UserRef.of(user, leads_point=bool(leads_point)),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=roles,
        ip=ip,
        session_id=row.id,
    )


async def _touch_token(request: Request, token_id: int, now: datetime) -> None:
    """Note a token's use in a short writing transaction of its own (it waits its turn)."""
    async with request.app.state.sessionmaker() as writer, writer.begin():
        await writer.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
        )


def _check_api_csrf(request: Request) -> None:
    """Cookie-authenticated API writes must echo the CSRF cookie in a header."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not constant_time_equal(cookie, header):
        raise Forbidden(
            N_("Missing or wrong X-CSRF-Token header for a cookie-authenticated request."),
            code="csrf_failed",
        )


async def open_session(session: AsyncSession, request: Request, actor: Actor, user: User) -> str:
    """Start a browser session for `user` (after sign-up or login); returns its token."""
    return await start_session(
        session,
        actor,
        user,
        days=request.app.state.settings.session_days,
        user_agent=request.headers.get("user-agent"),
    )


def remember_login(response: Response, request: Request, token: str, locale: str | None) -> None:
    """The session cookie, and the user's saved language for this browser."""
    set_session_cookie(response, request, token)
    if locale:
        response.set_cookie(LANG_COOKIE, locale, max_age=LANG_COOKIE_SECONDS, samesite="lax")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.session_signer.sign(token),
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def login_policy(request: Request) -> LoginPolicy:
    """Login throttling as configured (LINLI_LOGIN_MAX_FAILURES, LINLI_LOGIN_WINDOW_MINUTES)."""
    settings = request.app.state.settings
    return LoginPolicy(
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
    )


def signup_policy(request: Request) -> SignupPolicy:
    """Sign-up throttling as configured (LINLI_SIGNUP_MAX_PER_ADDRESS, ..._PER_PHONE)."""
    settings = request.app.state.settings
    return SignupPolicy(
        per_address=settings.signup_max_per_address,
        per_phone=settings.signup_max_per_phone,
        window=timedelta(minutes=settings.signup_window_minutes),
    )


authz.provide_actor_resolver(resolve_actor)
