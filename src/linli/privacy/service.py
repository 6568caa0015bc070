"""Personal data (PIPL): a resident's export, closing the account, and the purge at the end of
the retention period. Each domain answers for its own data through `linli.personal_data`;
this module only assembles, decides and records (docs/privacy.md)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox, personal_data, ratelimit
from linli.accounts import closing
from linli.accounts.models import User
from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import Conflict, TooManyRequests
from linli.events import AccountClosed, AccountPurged
from linli.i18n import N_, Message
from linli.jobs import PurgeClosedAccount
from linli.privacy.models import AccountClosure
from linli.rules import service as rules

RULE = "privacy.retention"
CLOSE_ATTEMPTS = 5  # password attempts at closing, per account and window
CLOSE_WINDOW = timedelta(minutes=15)
EXPORT_FORMAT = "linli.personal-data-export"
EXPORT_VERSION = 1


@dataclass(frozen=True)
class Retention:
    """Rule `privacy.retention` in force: how long a closed account's records are kept."""

    rule_id: str
    version: int
    title: str
    legal_basis: str
    years: int


async def retention(session: AsyncSession, at: datetime | None = None) -> Retention:
    rule = await rules.in_force(session, RULE, at=at)
    return Retention(
        rule_id=rule.rule_id,
        version=rule.version,
        title=rule.title,
        legal_basis=rule.legal_basis,
        years=int(rule.values["transaction_records_years"]),
    )


def add_years(moment: datetime, years: int) -> datetime:
    """The same moment `years` later (29 February becomes 28 February in a common year)."""
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])
    return moment.replace(year=year, day=day)


# --- export ------------------------------------------------------------------------------


async def export(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """Everything the platform holds about the actor, as one JSON-able document: one section
    per domain (`personal_data.provide_export_section`). Only ever the actor's own data: the
    user id comes from the actor, never from the request. Audit with `record_export`."""
    user = await closing.own_open_user(session, actor)
    sections: dict[str, Any] = {}
    for name, section in personal_data.export_sections().items():
        sections[name] = await section(session, user.id)
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": clock.now(),
        "user_id": user.id,
        "sections": sections,
    }
    return dict(to_jsonable_python(document))


def record_export(session: AsyncSession, actor: Actor, document: dict[str, Any]) -> None:
    audit.record(
        session,
        actor,
        "privacy.exported",
        target_type="user",
        target_id=actor.user_id,
        sections=sorted(document["sections"]),
    )


# --- closing -----------------------------------------------------------------------------


class _Reasons:
    """Several translatable reasons as one parameter, rendered in the reader's language."""

    def __init__(self, reasons: list[Message]) -> None:
        self.reasons = reasons

    def __format__(self, spec: str) -> str:
        return " ".join(reason.render() for reason in self.reasons)


async def obligations(session: AsyncSession, user_id: int) -> list[Message]:
    """Why the account cannot close yet: roles in organisations, then each domain's answer."""
    found: list[Message] = []
    organisations = await closing.organisations_of(session, user_id)
    if organisations:
        found.append(
            Message(
                N_(
                    "You hold a role in {organisations}: ask its owner or administrator to "
                    "remove you first."
                ),
                {"organisations": ", ".join(organisations)},
            )
        )
    for check in personal_data.open_obligations().values():
        found.extend(await check(session, user_id))
    return found


async def last_transaction(session: AsyncSession, user_id: int) -> datetime | None:
    moments = [
        moment
        for last in personal_data.last_transactions().values()
        if (moment := await last(session, user_id)) is not None
    ]
    return max(moments, default=None)


async def close_account(session: AsyncSession, actor: Actor, *, password: str) -> AccountClosure:
    """Close the actor's own account after they re-entered their password: refused (409, with
    every reason) while obligations are open; then sessions and tokens end, personal data is
    anonymised (accounts and every domain's `provide_on_close`), and the transaction records
    are kept until the retention period after the last of them ends (a due job purges then)."""
    user = await closing.own_open_user(session, actor, lock=True)
    # The password is asked again: whoever holds a session must not get an unthrottled way
    # to guess it. Attempts are counted per account; a wrong one keeps its count.
    attempt = await ratelimit.hit(
        session, "privacy.close", str(user.id), limit=CLOSE_ATTEMPTS, window=CLOSE_WINDOW
    )
    if attempt.exceeded:
        seconds = attempt.retry_after_seconds()
        raise TooManyRequests(
            N_("Too many attempts to close your account. Try again in {minutes} min."),
            minutes=(seconds + 59) // 60,
            code="close_throttled",
            headers={"Retry-After": str(seconds)},
            keep_changes=True,
        )
    await closing.check_password(user, password)
    reasons = await obligations(session, user.id)
    if reasons:
        raise Conflict(
            N_("Your account cannot be closed yet. {reasons}"),
            reasons=_Reasons(reasons),
            code="open_obligations",
        )
    now = clock.now()
    rule = await retention(session, now)
    last = await last_transaction(session, user.id)
    retain_until = add_years(last, rule.years) if last is not None else now
    for erase in personal_data.on_close().values():
        await erase(session, user.id)
    sessions_ended, tokens_revoked = await closing.close_user(session, actor, user)
    closure = AccountClosure(
        user_id=user.id,
        closed_at=now,
        last_transaction_at=last,
        retain_until=max(retain_until, now),
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    session.add(closure)
    await session.flush()
    await outbox.schedule(
        session,
        PurgeClosedAccount(user_id=user.id),
        closure.retain_until,
        dedupe_key=f"privacy.purge:{user.id}",
    )
    outbox.publish(
        session,
        AccountClosed(
            user_id=user.id,
            retain_until=closure.retain_until,
            rule_id=rule.rule_id,
            rule_version=rule.version,
        ),
    )
    audit.record(
        session,
        actor,
        "privacy.account_closed",
        target_type="user",
        target_id=user.id,
        user_id=user.id,
        last_transaction_at=last.isoformat() if last else None,
        retain_until=closure.retain_until.isoformat(),
        sessions_ended=sessions_ended,
        tokens_revoked=tokens_revoked,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return closure


# --- the end of retention ----------------------------------------------------------------


async def purge(session: AsyncSession, user_id: int) -> AccountClosure | None:
    """Run by the due job at `retain_until`: every domain erases what it kept only as part of
    the transaction records (`provide_on_purge`); the ended sessions and tokens go. The figures
    of orders, payments and the ledger stay (a merchant's books must still add up), tied to a
    user row that names nobody. Idempotent; a job that comes early waits for its time."""
    closure = await session.get(AccountClosure, user_id)
    if closure is None or closure.purged_at is not None:
        return closure
    now = clock.now()
    if now < closure.retain_until:
        await outbox.schedule(
            session,
            PurgeClosedAccount(user_id=user_id),
            closure.retain_until,
            dedupe_key=f"privacy.purge:{user_id}",
        )
        return closure
    for erase in personal_data.on_purge().values():
        await erase(session, user_id)
    await closing.forget_sessions(session, user_id)
    user = await session.get(User, user_id)
    if user is not None:
        user.created_at = closure.closed_at  # when they joined says something about them
    closure.purged_at = now
    outbox.publish(
        session,
        AccountPurged(user_id=user_id, rule_id=closure.rule_id, rule_version=closure.rule_version),
    )
    audit.record(
        session,
        Actor.for_system(),
        "privacy.account_purged",
        target_type="user",
        target_id=user_id,
        retain_until=closure.retain_until.isoformat(),
        rule_id=closure.rule_id,
        rule_version=closure.rule_version,
    )
    return closure


async def closure_of(session: AsyncSession, user_id: int) -> AccountClosure | None:
    return await session.get(AccountClosure, user_id)
