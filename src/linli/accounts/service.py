"""Accounts: sign-up, login with throttling, sessions, organisations, roles and API tokens."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from linli import clock, outbox, ratelimit
from linli.accounts import policies
from linli.accounts.models import (
    ApiToken,
    LoginFailure,
    Membership,
    Organisation,
    User,
    UserSession,
)
from linli.audit import service as audit
from linli.authz import (
    PLATFORM_ORGS_MANAGE,
    ROLES_BY_KIND,
    SCOPES,
    Actor,
    ensure,
)
from linli.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from linli.events import MembershipGranted, MembershipRevoked, OrganisationCreated, UserSignedUp
from linli.i18n import N_, Message, format_datetime
from linli.phone import mask_phone, national_number, normalize_mobile
from linli.security import (
    hash_password_off_loop,
    new_token,
    password_needs_rehash,
    password_problem,
    token_digest,
    verify_password_off_loop,
)

SESSION_TOKEN_PREFIX = "ls"  # noqa: S105 (a prefix, not a secret)
API_TOKEN_PREFIX = "linli"  # noqa: S105 (a prefix, not a secret)


# --- validation helpers -------------------------------------------------------------------


def require_mobile(raw: str, field: str = "phone") -> str:
    phone = normalize_mobile(raw)
    if phone is None:
        raise ValidationFailed(
            N_("Check the phone number."),
            fields={field: N_("Enter a mainland China mobile number: 11 digits starting with 1.")},
        )
    return phone


def require_strong_password(password: str, phone: str, field: str = "password") -> None:
    problem = password_problem(password, phone_digits=national_number(phone))
    if problem is not None:
        raise ValidationFailed(N_("Choose a stronger password."), fields={field: problem})


# --- sign-up and login --------------------------------------------------------------------


@dataclass(frozen=True)
class SignupPolicy:
    """Sign-ups allowed per address and per phone number in a window (each costs a hash)."""

    per_address: int = 10
    per_phone: int = 3
    window: timedelta = timedelta(hours=1)


async def _throttle_signup(
    session: AsyncSession, actor: Actor, phone: str, policy: SignupPolicy
) -> None:
    hits = [
        await ratelimit.hit(
            session,
            "signup.ip",
            actor.ip or "unknown",
            limit=policy.per_address,
            window=policy.window,
        ),
        await ratelimit.hit(
            session, "signup.phone", phone, limit=policy.per_phone, window=policy.window
        ),
    ]
    over = [hit for hit in hits if hit.exceeded]
    if over:
        seconds = max(hit.retry_after_seconds() for hit in over)
        raise TooManyRequests(
            N_("Too many sign-ups from here. Try again in {minutes} min."),
            minutes=(seconds + 59) // 60,
            code="signup_throttled",
            headers={"Retry-After": str(seconds)},
            keep_changes=True,
        )


async def signup(
    session: AsyncSession,
    actor: Actor,
    *,
    phone: str,
    password: str,
    display_name: str,
    password_hash: str | None = None,
    policy: SignupPolicy | None = None,
) -> User:
    """Create a resident account. `password_hash` (a hash of `password`, made once) lets the
    demo create thousands of accounts without hashing each. Throttled per address and per
    phone number (`policy`; the system actor, e.g. the demo, is not throttled)."""
    normalized = require_mobile(phone)
    require_strong_password(password, normalized)
    name = display_name.strip()
    if not name:
        raise ValidationFailed(
            N_("Tell us what to call you."), fields={"display_name": N_("Enter a name.")}
        )
    # Counted once the input is well-formed: from here on an attempt costs a look-up and a
    # hash, and says whether the number is registered.
    if not actor.system:
        await _throttle_signup(session, actor, normalized, policy or SignupPolicy())
    if await session.scalar(select(User.id).where(User.phone == normalized)) is not None:
        raise Conflict(
            N_("An account with this phone number already exists; log in instead."),
            code="phone_taken",
            fields={"phone": N_("Already registered.")},
            keep_changes=True,  # the attempt still counts against the throttle
        )
    user = User(
        phone=normalized,
        password_hash=password_hash or await hash_password_off_loop(password),
        display_name=name,
        is_active=True,
        created_at=clock.now(),
    )
    session.add(user)
    await session.flush()
    outbox.publish(session, UserSignedUp(user_id=user.id))
    audit.record(
        session, actor, "accounts.signup", target_type="user", target_id=user.id, user_id=user.id
    )
    return user


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


async def _retry_at(
    session: AsyncSession, column: InstrumentedAttribute[str], value: str, policy: LoginPolicy
) -> datetime | None:
    """When the oldest of the last `max_failures` failures leaves the window, or None."""
    since = clock.now() - policy.window
    times = list(
        await session.scalars(
            select(LoginFailure.at)
            .where(column == value, LoginFailure.at > since)
            .order_by(LoginFailure.at.desc())
            .limit(policy.max_failures)
        )
    )
    if len(times) < policy.max_failures:
        return None
    return times[-1] + policy.window


async def authenticate(
    session: AsyncSession,
    actor: Actor,
    *,
    phone: str,
    password: str,
    policy: LoginPolicy | None = None,
) -> User:
    """Check credentials; throttle per account and per IP; failures are kept even on error.

    Attempts on the same account or from the same address are serialised (`ratelimit.lock`)
    from reading the failures to recording this one, so a concurrent burst cannot get more
    than `max_failures` guesses. A throttled attempt is counted, not audited one by one: the
    first in a window writes `accounts.login_throttled`, the rest only add to its counter."""
    policy = policy or LoginPolicy()
    key = normalize_mobile(phone) or phone.strip().lower()[:32]
    ip = actor.ip or "unknown"
    await ratelimit.lock(session, f"login.phone:{key}", f"login.ip:{ip}")
    phone_block = await _retry_at(session, LoginFailure.phone, key, policy)
    ip_block = await _retry_at(session, LoginFailure.ip, ip, policy)
    blocks = [at for at in (phone_block, ip_block) if at is not None]
    if blocks:
        retry_at = max(blocks)
        seconds = max(1, int((retry_at - clock.now()).total_seconds()) + 1)
        scope, value = ("login.throttled.ip", ip) if ip_block else ("login.throttled.phone", key)
        throttled = await ratelimit.hit(session, scope, value, limit=0, window=policy.window)
        if throttled.first_over:
            audit.record(session, actor, "accounts.login_throttled", phone=mask_phone(key))
        raise TooManyRequests(
            N_("Too many failed logins. Try again in {minutes} min (after {time})."),
            minutes=(seconds + 59) // 60,
            time=format_datetime(retry_at, "short"),
            headers={"Retry-After": str(seconds)},
            keep_changes=True,
        )
    user = await session.scalar(select(User).where(User.phone == key))
    ok = await verify_password_off_loop(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        session.add(LoginFailure(phone=key, ip=ip, at=clock.now()))
        audit.record(
            session,
            actor,
            "accounts.login_failed",
            phone=mask_phone(key),
            user_id=user.id if user else None,
        )
        raise Unauthenticated(
            N_("Wrong phone number or password."), code="bad_credentials", keep_changes=True
        )
    if password_needs_rehash(user.password_hash):
        user.password_hash = await hash_password_off_loop(password)
    await session.execute(delete(LoginFailure).where(LoginFailure.phone == key))
    return user


async def start_session(
    session: AsyncSession,
    actor: Actor,
    user: User,
    *,
    days: int,
    user_agent: str | None = None,
) -> str:
    """Create a browser session for `user`; returns the token to put in the cookie."""
    token = new_token(SESSION_TOKEN_PREFIX)
    now = clock.now()
    # Someone in exactly one organisation starts out acting for it (a merchant lands in their
    # console); with several, or none, they act as themselves until they choose.
    organisations = (
        await session.scalars(
            select(Membership.organisation_id)
            .where(Membership.user_id == user.id)
            .distinct()
            .limit(2)
        )
    ).all()
    row = UserSession(
        token_digest=token_digest(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(days=days),
        ip=actor.ip,
        user_agent=(user_agent or "")[:255] or None,
        active_organisation_id=organisations[0] if len(organisations) == 1 else None,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session, actor, "accounts.login", target_type="session", target_id=row.id, user_id=user.id
    )
    return token


async def end_session(session: AsyncSession, actor: Actor) -> None:
    if actor.session_id is None:
        return
    row = await session.get(UserSession, actor.session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()
        audit.record(session, actor, "accounts.logout", target_type="session", target_id=row.id)


async def change_password(
    session: AsyncSession,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    revoke_tokens: bool = False,
) -> int:
    """Ends the user's other sessions; API tokens too when `revoke_tokens` (returns how many
    tokens were revoked)."""
    user = await _own_user(session, actor)
    if not await verify_password_off_loop(user.password_hash, current_password):
        raise ValidationFailed(
            N_("Your current password is not right."),
            fields={"current_password": N_("Wrong password.")},
        )
    require_strong_password(new_password, user.phone, field="new_password")
    return await _replace_password(session, actor, user, new_password, revoke_tokens=revoke_tokens)


async def set_password(session: AsyncSession, actor: Actor, *, phone: str, password: str) -> User:
    """Operator reset (command line): sets the password and ends every session and API token
    of the user (a reset usually follows a lost or stolen password)."""
    if not actor.system:
        raise Forbidden(N_("You do not have permission to do this."))
    user = await _user_by_phone(session, phone)
    require_strong_password(password, user.phone)
    await _replace_password(session, actor, user, password, revoke_tokens=True)
    return user


async def _replace_password(
    session: AsyncSession, actor: Actor, user: User, password: str, *, revoke_tokens: bool
) -> int:
    user.password_hash = await hash_password_off_loop(password)
    now = clock.now()
    sessions = await session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    )
    for row in sessions:
        if row.id != actor.session_id:
            row.revoked_at = now
    revoked = 0
    if revoke_tokens:
        tokens = await session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
        for token in tokens:
            token.revoked_at = now
            revoked += 1
    audit.record(
        session,
        actor,
        "accounts.password_changed",
        target_type="user",
        target_id=user.id,
        tokens_revoked=revoked,
    )
    return revoked


async def update_profile(
    session: AsyncSession, actor: Actor, *, display_name: str | None, locale: str | None
) -> User:
    user = await _own_user(session, actor)
    changes: dict[str, str] = {}
    if display_name is not None and display_name != user.display_name:
        user.display_name = display_name
        changes["display_name"] = display_name
    if locale is not None and locale != user.locale:
        user.locale = locale
        changes["locale"] = locale
    if changes:
        audit.record(
            session,
            actor,
            "accounts.profile_updated",
            target_type="user",
            target_id=user.id,
            changes=changes,
        )
    return user


async def _own_user(session: AsyncSession, actor: Actor) -> User:
    user = await session.get(User, actor.require_user_id())
    if user is None:
        raise Unauthenticated(N_("Please log in first."))
    return user


async def _user_by_phone(session: AsyncSession, phone: str, field: str = "phone") -> User:
    normalized = require_mobile(phone, field)
    user = await session.scalar(select(User).where(User.phone == normalized))
    if user is None:
        raise NotFound(N_("No account uses this phone number."), fields={field: N_("Unknown.")})
    return user


# --- organisations and memberships --------------------------------------------------------


@dataclass(frozen=True)
class OrganisationRoles:
    organisation: Organisation
    roles: tuple[str, ...]


async def memberships_of(session: AsyncSession, user_id: int) -> list[OrganisationRoles]:
    rows = await session.execute(
        select(Organisation, Membership.role)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id)
        .order_by(Organisation.name, Organisation.id, Membership.role)
    )
    grouped: dict[int, tuple[Organisation, list[str]]] = {}
    for organisation, role in rows:
        grouped.setdefault(organisation.id, (organisation, []))[1].append(role)
    return [OrganisationRoles(org, tuple(roles)) for org, roles in grouped.values()]


async def roles_in(session: AsyncSession, user_id: int, organisation_id: int) -> frozenset[str]:
    roles = await session.scalars(
        select(Membership.role).where(
            Membership.user_id == user_id, Membership.organisation_id == organisation_id
        )
    )
    return frozenset(roles)


async def switch_organisation(
    session: AsyncSession, actor: Actor, organisation_id: int | None
) -> Organisation | None:
    """Act for `organisation_id` (None: as a resident). Only organisations you belong to."""
    user_id = actor.require_user_id()
    if actor.session_id is None:
        raise BadRequest(
            N_("API tokens act for a fixed organisation; create another token to switch.")
        )
    row = await session.get(UserSession, actor.session_id)
    if row is None:
        raise Unauthenticated(N_("Please log in first."))
    organisation: Organisation | None = None
    if organisation_id is not None:
        if not await roles_in(session, user_id, organisation_id):
            # Same answer whether the organisation exists or not.
            raise Forbidden(N_("You are not a member of this organisation."), code="not_a_member")
        organisation = await session.get(Organisation, organisation_id)
    row.active_organisation_id = organisation_id
    audit.record(
        session,
        actor,
        "accounts.organisation_switched",
        target_type="organisation",
        target_id=organisation_id,
        organisation_id=organisation_id,
    )
    return organisation


def check_region_codes(codes: Iterable[str | None]) -> None:
    """The city must lie in the province and the district in the city (GB/T 2260 prefixes)."""
    province, city, district = list(codes)
    if district and not city:
        raise ValidationFailed(
            N_("Give the city code with the district code."),
            fields={"city_code": N_("Required with a district.")},
        )
    if city and (not province or city[:2] != province[:2]):
        raise ValidationFailed(
            N_("The city code must lie in the province."),
            fields={"city_code": N_("Does not match the province code.")},
        )
    if district and city and district[:4] != city[:4]:
        raise ValidationFailed(
            N_("The district code must lie in the city."),
            fields={"district_code": N_("Does not match the city code.")},
        )


async def create_organisation(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: str,
    name: str,
    foreign_trade: bool = False,
    province_code: str | None = None,
    city_code: str | None = None,
    district_code: str | None = None,
) -> Organisation:
    ensure(actor, PLATFORM_ORGS_MANAGE)
    return await insert_organisation(
        session,
        actor,
        kind=kind,
        name=name,
        foreign_trade=foreign_trade,
        province_code=province_code,
        city_code=city_code,
        district_code=district_code,
    )


async def insert_organisation(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: str,
    name: str,
    foreign_trade: bool = False,
    province_code: str | None = None,
    city_code: str | None = None,
    district_code: str | None = None,
) -> Organisation:
    """Create an organisation. The caller has authorised the actor (e.g. an approved
    merchant application); validation and the audit entry happen here."""
    if kind not in ROLES_BY_KIND:
        raise ValidationFailed(N_("Unknown organisation kind."), fields={"kind": N_("Unknown.")})
    if foreign_trade and kind != "supplier":
        raise ValidationFailed(
            N_("Only suppliers can be foreign-trade enterprises."),
            fields={"foreign_trade": N_("Only for suppliers.")},
        )
    if kind == "regulator" and not province_code:
        raise ValidationFailed(
            N_("A regulator needs its jurisdiction."),
            fields={"province_code": N_("Required for a regulator.")},
        )
    check_region_codes((province_code, city_code, district_code))
    organisation = Organisation(
        kind=kind,
        name=name.strip(),
        foreign_trade=foreign_trade,
        province_code=province_code,
        city_code=city_code,
        district_code=district_code,
        created_at=clock.now(),
    )
    session.add(organisation)
    await session.flush()
    outbox.publish(session, OrganisationCreated(organisation_id=organisation.id, kind=kind))
    audit.record(
        session,
        actor,
        "accounts.organisation_created",
        target_type="organisation",
        target_id=organisation.id,
        organisation_id=organisation.id,
        kind=kind,
        name=organisation.name,
    )
    return organisation


async def access_organisation(
    session: AsyncSession, actor: Actor, organisation_id: int
) -> Organisation:
    """Members see their organisation; platform staff see any. Others get 404."""
    query = policies.visible_organisations(actor).where(Organisation.id == organisation_id)
    organisation = await session.scalar(query)
    if organisation is None:
        raise NotFound(N_("No such organisation."))
    return organisation


async def grant_role(
    session: AsyncSession, actor: Actor, *, organisation_id: int, phone: str, role: str
) -> Membership:
    policies.ensure_can_manage_members(actor, organisation_id)
    organisation = await access_organisation(session, actor, organisation_id)
    if role not in ROLES_BY_KIND[organisation.kind]:
        raise ValidationFailed(
            N_("A {kind} organisation has no {role} role."),
            kind=organisation.kind,
            role=role,
            fields={
                "role": Message(
                    N_("Choose one of: {roles}."),
                    {"roles": ", ".join(ROLES_BY_KIND[organisation.kind])},
                )
            },
        )
    user = await _user_by_phone(session, phone)
    return await insert_membership(
        session, actor, organisation_id=organisation_id, user_id=user.id, role=role
    )


async def insert_membership(
    session: AsyncSession, actor: Actor, *, organisation_id: int, user_id: int, role: str
) -> Membership:
    """Give `role` (idempotent). The caller has authorised the actor; audited here."""
    existing = await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.organisation_id == organisation_id,
            Membership.role == role,
        )
    )
    if existing is not None:
        return existing
    membership = Membership(
        user_id=user_id,
        organisation_id=organisation_id,
        role=role,
        granted_at=clock.now(),
        granted_by_id=actor.user_id,
    )
    session.add(membership)
    await session.flush()
    outbox.publish(
        session, MembershipGranted(organisation_id=organisation_id, user_id=user_id, role=role)
    )
    audit.record(
        session,
        actor,
        "accounts.role_granted",
        target_type="user",
        target_id=user_id,
        organisation_id=organisation_id,
        role=role,
    )
    return membership


async def revoke_role(
    session: AsyncSession, actor: Actor, *, organisation_id: int, user_id: int, role: str
) -> None:
    policies.ensure_can_manage_members(actor, organisation_id)
    membership = await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.organisation_id == organisation_id,
            Membership.role == role,
        )
    )
    if membership is None:
        raise NotFound(N_("This person does not hold that role here."))
    if role in ("owner", "admin", "supervisor"):
        managers = await session.scalar(
            select(func.count()).where(
                Membership.organisation_id == organisation_id, Membership.role == role
            )
        )
        if (managers or 0) <= 1:
            raise Conflict(N_("An organisation must keep at least one {role}."), role=role)
    await session.delete(membership)
    outbox.publish(
        session, MembershipRevoked(organisation_id=organisation_id, user_id=user_id, role=role)
    )
    audit.record(
        session,
        actor,
        "accounts.role_revoked",
        target_type="user",
        target_id=user_id,
        organisation_id=organisation_id,
        role=role,
    )


async def list_members(
    session: AsyncSession, actor: Actor, organisation_id: int
) -> list[tuple[User, tuple[str, ...]]]:
    policies.ensure_can_read_members(actor, organisation_id)
    rows = await session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == organisation_id)
        .order_by(User.display_name, User.id, Membership.role)
    )
    grouped: dict[int, tuple[User, list[str]]] = {}
    for user, role in rows:
        grouped.setdefault(user.id, (user, []))[1].append(role)
    return [(user, tuple(roles)) for user, roles in grouped.values()]


async def list_organisations(session: AsyncSession, actor: Actor) -> Sequence[Organisation]:
    ensure(actor, PLATFORM_ORGS_MANAGE)
    return (await session.scalars(select(Organisation).order_by(Organisation.id))).all()


# --- API tokens ---------------------------------------------------------------------------


async def create_token(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    scopes: Sequence[str],
    organisation_id: int | None = None,
    expires_in_days: int | None = None,
    for_user: User | None = None,
) -> tuple[str, ApiToken]:
    """A new bearer token (returned once in plain text). Only for organisations you belong to."""
    user_id = for_user.id if (for_user is not None and actor.system) else actor.require_user_id()
    if not actor.has_scope("account"):
        raise Forbidden(N_("This token lacks the {scope} scope."), scope="account")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationFailed(
            N_("Unknown scope: {scopes}."),
            scopes=", ".join(unknown),
            fields={"scopes": Message(N_("Choose from: {known}."), {"known": ", ".join(SCOPES)})},
        )
    if organisation_id is not None and not await roles_in(session, user_id, organisation_id):
        raise Forbidden(N_("You are not a member of this organisation."), code="not_a_member")
    if actor.scopes is not None and not set(scopes) <= actor.scopes:
        raise Forbidden(N_("A token cannot create a token with more scopes than its own."))
    token = new_token(API_TOKEN_PREFIX)
    now = clock.now()
    row = ApiToken(
        user_id=user_id,
        organisation_id=organisation_id,
        name=name,
        token_digest=token_digest(token),
        hint=token[-4:],
        scopes=sorted(set(scopes)),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "accounts.token_created",
        target_type="api_token",
        target_id=row.id,
        user_id=user_id,
        organisation_id=organisation_id,
        scopes=row.scopes,
        name=name,
    )
    return token, row


async def list_tokens(session: AsyncSession, actor: Actor) -> Sequence[ApiToken]:
    user_id = actor.require_user_id()
    return (
        await session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        )
    ).all()


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    user_id = actor.require_user_id()
    row = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
    if row is None:
        raise NotFound(N_("No such token."))
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        audit.record(
            session, actor, "accounts.token_revoked", target_type="api_token", target_id=row.id
        )
    return row
