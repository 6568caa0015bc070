"""API: cold-chain readings, inspections, hold decisions, recalls."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field, StrictInt

from linli.apitypes import PathId
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import ValidationFailed
from linli.files import service as files
from linli.i18n import N_
from linli.schemas import OutputModel, StrictInput
from linli.trace import recall, safety
from linli.trace.safety_models import TraceRecall

router = APIRouter(prefix="/api/v1/trace", tags=["trace"], responses=ERROR_RESPONSES)
SafetyWriter = Annotated[Actor, Depends(require_scope("org:write"))]
SafetyReader = Annotated[Actor, Depends(require_scope("org:read"))]
Id = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]


class ReadingsOut(BaseModel):
    received: int
    stored: int
    excursions: int


@router.post(
    "/readings",
    summary="Send cold-chain temperature readings (batch code, sensor id, time, °C)",
    description='Body: `{"readings": [{"batch_code", "sensor_id", "time", "temperature_c"}]}`. '
    "Every batch must be one of the acting organisation's own (a token with org:write).",
)
async def post_readings(request: Request, session: DbSession, actor: SafetyWriter) -> ReadingsOut:
    try:
        body: Any = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed(
            N_("Check the readings."), fields={"body": N_("Send a JSON object.")}
        ) from None
    if not isinstance(body, dict) or set(body) - {"readings"}:
        raise ValidationFailed(
            N_("Check the readings."), fields={"body": N_("Send an object with readings.")}
        )
    readings = safety.parse_readings(body.get("readings"))
    return ReadingsOut(**await safety.store_readings(session, actor, readings))


class InspectionOut(OutputModel):
    id: int
    batch_id: int
    laboratory: str
    items_tested: list[str]
    results: str
    passed: bool
    report_file_id: int | None
    inspected_at: datetime
    event_pk: int


@router.post(
    "/batches/{batch_id}/inspections",
    status_code=201,
    summary="Record a laboratory inspection of a batch (multipart, optional report file)",
)
async def post_inspection(
    request: Request,
    batch_id: PathId,
    session: DbSession,
    actor: SafetyWriter,
    laboratory: Annotated[str, Form(max_length=200)],
    items_tested: Annotated[str, Form(max_length=6000, description="One item per line")],
    results: Annotated[str, Form(max_length=6000)],
    passed: Annotated[bool, Form()],
    inspected_at: Annotated[datetime | None, Form()] = None,
    report: Annotated[UploadFile | None, File()] = None,
) -> InspectionOut:
    await safety.access_safety_batch(session, actor, batch_id, manage=True)
    file_id = None
    if report is not None and report.filename:
        data = await files.read_upload(report)
        stored = await files.store(
            session,
            actor,
            request.app.state.file_store,
            data,
            filename=report.filename,
            purpose="inspection",
            allowed=files.DOCUMENT_TYPES,
            field="report",
        )
        file_id = stored.id
    row = await safety.record_inspection(
        session,
        actor,
        batch_id,
        safety.InspectionInput(
            laboratory=laboratory,
            items_tested=items_tested.replace(",", "\n").splitlines(),
            results=results,
            passed=passed,
            inspected_at=inspected_at,
            report_file_id=file_id,
        ),
    )
    return InspectionOut.model_validate(row)


class HoldDecisionIn(StrictInput):
    decision: Literal["release", "destroy"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class BatchStatusOut(OutputModel):
    id: int
    code: str
    status: str


@router.post("/batches/{batch_id}/hold-decision", summary="Release or destroy a held batch")
async def post_hold_decision(
    batch_id: PathId, body: HoldDecisionIn, session: DbSession, actor: SafetyWriter
) -> BatchStatusOut:
    batch = await safety.decide_hold(session, actor, batch_id, body.decision, body.reason)
    return BatchStatusOut.model_validate(batch)


class BatchSafetyOut(OutputModel):
    id: int
    code: str
    lot: str
    status: str
    production_date: date
    expiry_date: date | None
    inspections: list[InspectionOut]
    open_holds: list[str]
    excursions: int
    readings: int


@router.get("/batches/{batch_id}/safety", summary="A batch's inspections, holds and cold chain")
async def get_batch_safety(
    batch_id: PathId, session: DbSession, actor: SafetyReader
) -> BatchSafetyOut:
    batch = await safety.access_safety_batch(session, actor, batch_id)
    readings, excursions = await safety.cold_chain_counts(session, batch.id)
    return BatchSafetyOut.from_row(
        batch,
        inspections=[
            InspectionOut.model_validate(i) for i in await safety.inspections_of(session, batch.id)
        ],
        open_holds=[h.reason for h in await safety.open_holds(session, batch.id)],
        excursions=excursions,
        readings=readings,
    )


class RecallIn(StrictInput):
    level: Annotated[StrictInt, Field(ge=1, le=3)]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    batch_ids: Annotated[list[Id], Field(min_length=1, max_length=recall.MAX_BATCHES)]
    refund: Literal["full", "none"] = "full"
    hazard_found_at: datetime | None = Field(
        default=None, description="When the hazard became known (default: now)"
    )


class RecallBatchOut(BaseModel):
    batch_id: int
    code: str
    via: str
    from_batch_id: int | None


class RecallOut(OutputModel):
    id: int
    organisation_id: int
    level: int
    reason: str
    refund: str
    status: str
    rule: str
    opened_at: datetime
    start_by: datetime
    complete_by: datetime
    closed_at: datetime | None
    batches: list[RecallBatchOut]
    progress: dict[str, Any]
    report: dict[str, Any] | None


async def present_recall(session: DbSession, row: TraceRecall) -> RecallOut:
    """The recall, its batches (and how each was reached) and the progress of its lines."""
    batches = await recall.recall_batches(session, row.id)
    lines = await recall.recall_lines(session, row.id)
    return RecallOut.from_row(
        row,
        rule=f"{row.rule_id}@{row.rule_version}",
        batches=[
            RecallBatchOut(batch_id=b.id, code=b.code, via=rb.via, from_batch_id=rb.from_batch_id)
            for rb, b in batches
        ],
        progress=recall.progress_of(row, lines),
    )


@router.post("/recalls", status_code=201, summary="Open a recall (merchant or regulator)")
async def post_recall(body: RecallIn, session: DbSession, actor: SafetyWriter) -> RecallOut:
    row = await recall.open_recall(
        session,
        actor,
        recall.RecallInput(
            level=body.level,
            reason=body.reason,
            batch_ids=list(body.batch_ids),
            refund=body.refund,
            hazard_found_at=body.hazard_found_at,
        ),
    )
    return await present_recall(session, row)


@router.get("/recalls", summary="Recalls of your batches (regulators: all)")
async def list_recalls(session: DbSession, actor: SafetyWriter) -> list[RecallOut]:
    return [await present_recall(session, r) for r in await recall.recalls_for(session, actor)]


@router.get("/recalls/{recall_id}", summary="A recall with its progress")
async def get_recall(recall_id: PathId, session: DbSession, actor: SafetyWriter) -> RecallOut:
    return await present_recall(session, await recall.access_recall(session, actor, recall_id))


class ReturnIn(StrictInput):
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]


@router.post("/recalls/{recall_id}/lines/{line_id}/returned", summary="Goods came back")
async def post_return(
    recall_id: PathId, line_id: PathId, body: ReturnIn, session: DbSession, actor: SafetyWriter
) -> RecallOut:
    await recall.record_return(session, actor, recall_id, line_id, body.quantity)
    return await present_recall(session, await recall.access_recall(session, actor, recall_id))


@router.post("/recalls/{recall_id}/close", summary="Close a recall with its report")
async def post_close(recall_id: PathId, session: DbSession, actor: SafetyWriter) -> RecallOut:
    row = await recall.close_recall(session, actor, recall_id)
    return await present_recall(session, row)
