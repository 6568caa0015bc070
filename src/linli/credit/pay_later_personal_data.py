"""Pay later's part of a resident's personal data (docs/privacy.md): the facility, every
bill with its charges in the export (section `pay_later`); an unpaid bill keeps the account
open (money is owed); the last bill paid, or charge made, is a transaction record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.credit import pay_later
from linli.credit.pay_later_models import PayLaterBill, PayLaterCharge
from linli.i18n import N_, Message
from linli.money import format_fen


async def export_pay_later(session: AsyncSession, user_id: int) -> dict[str, Any]:
    account = await pay_later.account_of(session, user_id)
    bills = await pay_later.bills_of(session, user_id)
    return {
        "account": None
        if account is None
        else {
            "state": account.state,
            "limit_fen": account.limit_fen,
            "used_fen": account.used_fen,
            "opened_at": account.opened_at,
            "suspended_at": account.suspended_at,
            "rule_version": account.rule_version,
        },
        "bills": [
            {
                "period": b.bill.period,
                "due_date": b.bill.due_date,
                "status": b.bill.status,
                "amount_fen": b.bill.amount_fen,
                "paid_fen": b.bill.paid_fen,
                "paid_at": b.bill.paid_at,
                "overdue_marked_at": b.bill.overdue_marked_at,
                "charges": [
                    {
                        "purpose": c.purpose,
                        "reference": c.reference,
                        "amount_fen": c.amount_fen,
                        "refunded_fen": c.refunded_fen,
                        "created_at": c.created_at,
                    }
                    for c in b.charges
                ],
            }
            for b in bills
        ],
    }


async def unpaid(session: AsyncSession, user_id: int) -> list[Message]:
    return [
        Message(
            N_("A pay-later bill for {period} has {amount} left to pay."),
            {"period": b.period, "amount": format_fen(pay_later.outstanding(b))},
        )
        for b in await pay_later.unpaid_bills(session, user_id)
    ]


async def last_bill(session: AsyncSession, user_id: int) -> datetime | None:
    paid = await session.scalar(
        select(func.max(PayLaterBill.paid_at)).where(PayLaterBill.user_id == user_id)
    )
    charged = await session.scalar(
        select(func.max(PayLaterCharge.created_at)).where(PayLaterCharge.user_id == user_id)
    )
    moments = [m for m in (paid, charged) if m is not None]
    return max(moments, default=None)


personal_data.provide_export_section("pay_later", export_pay_later)
personal_data.provide_open_obligations("pay_later", unpaid)
personal_data.provide_last_transaction("pay_later", last_bill)
