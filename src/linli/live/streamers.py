"""Streamers: real-name verified accounts of a merchant, at least 16 years old (16-17 with a
recorded guardian consent), suspended by the platform, and barred for good by identity.

The identity card number is checked (GB 11643-1999 check character, a real birth date) and
stored only as an HMAC-SHA256 digest under the deployment's secret and its last 4 characters,
so a new account with the same identity is recognised (the blacklist) without the number
being kept.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Membership
from linli.audit import service as audit
from linli.authz import LIVE_READ, LIVE_STREAMERS_MANAGE, PLATFORM_LIVE, Actor, ensure
from linli.community import points
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_
from linli.live.models import BlacklistedIdentity, Streamer
from linli.live.policies import acting_merchant
from linli.live.schemas import LeaderStreamerIn, StreamerIn
from linli.live.states import StreamerStatus
from linli.rules import service as rules

RULE = "live.commerce"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def birth_date_of(number: str) -> date | None:
    """The birth date an 18-character identity card number holds, or None when the number is
    not valid (wrong check character, impossible date)."""
    number = number.upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return None
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != number[17]:
        return None
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def identity_digest(number: str, key: str) -> str:
    return hmac.new(key.encode(), number.upper().encode(), hashlib.sha256).hexdigest()


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def today() -> date:
    return clock.now().astimezone(clock.LOCAL).date()


async def age_problem(session: AsyncSession, streamer: Streamer) -> str | None:
    """Why the streamer may not stream today by the rule in force (None: they may)."""
    rule = await rules.in_force(session, RULE)
    age = age_on(streamer.birth_date, today())
    if age < int(rule.values["min_age"]):
        return "too_young"
    if age < int(rule.values["guardian_consent_below"]) and streamer.guardian_consent_at is None:
        return "guardian_consent_missing"
    return None


async def is_blacklisted(session: AsyncSession, digest: str) -> bool:
    found = await session.scalar(
        select(BlacklistedIdentity.identity_digest).where(
            BlacklistedIdentity.identity_digest == digest
        )
    )
    return found is not None


@dataclass(frozen=True)
class _Checked:
    birth: date
    digest: str
    consent_at: datetime | None
    rule: rules.Rule


async def _check_identity(
    session: AsyncSession, data: StreamerIn | LeaderStreamerIn, identity_key: str
) -> _Checked:
    """The same checks for every streamer: a valid identity card number, the minimum age,
    the guardian's consent below 18, not blacklisted."""
    birth = birth_date_of(data.identity_number)
    if birth is None:
        raise ValidationFailed(
            N_("Check the streamer."),
            fields={"identity_number": N_("Not a valid identity card number.")},
            code="identity_invalid",
        )
    rule = await rules.in_force(session, RULE)
    age = age_on(birth, today())
    if age < int(rule.values["min_age"]):
        raise Conflict(
            N_("Streamers must be at least {age} years old."),
            age=int(rule.values["min_age"]),
            code="streamer_too_young",
        )
    consent_at = None
    if age < int(rule.values["guardian_consent_below"]):
        if not (data.guardian_consent and data.guardian_name):
            raise ValidationFailed(
                N_("A streamer under 18 needs a guardian's recorded consent."),
                fields={"guardian_consent": N_("Record the guardian and their consent.")},
                code="guardian_consent_missing",
            )
        consent_at = clock.now()
    digest = identity_digest(data.identity_number, identity_key)
    if await is_blacklisted(session, digest):
        raise Conflict(
            N_("This person is barred from live streaming on the platform."),
            code="streamer_blacklisted",
        )
    return _Checked(birth, digest, consent_at, rule)


async def register(
    session: AsyncSession, actor: Actor, data: StreamerIn, *, identity_key: str
) -> Streamer:
    """The owner records a member of the organisation as a real-name verified streamer."""
    organisation_id = acting_merchant(actor, LIVE_STREAMERS_MANAGE)
    member = await session.scalar(
        select(Membership.id).where(
            Membership.user_id == data.user_id, Membership.organisation_id == organisation_id
        )
    )
    if member is None:
        raise ValidationFailed(
            N_("Check the streamer."),
            fields={"user_id": N_("Choose a member of your organisation.")},
        )
    checked = await _check_identity(session, data, identity_key)
    birth, digest, consent_at, rule = (
        checked.birth,
        checked.digest,
        checked.consent_at,
        checked.rule,
    )
    existing = await session.scalar(
        select(Streamer.id).where(
            Streamer.organisation_id == organisation_id, Streamer.user_id == data.user_id
        )
    )
    if existing is not None:
        raise Conflict(N_("This member is a streamer already."), code="streamer_exists")
    streamer = Streamer(
        organisation_id=organisation_id,
        user_id=data.user_id,
        real_name=data.real_name,
        identity_digest=digest,
        identity_hint=data.identity_number[-4:].upper(),
        birth_date=birth,
        guardian_name=data.guardian_name if consent_at else None,
        guardian_consent_at=consent_at,
        status=StreamerStatus.ACTIVE,
        rule_version=rule.version,
        verified_at=clock.now(),
        verified_by_user_id=actor.user_id,
    )
    session.add(streamer)
    await session.flush()
    audit.record(
        session,
        actor,
        "live.streamer_registered",
        target_type="live_streamer",
        target_id=streamer.id,
        user=data.user_id,
        minor=consent_at is not None,
        rule_version=rule.version,
    )
    return streamer


async def register_leader(
    session: AsyncSession, actor: Actor, data: LeaderStreamerIn, *, identity_key: str
) -> Streamer:
    """A group leader (an active leader of a pickup point, else 404) registers themselves as
    a streamer for their point's rooms, under the same checks (real name, identity card, age,
    guardian consent, blacklist); the record has no organisation."""
    user_id = actor.require_user_id()
    if not await points.points_led_by(session, user_id):
        raise NotFound(N_("No such pickup point."), code="point_not_found")
    checked = await _check_identity(session, data, identity_key)
    existing = await session.scalar(
        select(Streamer.id).where(Streamer.user_id == user_id, Streamer.organisation_id.is_(None))
    )
    if existing is not None:
        raise Conflict(N_("You are a streamer already."), code="streamer_exists")
    streamer = Streamer(
        organisation_id=None,
        user_id=user_id,
        real_name=data.real_name,
        identity_digest=checked.digest,
        identity_hint=data.identity_number[-4:].upper(),
        birth_date=checked.birth,
        guardian_name=data.guardian_name if checked.consent_at else None,
        guardian_consent_at=checked.consent_at,
        status=StreamerStatus.ACTIVE,
        rule_version=checked.rule.version,
        verified_at=clock.now(),
        verified_by_user_id=user_id,
    )
    try:
        async with session.begin_nested():
            session.add(streamer)
            await session.flush()
    except IntegrityError:  # a concurrent registration of the same leader won
        raise Conflict(N_("You are a streamer already."), code="streamer_exists") from None
    audit.record(
        session,
        actor,
        "live.streamer_registered",
        target_type="live_streamer",
        target_id=streamer.id,
        user=user_id,
        leader=True,
        minor=checked.consent_at is not None,
        rule_version=checked.rule.version,
    )
    return streamer


async def leader_streamer(session: AsyncSession, actor: Actor) -> Streamer | None:
    """The acting group leader's own streamer record, if any."""
    return await session.scalar(
        select(Streamer).where(
            Streamer.user_id == actor.require_user_id(), Streamer.organisation_id.is_(None)
        )
    )


async def own_streamers(session: AsyncSession, actor: Actor) -> Sequence[Streamer]:
    organisation_id = acting_merchant(actor, LIVE_READ)
    return (
        await session.scalars(
            select(Streamer)
            .where(Streamer.organisation_id == organisation_id)
            .order_by(Streamer.id)
        )
    ).all()


async def _platform_streamer(session: AsyncSession, actor: Actor, streamer_id: int) -> Streamer:
    ensure(actor, PLATFORM_LIVE)
    streamer = await session.get(Streamer, streamer_id, populate_existing=True)
    if streamer is None:
        raise NotFound(N_("No such streamer."), code="streamer_not_found")
    return streamer


async def suspend(session: AsyncSession, actor: Actor, streamer_id: int, reason: str) -> Streamer:
    """The platform suspends a streamer (their rooms cannot go live)."""
    streamer = await _platform_streamer(session, actor, streamer_id)
    streamer.status = StreamerStatus.SUSPENDED
    streamer.suspended_reason = reason
    await session.flush()
    audit.record(
        session,
        actor,
        "live.streamer_suspended",
        target_type="live_streamer",
        target_id=streamer.id,
        organisation_id=streamer.organisation_id,
        reason=reason,
    )
    return streamer


async def blacklist(session: AsyncSession, actor: Actor, streamer_id: int, reason: str) -> Streamer:
    """The platform bars the streamer's identity: every account with it is suspended, and no
    new one can be registered."""
    streamer = await _platform_streamer(session, actor, streamer_id)
    if not await is_blacklisted(session, streamer.identity_digest):
        session.add(
            BlacklistedIdentity(
                identity_digest=streamer.identity_digest,
                reason=reason,
                created_at=clock.now(),
                created_by_user_id=actor.user_id,
            )
        )
    await session.execute(
        update(Streamer)
        .where(Streamer.identity_digest == streamer.identity_digest)
        .values(status=StreamerStatus.SUSPENDED, suspended_reason=reason)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await session.refresh(streamer)
    audit.record(
        session,
        actor,
        "live.streamer_blacklisted",
        target_type="live_streamer",
        target_id=streamer.id,
        organisation_id=streamer.organisation_id,
        reason=reason,
    )
    return streamer
