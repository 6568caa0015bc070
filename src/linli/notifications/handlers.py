"""Inbox messages in answer to domain events."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import MembershipGranted, UserSignedUp
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
