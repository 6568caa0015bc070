"""JSON routes of credit: read only. Scores are written by event handlers alone; no route
here (or anywhere) writes one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from linli.apitypes import PathId
from linli.authz import CREDIT_READ, REGULATOR_CREDIT_READ, Actor, require, require_scope
from linli.credit import risk, views
from linli.credit.presenters import present_credit, present_public, present_risk
from linli.credit.risk import DeskSort
from linli.credit.schemas import MyCreditOut, PublicCreditOut, RiskRowOut, SearchText
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/credit", tags=["credit"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
Merchant = Annotated[Actor, Depends(require(CREDIT_READ))]
Regulator = Annotated[Actor, Depends(require(REGULATOR_CREDIT_READ))]


@router.get("/me", summary="My credit as a resident: score, grade, explanation")
async def my_credit(session: DbSession, actor: Resident) -> MyCreditOut:
    return present_credit(await views.resident_credit(session, actor))


@router.get("/leader", summary="My credit as a group leader")
async def leader_credit(session: DbSession, actor: Leader) -> MyCreditOut:
    return present_credit(await views.leader_credit(session, actor))


@router.get("/merchant", summary="My organisation's credit (merchant)")
async def merchant_credit(session: DbSession, actor: Merchant) -> MyCreditOut:
    return present_credit(await views.merchant_credit(session, actor))


@router.get(
    "/regulator/merchants",
    summary="Merchants in my jurisdiction with their risk classes (regulators only)",
)
async def credit_desk(
    session: DbSession, actor: Regulator, sort: DeskSort = DeskSort.RISK
) -> list[RiskRowOut]:
    return [present_risk(row) for row in await risk.credit_desk(session, actor, sort)]


@router.get("/public", summary="Public credit query: verified merchants by name or credit code")
async def public_query(session: DbSession, q: SearchText) -> list[PublicCreditOut]:
    return [present_public(c) for c in await views.public_search(session, q)]


@router.get("/public/{organisation_id}", summary="One verified merchant's public credit")
async def public_credit(session: DbSession, organisation_id: PathId) -> PublicCreditOut:
    return present_public(await views.public_credit(session, organisation_id))
