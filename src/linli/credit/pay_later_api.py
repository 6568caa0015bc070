"""JSON routes of pick up first, pay later (residents only, scope `resident`): my facility
and bills, opening it, paying a bill. Another resident's bill answers 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from linli.apitypes import PathId
from linli.authz import Actor, require_scope
from linli.credit import pay_later
from linli.credit.pay_later_schemas import BillOut, BillPaymentOut, ChargeOut, FacilityOut
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.payments import providers

router = APIRouter(prefix="/api/v1/credit/pay-later", tags=["credit"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]


def present_bill(view: pay_later.BillView) -> BillOut:
    return BillOut.from_row(
        view.bill,
        outstanding_fen=view.outstanding_fen,
        charges=[ChargeOut.model_validate(c) for c in view.charges],
    )


def present_facility(facility: pay_later.Facility) -> FacilityOut:
    q, account = facility.qualification, facility.account
    return FacilityOut(
        opened=account is not None,
        state=account.state if account is not None else None,
        score=q.score,
        grade=q.grade,
        min_grade=q.min_grade,
        qualifies=q.qualifies,
        limit_fen=q.limit_fen,
        used_fen=account.used_fen if account is not None else 0,
        available_fen=facility.available_fen,
        rule_version=q.rule.version,
        bills=[present_bill(b) for b in facility.bills],
    )


@router.get("", summary="My pay-later facility: limit, available, bills")
async def my_facility(session: DbSession, actor: Resident) -> FacilityOut:
    return present_facility(await pay_later.my_facility(session, actor))


@router.post("/open", summary="Open pick up first, pay later (needs the rule's grade)")
async def open_facility(session: DbSession, actor: Resident) -> FacilityOut:
    await pay_later.open_facility(session, actor)
    await session.flush()
    return present_facility(await pay_later.my_facility(session, actor))


@router.get("/bills/{bill_id}", summary="One of my bills with its charges")
async def my_bill(session: DbSession, actor: Resident, bill_id: PathId) -> BillOut:
    bill = await pay_later.access_bill(session, actor, bill_id)
    facility = await pay_later.my_facility(session, actor)
    (view,) = [b for b in facility.bills if b.bill.id == bill.id]
    return present_bill(view)


@router.post(
    "/bills/{bill_id}/pay",
    summary="Pay what is left of my bill: a payment to complete at its pay_url",
)
async def pay_bill(
    request: Request, session: DbSession, actor: Resident, bill_id: PathId
) -> BillPaymentOut:
    intent = await pay_later.pay_bill(session, actor, bill_id, request.app.state.settings)
    return BillPaymentOut(
        public_id=intent.public_id,
        amount_fen=intent.amount_fen,
        status=intent.status,
        pay_url=providers.get(intent.provider).checkout_url(intent),
    )
