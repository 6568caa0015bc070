"""Pay later's subscribers (docs/pay-later.md): bill repayments and order refunds from
payments, the credit records of repaid and overdue bills, and the bills' due jobs. Kept apart
from `credit.handlers` (the general ledger subscriptions) so each can change on its own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.credit import pay_later
from linli.credit.ledger import Entry, append
from linli.credit.models import RecordKind, SubjectKind
from linli.events import PayLaterBillOverdue, PayLaterBillRepaid, PaymentRefunded, PaymentSucceeded
from linli.jobs import PayLaterOverdueCheck, PayLaterReminder


@outbox.subscribe(PaymentSucceeded, "credit.pay_later_repayment", batch_safe=True)
async def bill_paid(session: AsyncSession, envelope: outbox.Envelope[PaymentSucceeded]) -> None:
    event = envelope.payload
    if event.purpose != pay_later.BILL_PURPOSE or not event.reference.isdigit():
        return
    await pay_later.apply_repayment(
        session,
        bill_id=int(event.reference),
        intent_public_id=event.public_id,
        amount_fen=event.amount_fen,
        paid_at=envelope.created_at,
    )


@outbox.subscribe(PaymentRefunded, "credit.pay_later_refund")
async def order_refunded(session: AsyncSession, envelope: outbox.Envelope[PaymentRefunded]) -> None:
    event = envelope.payload
    await pay_later.apply_refund(session, intent_id=event.intent_id, amount_fen=event.amount_fen)


@outbox.subscribe(PayLaterBillRepaid, "credit.pay_later_repaid")
async def repaid(session: AsyncSession, envelope: outbox.Envelope[PayLaterBillRepaid]) -> None:
    """A bill paid in full by its due date is a small credit; paid late, nothing more (the
    overdue record stands)."""
    event = envelope.payload
    if not event.on_time:
        return
    await append(
        session,
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        occurred_at=envelope.created_at,
        entries=[
            Entry(
                SubjectKind.RESIDENT,
                event.user_id,
                RecordKind.PAY_LATER_REPAID,
                f"bill:{event.bill_id}",
            )
        ],
    )


@outbox.subscribe(PayLaterBillOverdue, "credit.pay_later_overdue")
async def overdue(session: AsyncSession, envelope: outbox.Envelope[PayLaterBillOverdue]) -> None:
    event = envelope.payload
    await append(
        session,
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        occurred_at=envelope.created_at,
        entries=[
            Entry(
                SubjectKind.RESIDENT,
                event.user_id,
                RecordKind.PAY_LATER_OVERDUE,
                f"bill:{event.bill_id}",
            )
        ],
    )


@outbox.job(PayLaterReminder)
async def reminder_due(session: AsyncSession, job: PayLaterReminder) -> None:
    await pay_later.remind(session, job.bill_id)


@outbox.job(PayLaterOverdueCheck)
async def overdue_due(session: AsyncSession, job: PayLaterOverdueCheck) -> None:
    await pay_later.mark_overdue(session, job.bill_id)
