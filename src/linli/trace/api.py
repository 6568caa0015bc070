"""JSON routes for batches and chain verification under /api/v1/trace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from linli.apitypes import OptionalQueryId, PageSize, PathId
from linli.authz import TRACE_MANAGE, TRACE_READ, Actor, acting_organisation, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.trace import batches, verification
from linli.trace.schemas import BatchIn, BatchOut, BrokenLinkOut, VerifyOut

router = APIRouter(prefix="/api/v1/trace", tags=["trace"], responses=ERROR_RESPONSES)

Reader = Annotated[Actor, Depends(require(TRACE_READ))]
Manager = Annotated[Actor, Depends(require(TRACE_MANAGE))]


@router.post("/batches", status_code=201, summary="Create a batch (lot) of one of your SKUs")
async def create_batch(body: BatchIn, session: DbSession, actor: Manager) -> BatchOut:
    return BatchOut.model_validate(await batches.create_batch(session, actor, body))


@router.get("/batches", summary="Your organisation's batches, newest first")
async def list_batches(
    session: DbSession, actor: Reader, limit: PageSize = 50, before_id: OptionalQueryId = None
) -> list[BatchOut]:
    rows = await batches.list_batches(session, actor, limit=limit, before_id=before_id)
    return [BatchOut.model_validate(row) for row in rows]


@router.get("/batches/{batch_id}", summary="One of your batches")
async def get_batch(batch_id: PathId, session: DbSession, actor: Reader) -> BatchOut:
    return BatchOut.model_validate(await batches.access_batch(session, actor, batch_id))


@router.get("/verify", summary="Check your trace chains (or one batch's): first broken link")
async def verify(
    session: DbSession,
    actor: Reader,
    batch_id: OptionalQueryId = None,
    deep: Annotated[
        bool,
        Query(description="Also re-derive each event's indexed columns from its document"),
    ] = False,
) -> VerifyOut:
    if batch_id is not None:
        await batches.access_batch(session, actor, batch_id)  # 404 unless it is yours
    organisation_id = acting_organisation(actor, TRACE_READ)
    result = await verification.verify_chains(
        session, batch_id, organisation_id=organisation_id, deep=deep
    )
    broken = result.broken
    return VerifyOut(
        ok=broken is None,
        chains=result.chains,
        links=result.links,
        broken=BrokenLinkOut.model_validate(broken) if broken else None,
    )
