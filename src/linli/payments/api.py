"""JSON routes for payments under /api/v1/payments: intents, refunds, the provider
callback, and the ledger for operators and merchants."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from linli.apitypes import PageSize
from linli.authz import (
    PAYMENTS_READ,
    PLATFORM_AUDIT_READ,
    PLATFORM_PAYMENTS_REFUND,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.lean import LeanAnswer, LeanCall, lean_route
from linli.payments import providers, service
from linli.payments.models import PaymentIntent
from linli.payments.reasons import RefundReason
from linli.payments.schemas import (
    AccountBalanceOut,
    CallbackAck,
    CallbackOut,
    IntentIn,
    IntentOut,
    MerchantBalanceOut,
    RefundIn,
    RefundOut,
    TrialBalanceOut,
)

router = APIRouter(prefix="/api/v1/payments", tags=["payments"], responses=ERROR_RESPONSES)

Resident = Annotated[Actor, Depends(require_scope("resident"))]
IntentReader = Annotated[Actor, Depends(require_scope("resident", "org:read", "platform"))]
Refunder = Annotated[Actor, Depends(require_scope("org:write", "platform"))]
Auditor = Annotated[Actor, Depends(require(PLATFORM_AUDIT_READ))]
Reader = Annotated[Actor, Depends(require(PAYMENTS_READ))]
PublicId = Annotated[uuid.UUID, Path(description="The payment's public id")]
AccountCode = Annotated[
    str, Path(max_length=100, pattern=r"^[a-z0-9:_]+$", description="Ledger account code")
]


async def present_intent(
    session: AsyncSession, intent: PaymentIntent, *, with_refunds: bool = True
) -> IntentOut:
    """The intent, the provider's checkout URL and (unless told not to) its refunds."""
    refunds = await service.refunds_of(session, intent.id) if with_refunds else []
    return IntentOut.from_row(
        intent, checkout_url=providers.get(intent.provider).checkout_url(intent), refunds=refunds
    )


@router.post("/intents", status_code=201, summary="Start a payment to a merchant (idempotent)")
async def create_intent(body: IntentIn, session: DbSession, actor: Resident) -> IntentOut:
    intent = await service.create_intent(
        session,
        actor,
        payee_organisation_id=body.payee_organisation_id,
        purpose=service.DIRECT,
        reference=body.reference,
        amount_fen=body.amount_fen,
        idempotency_key=body.idempotency_key,
    )
    return await present_intent(session, intent)


@router.get("/intents", summary="My payments, newest first")
async def my_intents(
    session: DbSession, actor: IntentReader, limit: PageSize = 50
) -> list[IntentOut]:
    rows = await service.my_intents(session, actor, limit=limit)
    return [await present_intent(session, row, with_refunds=False) for row in rows]


@router.get("/intents/{public_id}", summary="One payment (its payer, the payee, auditors)")
async def get_intent(public_id: PublicId, session: DbSession, actor: IntentReader) -> IntentOut:
    return await present_intent(
        session, await service.access_intent(session, actor, str(public_id))
    )


@router.post("/intents/{public_id}/cancel", summary="Cancel my unpaid payment")
async def cancel_intent(public_id: PublicId, session: DbSession, actor: Resident) -> IntentOut:
    intent = await service.access_intent(session, actor, str(public_id))
    return await present_intent(session, await service.cancel_intent(session, actor, intent.id))


@router.post(
    "/intents/{public_id}/refunds",
    status_code=201,
    summary="Refund part or all of a payment (the payee merchant's owner, platform admins)",
)
async def refund(
    public_id: PublicId, body: RefundIn, session: DbSession, actor: Refunder
) -> RefundOut:
    intent = await service.access_intent(session, actor, str(public_id))
    row = await service.refund(
        session,
        actor,
        intent.id,
        body.amount_fen,
        body.reason,
        reason_code=RefundReason.PLATFORM_DECISION
        if actor.has(PLATFORM_PAYMENTS_REFUND)
        else RefundReason.MERCHANT_DECISION,
        idempotency_key=body.idempotency_key,
    )
    return RefundOut.model_validate(row)


@router.post(
    providers.CALLBACK_PATH.removeprefix("/api/v1/payments"),
    summary="Payment notification from the sandbox provider (signed; no login)",
    responses={200: {"model": CallbackAck, "description": "Accepted, or already had it"}},
)
async def sandbox_callback(request: Request, session: DbSession) -> CallbackAck:
    result = await service.receive_callback(
        session,
        providers.SANDBOX,
        headers=request.headers,
        body=await request.body(),
        settings=request.app.state.settings,
        remote_addr=request.client.host if request.client else None,
        batch_size=request.app.state.settings.callback_batch_size,
    )
    return CallbackAck.model_validate(result.acknowledgement)


@lean_route("POST", providers.CALLBACK_PATH)
async def sandbox_callback_lean(call: LeanCall) -> LeanAnswer:
    """`sandbox_callback` served lean (linli.lean): the same checks and answer."""
    request = call.request
    result = await service.receive_callback(
        await call.session(),
        providers.SANDBOX,
        headers=request.headers,
        body=await request.body(),
        settings=request.app.state.settings,
        remote_addr=request.client.host if request.client else None,
        batch_size=request.app.state.settings.callback_batch_size,
    )
    return call.json(200, CallbackAck.model_validate(result.acknowledgement))


@router.get("/ledger/trial-balance", summary="Every account's balance; they sum to 0")
async def trial_balance(session: DbSession, actor: Auditor) -> TrialBalanceOut:
    result = await service.trial_balance(session, actor)
    return TrialBalanceOut.model_validate(result)


@router.get("/ledger/accounts/{code}", summary="One ledger account's balance (platform)")
async def account_balance(
    code: AccountCode, session: DbSession, actor: Auditor
) -> AccountBalanceOut:
    return AccountBalanceOut(
        code=code, balance_fen=await service.account_balance(session, actor, code)
    )


@router.get("/merchant/balance", summary="What the platform owes my merchant organisation")
async def merchant_balance(session: DbSession, actor: Reader) -> MerchantBalanceOut:
    organisation_id, owed = await service.merchant_payable(session, actor)
    return MerchantBalanceOut(organisation_id=organisation_id, payable_fen=owed)


@router.get("/callbacks", summary="Provider notifications received, newest first (platform)")
async def list_callbacks(
    session: DbSession,
    actor: Auditor,
    outcome: Annotated[str | None, Query(max_length=30, pattern=r"^[a-z_]+$")] = None,
    limit: PageSize = 50,
) -> list[CallbackOut]:
    rows = await service.callbacks(session, actor, outcome=outcome, limit=limit)
    return [CallbackOut.model_validate(r) for r in rows]
