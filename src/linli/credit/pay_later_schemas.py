"""The pay-later API's contract (docs/pay-later.md)."""

from __future__ import annotations

from datetime import datetime

from linli.schemas import OutputModel


class ChargeOut(OutputModel):
    id: int
    purpose: str
    reference: str
    amount_fen: int
    refunded_fen: int
    created_at: datetime


class BillOut(OutputModel):
    id: int
    period: str
    due_date: str
    status: str
    amount_fen: int
    paid_fen: int
    outstanding_fen: int
    overdue_at: datetime
    paid_at: datetime | None
    charges: list[ChargeOut]


class FacilityOut(OutputModel):
    opened: bool
    state: str | None  # active, suspended; None before opening
    score: int
    grade: str
    min_grade: str
    qualifies: bool
    limit_fen: int  # from the score now (0 when the grade is below the minimum)
    used_fen: int
    available_fen: int
    rule_version: int
    bills: list[BillOut]


class BillPaymentOut(OutputModel):
    public_id: str
    amount_fen: int
    status: str
    pay_url: str
