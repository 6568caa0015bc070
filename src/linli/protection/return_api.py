"""JSON routes of seven-day returns: the resident asks and follows, the merchant answers and
refunds, the group leader receives the goods at the point."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import (
    PAYMENTS_REFUND,
    PROTECTION_RETURNS_ANSWER,
    PROTECTION_RETURNS_READ,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.files import service as files
from linli.protection import returns
from linli.protection.return_presenters import photo_response, present_return
from linli.protection.return_schemas import (
    PhotoOut,
    ReturnAnswerIn,
    ReturnIn,
    ReturnOut,
    ReturnReceiptIn,
    ReturnRefusalIn,
)

router = APIRouter(
    prefix="/api/v1/protection/returns", tags=["protection"], responses=ERROR_RESPONSES
)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
Reader = Annotated[Actor, Depends(require(PROTECTION_RETURNS_READ))]
Answerer = Annotated[Actor, Depends(require(PROTECTION_RETURNS_ANSWER))]
Refunder = Annotated[Actor, Depends(require(PAYMENTS_REFUND))]  # owners: money goes out
PageNo = Annotated[
    int, Query(ge=1, le=returns.MAX_PAGE, description=f"{returns.PAGE_SIZE} returns a page")
]


@router.post("", status_code=201, summary="Ask to return collected goods (resident)")
async def request_return(session: DbSession, actor: Resident, data: ReturnIn) -> ReturnOut:
    return present_return(await returns.request_return(session, actor, data))


@router.get("", summary="My returns, newest first (resident; paged)")
async def my_returns(session: DbSession, actor: Resident, page: PageNo = 1) -> list[ReturnOut]:
    found = await returns.my_returns(session, actor, page)
    return [present_return(row) for row in found.rows]


@router.get("/merchant", summary="Returns to the merchant, nearest deadline first (paged)")
async def merchant_returns(session: DbSession, actor: Reader, page: PageNo = 1) -> list[ReturnOut]:
    found = await returns.returns_to_answer(session, actor, page)
    return [present_return(row) for row in found.rows]


@router.get("/leader", summary="Returns to receive at the pickup points I run (leader; paged)")
async def leader_returns(session: DbSession, actor: Leader, page: PageNo = 1) -> list[ReturnOut]:
    found = await returns.returns_at_my_points(session, actor, page)
    return [present_return(row) for row in found.rows]


@router.get("/{return_id}", summary="One of my returns (resident)")
async def my_return(session: DbSession, actor: Resident, return_id: PathId) -> ReturnOut:
    return present_return(await returns.access_own_return(session, actor, return_id))


@router.get(
    "/{return_id}/photos/{file_id}",
    summary="A photo of my return's receipt (resident)",
    response_class=Response,
    responses={200: {"description": "The photo", "content": {t: {} for t in files.IMAGE_TYPES}}},
)
async def my_return_photo(
    request: Request, session: DbSession, actor: Resident, return_id: PathId, file_id: PathId
) -> Response:
    return await photo_response(request, session, actor, return_id, file_id)


@router.post("/{return_id}/answer", summary="Approve or reject a return (merchant)")
async def answer(
    session: DbSession, actor: Answerer, return_id: PathId, data: ReturnAnswerIn
) -> ReturnOut:
    return present_return(await returns.answer(session, actor, return_id, data))


@router.post(
    "/{return_id}/photos",
    status_code=201,
    summary="Upload a photo of goods brought back: JPEG, PNG or WebP (leader)",
)
async def add_photo(
    request: Request,
    session: DbSession,
    actor: Leader,
    return_id: PathId,
    file: Annotated[UploadFile, File(description="The photo")],
) -> PhotoOut:
    data = await files.read_upload(file)
    file_id = await returns.add_photo(
        session,
        actor,
        request.app.state.file_store,
        return_id,
        data,
        filename=file.filename or "photo",
    )
    return PhotoOut(id=file_id, url=f"/files/{file_id}")


@router.post("/{return_id}/receive", summary="Record the goods received back (leader)")
async def receive(
    session: DbSession, actor: Leader, return_id: PathId, data: ReturnReceiptIn
) -> ReturnOut:
    return present_return(await returns.receive(session, actor, return_id, data))


@router.post(
    "/{return_id}/collection-photos",
    status_code=201,
    summary="Upload a photo of goods the merchant collected: JPEG, PNG or WebP (merchant)",
)
async def add_collection_photo(
    request: Request,
    session: DbSession,
    actor: Answerer,
    return_id: PathId,
    file: Annotated[UploadFile, File(description="The photo")],
) -> PhotoOut:
    data = await files.read_upload(file)
    file_id = await returns.add_collection_photo(
        session,
        actor,
        request.app.state.file_store,
        return_id,
        data,
        filename=file.filename or "photo",
    )
    return PhotoOut(id=file_id, url=f"/files/{file_id}")


@router.post(
    "/{return_id}/collect",
    summary="Record the goods collected from the resident by the merchant (merchant)",
)
async def collect(
    session: DbSession, actor: Answerer, return_id: PathId, data: ReturnReceiptIn
) -> ReturnOut:
    return present_return(await returns.collect(session, actor, return_id, data))


@router.post("/{return_id}/refund", summary="Refund goods received back (merchant; idempotent)")
async def refund(session: DbSession, actor: Refunder, return_id: PathId) -> ReturnOut:
    return present_return(await returns.refund(session, actor, return_id))


@router.post(
    "/{return_id}/refuse-refund",
    summary="Refuse the refund of goods received damaged, with a reason (merchant)",
)
async def refuse_refund(
    session: DbSession, actor: Answerer, return_id: PathId, data: ReturnRefusalIn
) -> ReturnOut:
    return present_return(await returns.refuse_refund(session, actor, return_id, data))
