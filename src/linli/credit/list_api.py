"""JSON routes of the lists and credit repair (docs/credit.md "Lists and repair"). No route
creates a published penalty or a list entry: only supervision's decisions do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from linli.apitypes import PathId
from linli.authz import (
    CREDIT_READ,
    CREDIT_REQUEST,
    REGULATOR_CREDIT_DECIDE,
    REGULATOR_CREDIT_READ,
    Actor,
    require,
)
from linli.credit import lists, repair
from linli.credit.list_presenters import (
    present_desk,
    present_entries,
    present_penalties,
    present_red,
    present_requests,
)
from linli.credit.list_schemas import (
    CreditDecisionIn,
    CreditRequestIn,
    CreditRequestOut,
    ListEntryOut,
    MyListsOut,
    PenaltyOut,
    RedListOut,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/credit", tags=["credit"], responses=ERROR_RESPONSES)
MerchantReader = Annotated[Actor, Depends(require(CREDIT_READ))]
MerchantOwner = Annotated[Actor, Depends(require(CREDIT_REQUEST))]
RegulatorReader = Annotated[Actor, Depends(require(REGULATOR_CREDIT_READ))]
RegulatorDecider = Annotated[Actor, Depends(require(REGULATOR_CREDIT_DECIDE))]


@router.get("/lists/serious", summary="The serious-dishonesty list (严重违法失信名单) now")
async def serious_list(session: DbSession) -> list[ListEntryOut]:
    listed = await lists.serious_list(session)
    return await present_entries(session, [m.entry for m in listed if m.entry is not None])


@router.get("/lists/red", summary="The red list of trustworthy merchants now")
async def red_list(session: DbSession) -> list[RedListOut]:
    return present_red(await lists.red_list(session))


@router.get(
    "/public/{organisation_id}/penalties",
    summary="A merchant's published administrative penalties",
)
async def public_penalties(session: DbSession, organisation_id: PathId) -> list[PenaltyOut]:
    return await present_penalties(
        session, await lists.published_penalties(session, organisation_id)
    )


@router.get("/merchant/lists", summary="My penalties, list entries and requests (merchant)")
async def my_lists(session: DbSession, actor: MerchantReader) -> MyListsOut:
    return await present_desk(session, await repair.merchant_desk(session, actor))


@router.post(
    "/merchant/penalties/{penalty_id}/repair",
    status_code=201,
    summary="Apply for the repair of a published penalty",
)
async def apply_for_repair(
    session: DbSession, actor: MerchantOwner, penalty_id: PathId, body: CreditRequestIn
) -> CreditRequestOut:
    row = await repair.apply_for_repair(session, actor, penalty_id, body.statement)
    return (await present_requests(session, [row]))[0]


@router.post(
    "/merchant/list-entries/{entry_id}/removal",
    status_code=201,
    summary="Request early removal from the serious-dishonesty list",
)
async def request_removal(
    session: DbSession, actor: MerchantOwner, entry_id: PathId, body: CreditRequestIn
) -> CreditRequestOut:
    row = await repair.request_removal(session, actor, entry_id, body.statement)
    return (await present_requests(session, [row]))[0]


@router.get("/regulator/requests", summary="Repair and removal requests to my authority")
async def regulator_requests(session: DbSession, actor: RegulatorReader) -> list[CreditRequestOut]:
    return await present_requests(session, await repair.regulator_requests(session, actor))


@router.post(
    "/regulator/requests/{request_id}/decision",
    summary="Decide a repair or removal request, with reasons",
)
async def decide(
    session: DbSession, actor: RegulatorDecider, request_id: PathId, body: CreditDecisionIn
) -> CreditRequestOut:
    row = await repair.decide(
        session, actor, request_id, approve=body.approve, reasons=body.reasons
    )
    return (await present_requests(session, [row]))[0]
