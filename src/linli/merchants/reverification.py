"""Periodic re-verification: the due job, pausing listings when it is overdue, a reviewer
confirming the qualifications again, and the licences that lapse before long."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import PLATFORM_REVIEW, Actor, ensure
from linli.categories import negative_list
from linli.errors import ValidationFailed
from linli.events import MerchantListingsPaused, MerchantReverified
from linli.i18n import N_, Message
from linli.jobs import ReverificationDue
from linli.merchants.dates import add_months, local_today
from linli.merchants.licences import LICENCE_LABELS, organisation_licences, valid_on
from linli.merchants.models import Licence, MerchantProfile
from linli.merchants.profiles import profile
from linli.rules import service as rules

REVERIFICATION = "merchant.reverification"
REVERIFY_JOB = ReverificationDue.job_kind


async def schedule_reverification(
    session: AsyncSession, organisation_id: int, due: datetime
) -> None:
    key = f"{REVERIFY_JOB}:{organisation_id}"
    from linli.outbox import DueJob  # the pending job, if any, moves to the new date

    pending = await session.scalar(
        select(DueJob).where(DueJob.dedupe_key == key, DueJob.status == outbox.PENDING)
    )
    if pending is not None:
        pending.due_at = due
        return
    await outbox.schedule(
        session, ReverificationDue(organisation_id=organisation_id), due, dedupe_key=key
    )


async def pause_if_overdue(session: AsyncSession, organisation_id: int) -> bool:
    """The re-verification job: pause listings when re-verification is overdue."""
    row = await session.get(MerchantProfile, organisation_id)
    if row is None or row.listings_paused or row.next_verification_due > clock.now():
        return False
    row.listings_paused = True
    row.paused_reason = "reverification_overdue"
    rule = await rules.in_force(session, REVERIFICATION)
    outbox.publish(
        session,
        MerchantListingsPaused(organisation_id=organisation_id, reason="reverification_overdue"),
    )
    audit.record(
        session,
        Actor.for_system(),
        "merchants.listings_paused",
        target_type="organisation",
        target_id=organisation_id,
        organisation_id=organisation_id,
        reason="reverification_overdue",
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return True


async def reverify(
    session: AsyncSession, actor: Actor, organisation_id: int, *, note: str | None
) -> MerchantProfile:
    """A reviewer confirms the qualifications again; refused while a needed licence lapsed."""
    ensure(actor, PLATFORM_REVIEW)
    row = await profile(session, organisation_id)
    scope = (await negative_list.for_organisation(session, organisation_id)).check_scope(
        row.business_scope
    )
    held = await organisation_licences(session, organisation_id)
    today = local_today()
    valid_kinds = {lic.licence_type for lic in held if valid_on(lic, today)}
    missing = sorted(({"business_licence"} | set(scope.licences_needed)) - valid_kinds)
    if missing:
        raise ValidationFailed(
            N_("Cannot re-verify: no valid {licences} on file. Ask the merchant to add one."),
            licences=", ".join(Message(LICENCE_LABELS.get(m, m)).render() for m in missing),
            code="licence_missing",
        )
    rule = await rules.in_force(session, REVERIFICATION)
    now = clock.now()
    row.verified_at = now
    row.next_verification_due = add_months(now, int(rule.values["interval_months"]))
    if row.paused_reason == "reverification_overdue":
        row.listings_paused = False
        row.paused_reason = None
    await schedule_reverification(session, organisation_id, row.next_verification_due)
    outbox.publish(
        session,
        MerchantReverified(
            organisation_id=organisation_id, next_due=row.next_verification_due.isoformat()
        ),
    )
    audit.record(
        session,
        actor,
        "merchants.reverified",
        target_type="organisation",
        target_id=organisation_id,
        organisation_id=organisation_id,
        note=note,
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    return row


async def expiring_licences(
    session: AsyncSession, organisation_id: int
) -> list[tuple[Licence, int]]:
    """Licences that lapse within the warning window, with the days left (negative: lapsed)."""
    rule = await rules.in_force(session, REVERIFICATION)
    window = int(rule.values.get("licence_warning_days", 30))
    today = local_today()
    return [
        (lic, (lic.valid_to - today).days)
        for lic in await organisation_licences(session, organisation_id)
        if lic.valid_to - today <= timedelta(days=window)
    ]
