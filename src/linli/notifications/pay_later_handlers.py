"""Inbox messages for pick up first, pay later: a bill due soon, a bill overdue (the facility
suspended), a bill paid."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.events import PayLaterBillDueSoon, PayLaterBillOverdue, PayLaterBillRepaid
from linli.i18n import N_
from linli.money import format_fen
from linli.notifications.service import notify

PAGE = "/credit/pay-later"


@outbox.subscribe(PayLaterBillDueSoon, "notifications.pay_later_due_soon")
async def due_soon(session: AsyncSession, envelope: outbox.Envelope[PayLaterBillDueSoon]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "pay_later_due_soon",
        title=N_("Your pay-later bill is due soon"),
        body=N_("Your bill for {period} of {amount} is due on {due_date}."),
        params={
            "period": event.period,
            "amount": format_fen(event.amount_due_fen),
            "due_date": event.due_date,
        },
        link=PAGE,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(PayLaterBillOverdue, "notifications.pay_later_overdue")
async def overdue(session: AsyncSession, envelope: outbox.Envelope[PayLaterBillOverdue]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "pay_later_overdue",
        title=N_("Your pay-later bill is overdue"),
        body=N_(
            "Your bill for {period} of {amount} was due on {due_date}. Pay later is suspended "
            "until it is paid, and the overdue bill lowers your credit score."
        ),
        params={
            "period": event.period,
            "amount": format_fen(event.amount_due_fen),
            "due_date": event.due_date,
        },
        link=PAGE,
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(PayLaterBillRepaid, "notifications.pay_later_repaid")
async def repaid(session: AsyncSession, envelope: outbox.Envelope[PayLaterBillRepaid]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "pay_later_repaid",
        title=N_("Your pay-later bill is paid"),
        body=N_("Your bill for {period} of {amount} is paid. Thank you."),
        params={"period": event.period, "amount": format_fen(event.amount_fen)},
        link=PAGE,
        source_event_id=envelope.event_id,
    )
