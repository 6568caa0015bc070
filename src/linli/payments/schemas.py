"""Payments API inputs and outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt

from linli.apitypes import MAX_ID
from linli.payments.reasons import RefundReason
from linli.schemas import OutputModel, StrictInput

Fen = Annotated[StrictInt, Field(ge=1, le=10**10, description="Amount in fen (1/100 yuan)")]
Key = Annotated[str, Field(min_length=1, max_length=80)]


class IntentIn(StrictInput):
    """A payment to a merchant that the resident starts themselves (purpose "direct")."""

    payee_organisation_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    amount_fen: Fen
    reference: Annotated[str, Field(min_length=1, max_length=80)]
    idempotency_key: Key


class RefundIn(StrictInput):
    amount_fen: Fen
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    idempotency_key: Key | None = None


class RefundOut(OutputModel):
    id: int
    public_id: str
    amount_fen: int
    reason: str
    reason_code: RefundReason = Field(description="Why the money went back")
    status: Literal["pending", "succeeded", "failed"]
    created_at: datetime
    completed_at: datetime | None


class IntentOut(OutputModel):
    public_id: str
    payer_user_id: int
    payee_organisation_id: int
    purpose: str
    reference: str
    amount_fen: int
    refunded_fen: int
    status: Literal["created", "succeeded", "cancelled", "expired"]
    provider: str
    provider_txn_id: str | None
    created_at: datetime
    expires_at: datetime
    succeeded_at: datetime | None
    closed_at: datetime | None
    checkout_url: str = Field(description="Where the payer goes to pay")
    refunds: list[RefundOut] = Field(default=[])


class CallbackAck(BaseModel):
    """The acknowledgement the provider expects (WeChat Pay style)."""

    code: str
    message: str


class TrialBalanceOut(OutputModel):
    accounts: dict[str, int] = Field(description="Account code -> balance in fen (debit > 0)")
    total: int = Field(description="Sum over all postings; always 0")


class AccountBalanceOut(BaseModel):
    code: str
    balance_fen: int = Field(description="Debits minus credits, in fen")


class MerchantBalanceOut(BaseModel):
    organisation_id: int
    payable_fen: int = Field(description="What the platform owes this merchant, in fen")


class CallbackOut(OutputModel):
    id: int
    provider: str
    received_at: datetime
    remote_addr: str | None
    signature_valid: bool
    outcome: str
    notification_id: str | None
    intent_public_id: str | None
    provider_txn_id: str | None
    amount_fen: int | None
