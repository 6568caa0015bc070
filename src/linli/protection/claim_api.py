"""JSON routes of quality claims (refund without return): the resident files, follows and
escalates; the merchant decides; the platform's operators decide escalated claims and review
abuse flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.responses import Response

from linli.apitypes import MAX_ID, PathId
from linli.authz import (
    PLATFORM_CLAIMS,
    PROTECTION_CLAIMS_DECIDE,
    PROTECTION_CLAIMS_READ,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_
from linli.protection import claims
from linli.protection.claim_presenters import present_claim, present_flag
from linli.protection.claim_schemas import (
    ClaimDecisionIn,
    ClaimEscalationIn,
    ClaimIn,
    ClaimOut,
    FlagOut,
    FlagReviewIn,
    PhotoOut,
)
from linli.protection.complaint_files import attachment_response

router = APIRouter(
    prefix="/api/v1/protection/claims", tags=["protection"], responses=ERROR_RESPONSES
)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Party = Annotated[Actor, Depends(require_scope("resident", "org:read", "platform"))]
Reader = Annotated[Actor, Depends(require(PROTECTION_CLAIMS_READ))]
Decider = Annotated[Actor, Depends(require(PROTECTION_CLAIMS_DECIDE))]
Operator = Annotated[Actor, Depends(require(PLATFORM_CLAIMS))]


@router.post(
    "/photos",
    status_code=201,
    summary="Upload a photo for a claim on a collected line or a received live order (name "
    "one): JPEG, PNG or WebP (resident)",
)
async def add_photo(
    request: Request,
    session: DbSession,
    actor: Resident,
    file: Annotated[UploadFile, File(description="The photo")],
    line_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    live_order_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> PhotoOut:
    data = await files.read_upload(file)
    file_id = await claims.add_photo(
        session,
        actor,
        request.app.state.file_store,
        line_id,
        data,
        filename=file.filename or "photo",
        live_order_id=live_order_id,
    )
    return PhotoOut(id=file_id, url=f"/files/{file_id}")


@router.post(
    "",
    status_code=201,
    summary="Claim for collected goods or a received live order, refund without return",
)
async def file_claim(session: DbSession, actor: Resident, data: ClaimIn) -> ClaimOut:
    return present_claim(await claims.file_claim(session, actor, data))


@router.get("", summary="My claims, newest first (resident)")
async def my_claims(session: DbSession, actor: Resident) -> list[ClaimOut]:
    return [present_claim(row) for row in await claims.my_claims(session, actor)]


@router.get("/merchant", summary="Claims to the merchant, nearest deadline first")
async def merchant_claims(session: DbSession, actor: Reader) -> list[ClaimOut]:
    return [present_claim(row) for row in await claims.claims_to_decide(session, actor)]


@router.get("/escalated", summary="Claims waiting for the platform (operators)")
async def escalated_claims(session: DbSession, actor: Operator) -> list[ClaimOut]:
    return [present_claim(row) for row in await claims.escalated_claims(session, actor)]


@router.get("/flags", summary="Open abuse flags: residents claiming far above their community")
async def open_flags(session: DbSession, actor: Operator) -> list[FlagOut]:
    return [present_flag(row) for row in await claims.flags(session, actor)]


@router.get("/residents/{user_id}", summary="A resident's claim history (operators)")
async def resident_claims(session: DbSession, actor: Operator, user_id: PathId) -> list[ClaimOut]:
    history = await claims.resident_history(session, actor, user_id)
    return [present_claim(row) for row in history.claims]


@router.post("/flags/{flag_id}/review", summary="Confirm or dismiss an abuse flag, with a reason")
async def review_flag(
    session: DbSession, actor: Operator, flag_id: PathId, data: FlagReviewIn
) -> FlagOut:
    return present_flag(await claims.review_flag(session, actor, flag_id, data))


@router.get("/{claim_id}", summary="A claim (its resident, its merchant, the platform)")
async def one_claim(session: DbSession, actor: Party, claim_id: PathId) -> ClaimOut:
    return present_claim(await claims.access_claim(session, actor, claim_id))


@router.get(
    "/{claim_id}/photos/{file_id}",
    summary="A claim's photo (its resident, its merchant, the platform)",
    response_class=Response,
    responses={200: {"description": "The photo", "content": {t: {} for t in files.IMAGE_TYPES}}},
)
async def photo(
    request: Request, session: DbSession, actor: Party, claim_id: PathId, file_id: PathId
) -> Response:
    row = await claims.access_claim(session, actor, claim_id)
    claims.photo_of(row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return attachment_response(content)


@router.post("/{claim_id}/decide", summary="Uphold (in full or in part) or reject (merchant)")
async def decide(
    session: DbSession, actor: Decider, claim_id: PathId, data: ClaimDecisionIn
) -> ClaimOut:
    return present_claim(await claims.decide(session, actor, claim_id, data))


@router.post("/{claim_id}/escalate", summary="Take a rejection to the platform (resident)")
async def escalate(
    session: DbSession, actor: Resident, claim_id: PathId, data: ClaimEscalationIn
) -> ClaimOut:
    return present_claim(await claims.escalate(session, actor, claim_id, data))


@router.post("/{claim_id}/platform-decision", summary="Decide an escalated claim (operators)")
async def platform_decision(
    session: DbSession, actor: Operator, claim_id: PathId, data: ClaimDecisionIn
) -> ClaimOut:
    return present_claim(await claims.decide_escalated(session, actor, claim_id, data))
