"""Closing an account, as far as accounts hold it: every session and API token ends at once, the
user row keeps no personal data, and the phone number is free to sign up again.

`linli.privacy` decides when an account may close and calls this; the other domains erase
their own parts through `linli.personal_data`."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import (
    ApiToken,
    LoginFailure,
    Membership,
    Organisation,
    User,
    UserSession,
)
from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import Conflict, ValidationFailed
from linli.i18n import N_
from linli.security import verify_password_off_loop

# What a closed account's name reads as everywhere it is still shown (a pick list of a past
# order, a member list): a mark that names nobody, the same in every language.
CLOSED_NAME = "—"
# The phone column of a closed account: unique, and no mobile number normalises to it, so the
# number itself can register a new account.
CLOSED_PHONE_PREFIX = "closed:"
_UNUSABLE_HASH = "!closed"  # not an argon2 hash: no password verifies against it


def closed_phone(user_id: int) -> str:
    return f"{CLOSED_PHONE_PREFIX}{user_id}"


async def own_open_user(session: AsyncSession, actor: Actor, *, lock: bool = False) -> User:
    """The actor's own account, still open (a closed one cannot be asked for anything). With
    `lock` the row is locked (PostgreSQL) and read afresh, so two closings of one account run
    one after the other and the second finds it closed."""
    query = select(User).where(User.id == actor.require_user_id())
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    user = await session.scalar(query)
    if user is None or user.closed_at is not None or not user.is_active:
        raise Conflict(N_("This account is closed."), code="account_closed")
    return user


async def check_password(user: User, password: str, field: str = "password") -> None:
    if not password or not await verify_password_off_loop(user.password_hash, password):
        raise ValidationFailed(
            N_("Your password is not right."),
            fields={field: N_("Wrong password.")},
            keep_changes=True,  # the attempt still counts against the throttle
        )


async def organisations_of(session: AsyncSession, user_id: int) -> list[str]:
    """The organisations the user holds a role in (closing waits until they leave them)."""
    names = await session.scalars(
        select(Organisation.name)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.user_id == user_id)
        .distinct()
        .order_by(Organisation.name)
    )
    return list(names)


async def close_user(session: AsyncSession, actor: Actor, user: User) -> tuple[int, int]:
    """End every session and token of `user` and anonymise the row; returns (sessions, tokens)
    ended. Audited by the caller (with the retention it decided)."""
    if user.closed_at is not None:
        raise Conflict(N_("This account is closed."), code="account_closed")
    now = clock.now()
    sessions = await session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    tokens = await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    # Browsers and user agents say something about the person: not kept past the closing.
    await session.execute(
        update(UserSession).where(UserSession.user_id == user.id).values(ip=None, user_agent=None)
    )
    await session.execute(delete(LoginFailure).where(LoginFailure.phone == user.phone))
    user.phone = closed_phone(user.id)
    user.display_name = CLOSED_NAME
    user.locale = None
    user.password_hash = _UNUSABLE_HASH
    user.is_active = False
    user.closed_at = now
    await session.flush()
    audit.record(
        session,
        actor,
        "accounts.closed",
        target_type="user",
        target_id=user.id,
        sessions_ended=sessions.rowcount,  # type: ignore[attr-defined]
        tokens_revoked=tokens.rowcount,  # type: ignore[attr-defined]
    )
    return sessions.rowcount, tokens.rowcount  # type: ignore[attr-defined]


async def forget_sessions(session: AsyncSession, user_id: int) -> None:
    """At the end of retention: the ended sessions and tokens of a closed account go too."""
    user = await session.get(User, user_id)
    if user is None or user.closed_at is None:
        return
    await session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    await session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
