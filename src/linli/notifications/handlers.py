"""Inbox messages in answer to domain events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.accounts.models import Membership
from linli.events import (
    CertificationDecided,
    LeaderApplicationDecided,
    MembershipGranted,
    MerchantApplicationDecided,
    MerchantListingsPaused,
    UserSignedUp,
)
from linli.i18n import N_
from linli.notifications.service import notify


@outbox.subscribe(UserSignedUp, "notifications.welcome")
async def welcome(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, UserSignedUp)
    notify(
        session,
        event.user_id,
        "welcome",
        title=N_("Welcome to Linli"),
        body=N_("Join your community to see today's group buys and pick up from your leader."),
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(MembershipGranted, "notifications.role_granted")
async def role_granted(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, MembershipGranted)
    notify(
        session,
        event.user_id,
        "role_granted",
        title=N_("You have a new role"),
        body=N_("You can now act as {role} for organisation #{organisation_id}."),
        params={"role": event.role, "organisation_id": event.organisation_id},
        link="/account",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(MerchantApplicationDecided, "notifications.merchant_application_decided")
async def merchant_application_decided(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, MerchantApplicationDecided)
    if event.approved:
        notify(
            session,
            event.applicant_user_id,
            "merchant_approved",
            title=N_("Your merchant application is approved"),
            body=N_("Switch to your new organisation under Account to list products."),
            link="/account",
            source_event_id=envelope.event_id,
        )
    else:
        notify(
            session,
            event.applicant_user_id,
            "merchant_rejected",
            title=N_("Your merchant application was not approved"),
            body=N_("Reason: {reason}"),
            params={"reason": event.reason or ""},
            link="/merchants/applications",
            source_event_id=envelope.event_id,
        )


async def _notify_owners(
    session: AsyncSession,
    organisation_id: int,
    kind: str,
    *,
    title: str,
    body: str,
    params: dict[str, Any],
    link: str,
    event_id: str,
) -> None:
    owners = await session.scalars(
        select(Membership.user_id).where(
            Membership.organisation_id == organisation_id, Membership.role == "owner"
        )
    )
    for user_id in owners:
        notify(
            session,
            user_id,
            kind,
            title=title,
            body=body,
            params=params,
            link=link,
            source_event_id=event_id,
        )


@outbox.subscribe(MerchantListingsPaused, "notifications.listings_paused")
async def listings_paused(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, MerchantListingsPaused)
    await _notify_owners(
        session,
        event.organisation_id,
        "listings_paused",
        title=N_("Your listings are paused"),
        body=N_(
            "Your qualifications are due for re-verification. Renew your licences so the "
            "platform can re-verify you."
        ),
        params={},
        link="/merchant",
        event_id=envelope.event_id,
    )


@outbox.subscribe(CertificationDecided, "notifications.certification_decided")
async def certification_decided(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, CertificationDecided)
    titles = {
        "approved": N_("Your 'three same' certification is approved"),
        "rejected": N_("Your 'three same' certification was not approved"),
        "revoked": N_("Your 'three same' certification was revoked"),
    }
    await _notify_owners(
        session,
        event.organisation_id,
        f"certification_{event.status}",
        title=titles[event.status],
        body=N_("Reason: {reason}")
        if event.reason
        else N_("Your export-quality products now carry the badge."),
        params={"reason": event.reason or ""},
        link="/merchant",
        event_id=envelope.event_id,
    )


@outbox.subscribe(LeaderApplicationDecided, "notifications.leader_application_decided")
async def leader_application_decided(session: AsyncSession, envelope: outbox.Envelope) -> None:
    event = envelope.payload
    assert isinstance(event, LeaderApplicationDecided)
    if event.approved:
        notify(
            session,
            event.user_id,
            "leader_approved",
            title=N_("You are now a group leader"),
            body=N_("Your pickup point is open. Residents can choose it from today."),
            link="/leader",
            source_event_id=envelope.event_id,
        )
    else:
        notify(
            session,
            event.user_id,
            "leader_rejected",
            title=N_("Your group-leader application was not approved"),
            body=N_("Reason: {reason}"),
            params={"reason": event.reason or ""},
            link="/leaders/apply",
            source_event_id=envelope.event_id,
        )
