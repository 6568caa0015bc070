"""JSON routes for personal data: my export, closing my account, the retention rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from linli.accounts.identity import clear_session_cookie
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.privacy import service
from linli.privacy.schemas import CloseAccountIn, ClosureOut, PersonalDataExport, RetentionOut

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"], responses=ERROR_RESPONSES)
Account = Annotated[Actor, Depends(require_scope("account"))]


@router.get(
    "/export",
    summary="All my data, as one JSON file",
    response_model=PersonalDataExport,
    responses={200: {"content": {"application/json": {}}}},
)
async def export(request: Request, session: DbSession, actor: Account) -> Response:
    document = await service.export(session, actor)
    # A reading request stays read-only (SQLite); the audit entry has its own short write.
    async with request.app.state.sessionmaker() as writer, writer.begin():
        service.record_export(writer, actor, document)
    filename = f"linli-data-{document['user_id']}.json"
    return JSONResponse(
        document, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/close-account", summary="Close my account (for good)")
async def close_account(
    body: CloseAccountIn, response: Response, session: DbSession, actor: Account
) -> ClosureOut:
    if not body.confirm:
        raise ValidationFailed(
            N_("Confirm that you want to close your account."),
            fields={"confirm": N_("Required.")},
        )
    closure = await service.close_account(session, actor, password=body.password)
    clear_session_cookie(response)
    return ClosureOut.model_validate(closure)


@router.get("/retention", summary="How long the records of a closed account are kept")
async def retention(session: DbSession) -> RetentionOut:
    rule = await service.retention(session)
    return RetentionOut.model_validate(rule)
