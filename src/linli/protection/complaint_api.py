"""API: complaints under /api/v1/protection/complaints (docs/protection-complaints.md).

Every route names the scopes it needs; which complaint an actor may see or act on is decided
by `complaint_policies` (the parties only; anyone else gets 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import (
    COMPLAINTS_READ,
    PLATFORM_COMPLAINTS,
    REGULATOR_COMPLAINTS_READ,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_
from linli.protection import complaints
from linli.protection.complaint_files import ATTACHMENT_TYPES, PURPOSE, attachment_response
from linli.protection.complaint_models import ComplaintTarget, Decider, Outcome, Role
from linli.protection.complaint_schemas import (
    ComplaintDetailOut,
    ComplaintIn,
    ComplaintOut,
    MessageIn,
    OptionalReasonIn,
    ReasonIn,
    ResolveIn,
    StepOut,
    present_complaint,
)

router = APIRouter(
    prefix="/api/v1/protection/complaints", tags=["protection"], responses=ERROR_RESPONSES
)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
Party = Annotated[Actor, Depends(require_scope("resident", "leader", "org:read", "platform"))]
Writer = Annotated[Actor, Depends(require_scope("resident", "leader", "org:write", "platform"))]
Decides = Annotated[Actor, Depends(require_scope("org:write", "platform"))]
MerchantReader = Annotated[Actor, Depends(require(COMPLAINTS_READ))]
Operator = Annotated[Actor, Depends(require(PLATFORM_COMPLAINTS))]
RegulatorReader = Annotated[Actor, Depends(require(REGULATOR_COMPLAINTS_READ))]


async def _detail(session: DbSession, actor: Actor, complaint_id: int) -> ComplaintDetailOut:
    row = await complaints.access_complaint(session, actor, complaint_id)
    return present_complaint(row, list(await complaints.timeline(session, row)))


@router.post("", status_code=201, summary="File a complaint about one of your orders")
async def file_complaint(body: ComplaintIn, session: DbSession, actor: Resident) -> ComplaintOut:
    row = await complaints.file_complaint(
        session,
        actor,
        complaints.FileInput(
            order_id=body.order_id,
            target=ComplaintTarget(body.target),
            text=body.text,
            to=Decider(body.to),
            line_id=body.line_id,
        ),
    )
    return ComplaintOut.model_validate(row)


@router.get("/mine", summary="Your complaints, newest first")
async def mine(session: DbSession, actor: Resident) -> list[ComplaintOut]:
    rows = await complaints.listed(session, actor, Role.COMPLAINANT)
    return [ComplaintOut.model_validate(r) for r in rows]


@router.get("/about-me", summary="Complaints about you as a group leader")
async def about_me(session: DbSession, actor: Leader) -> list[ComplaintOut]:
    rows = await complaints.listed(session, actor, Role.LEADER)
    return [ComplaintOut.model_validate(r) for r in rows]


@router.get("/about-us", summary="Complaints about your organisation (a merchant)")
async def about_us(session: DbSession, actor: MerchantReader) -> list[ComplaintOut]:
    rows = await complaints.listed(session, actor, Role.MERCHANT)
    return [ComplaintOut.model_validate(r) for r in rows]


@router.get("/platform", summary="Platform disputes (and those escalated from them)")
async def platform_queue(session: DbSession, actor: Operator) -> list[ComplaintOut]:
    rows = await complaints.listed(session, actor, Role.PLATFORM)
    return [ComplaintOut.model_validate(r) for r in rows]


@router.get("/jurisdiction", summary="Complaints assigned to your regulator")
async def jurisdiction(session: DbSession, actor: RegulatorReader) -> list[ComplaintOut]:
    rows = await complaints.listed(session, actor, Role.REGULATOR)
    return [ComplaintOut.model_validate(r) for r in rows]


@router.get("/{complaint_id}", summary="A complaint with its timeline (its parties only)")
async def read_complaint(
    complaint_id: PathId, session: DbSession, actor: Party
) -> ComplaintDetailOut:
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/accept", summary="Accept a complaint (the deciding organisation)")
async def accept(complaint_id: PathId, session: DbSession, actor: Decides) -> ComplaintDetailOut:
    await complaints.accept(session, actor, complaint_id)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/refuse", summary="Refuse a complaint, with the reasons")
async def refuse(
    complaint_id: PathId, body: ReasonIn, session: DbSession, actor: Decides
) -> ComplaintDetailOut:
    await complaints.refuse(session, actor, complaint_id, body.reason)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/mediate", summary="Start mediating an accepted complaint")
async def mediate(complaint_id: PathId, session: DbSession, actor: Decides) -> ComplaintDetailOut:
    await complaints.start_mediation(session, actor, complaint_id)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/resolve", summary="Resolve: mediated, upheld or rejected")
async def resolve(
    complaint_id: PathId, body: ResolveIn, session: DbSession, actor: Decides
) -> ComplaintDetailOut:
    await complaints.resolve(session, actor, complaint_id, Outcome(body.outcome), body.text)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/withdraw", summary="Withdraw your complaint before resolution")
async def withdraw(
    complaint_id: PathId, body: OptionalReasonIn, session: DbSession, actor: Resident
) -> ComplaintDetailOut:
    await complaints.withdraw(session, actor, complaint_id, body.reason)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/escalate", summary="Take the platform's decision to the regulator")
async def escalate(
    complaint_id: PathId, body: ReasonIn, session: DbSession, actor: Resident
) -> ComplaintDetailOut:
    await complaints.escalate(session, actor, complaint_id, body.reason)
    return await _detail(session, actor, complaint_id)


@router.post("/{complaint_id}/messages", status_code=201, summary="Add a message to the timeline")
async def message(
    complaint_id: PathId, body: MessageIn, session: DbSession, actor: Writer
) -> StepOut:
    step = await complaints.add_message(session, actor, complaint_id, body.text)
    return StepOut.model_validate(step)


@router.post(
    "/{complaint_id}/attachments",
    status_code=201,
    summary="Attach a photo or PDF to the timeline (multipart)",
)
async def attach(
    request: Request,
    complaint_id: PathId,
    session: DbSession,
    actor: Writer,
    file: Annotated[UploadFile, File()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> StepOut:
    await complaints.ensure_may_attach(session, actor, complaint_id)
    data = await files.read_upload(file)
    stored = await files.store(
        session,
        actor,
        request.app.state.file_store,
        data,
        filename=file.filename or "attachment",
        purpose=PURPOSE,
        shown_to_others=True,  # the merchant, the leader, the regulator see it
        allowed=ATTACHMENT_TYPES,
    )
    step = await complaints.add_attachment(session, actor, complaint_id, stored.id, note)
    return StepOut.model_validate(step)


@router.get(
    "/{complaint_id}/attachments/{file_id}",
    summary="A file attached to a complaint (its parties only)",
    response_class=Response,
    responses={200: {"description": "The file", "content": {t: {} for t in ATTACHMENT_TYPES}}},
)
async def attachment(
    request: Request, complaint_id: PathId, file_id: PathId, session: DbSession, actor: Party
) -> Response:
    row = await complaints.access_complaint(session, actor, complaint_id)
    await complaints.attachment_of(session, row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return attachment_response(content)
