"""Payments' part of a resident's personal data (linli.personal_data, docs/privacy.md): the
payments they made and their refunds for the export; a refund still on its way keeps the
account open. Payments, refunds and the ledger are transaction records: never erased (the
books must add up), tied to a user row that names nobody once the account is closed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.i18n import N_, Message
from linli.payments.models import PaymentIntent, PaymentRefund, RefundStatus


async def export_payments(session: AsyncSession, user_id: int) -> list[dict[str, Any]]:
    intents = (
        await session.scalars(
            select(PaymentIntent)
            .where(PaymentIntent.payer_user_id == user_id)
            .order_by(PaymentIntent.id)
        )
    ).all()
    refunds = (
        await session.scalars(
            select(PaymentRefund)
            .join(PaymentIntent, PaymentIntent.id == PaymentRefund.intent_id)
            .where(PaymentIntent.payer_user_id == user_id)
            .order_by(PaymentRefund.id)
        )
    ).all()
    by_intent: dict[int, list[dict[str, Any]]] = {}
    for refund in refunds:
        by_intent.setdefault(refund.intent_id, []).append(
            {
                "public_id": refund.public_id,
                "amount_fen": refund.amount_fen,
                "reason_code": refund.reason_code,
                "reason": refund.reason,
                "status": refund.status,
                "created_at": refund.created_at,
                "completed_at": refund.completed_at,
            }
        )
    return [
        {
            "public_id": intent.public_id,
            "payee_organisation_id": intent.payee_organisation_id,
            "purpose": intent.purpose,
            "reference": intent.reference,
            "amount_fen": intent.amount_fen,
            "refunded_fen": intent.refunded_fen,
            "status": intent.status,
            "provider": intent.provider,
            "created_at": intent.created_at,
            "succeeded_at": intent.succeeded_at,
            "closed_at": intent.closed_at,
            "refunds": by_intent.get(intent.id, []),
        }
        for intent in intents
    ]


async def pending_refunds(session: AsyncSession, user_id: int) -> list[Message]:
    count = await session.scalar(
        select(func.count())
        .select_from(PaymentRefund)
        .join(PaymentIntent, PaymentIntent.id == PaymentRefund.intent_id)
        .where(
            PaymentIntent.payer_user_id == user_id,
            PaymentRefund.status == RefundStatus.PENDING,
        )
    )
    if not count:
        return []
    return [
        Message(
            N_("Refunds still on their way to you: {count}. Wait until they arrive."),
            {"count": count},
        )
    ]


async def last_payment(session: AsyncSession, user_id: int) -> datetime | None:
    paid = await session.scalar(
        select(func.max(func.coalesce(PaymentIntent.closed_at, PaymentIntent.succeeded_at))).where(
            PaymentIntent.payer_user_id == user_id
        )
    )
    refunded = await session.scalar(
        select(func.max(PaymentRefund.completed_at))
        .join(PaymentIntent, PaymentIntent.id == PaymentRefund.intent_id)
        .where(PaymentIntent.payer_user_id == user_id)
    )
    return max((m for m in (paid, refunded) if m is not None), default=None)


personal_data.provide_export_section("payments", export_payments)
personal_data.provide_open_obligations("payments", pending_refunds)
personal_data.provide_last_transaction("payments", last_payment)
