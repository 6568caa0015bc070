"""Pages: a merchant's batches (journey, inspections with upload, readings chart, hold
decision) and the recall consoles of merchants and regulators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import Actor, require_user
from linli.db import DbSession
from linli.errors import DomainError, ValidationFailed
from linli.files import service as files
from linli.i18n import N_
from linli.trace import recall, safety
from linli.trace.public_view import MAX_PAGE, trace_view
from linli.web import ErrorAnswer, form_action, form_data, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.get("/merchant/batches")
async def batches_page(request: Request, session: DbSession, actor: User_) -> Response:
    rows = await safety.batches_of(session, actor)
    return render(request, "trace/batches.html", {"batches": rows}, actor=actor)


async def _batch_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    batch_id: int,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
    page: int = 1,
) -> Response:
    batch = await safety.access_safety_batch(session, actor, batch_id)
    view = await trace_view(session, batch.code, page)
    view |= {
        "holds": await safety.holds_of(session, batch.id),
        "open_holds": await safety.open_holds(session, batch.id),
        "error": error,
    }
    view["view"] = dict(view)
    return render(request, "trace/batch.html", view, status_code=status_code, actor=actor)


def _batch_failed(request: Request, session: DbSession, actor: Actor, batch_id: int) -> ErrorAnswer:
    return lambda error: _batch_page(
        request, session, actor, batch_id, error=error, status_code=error.status_code
    )


@router.get("/merchant/batches/{batch_id}")
async def batch_page(
    request: Request, batch_id: PathId, session: DbSession, actor: User_, page: Page = 1
) -> Response:
    return await _batch_page(request, session, actor, batch_id, page=page)


@router.post("/merchant/batches/{batch_id}/inspections")
async def inspection_form(
    request: Request, batch_id: PathId, session: DbSession, actor: User_
) -> Response:
    form = await request.form()

    async def record() -> None:
        await safety.access_safety_batch(session, actor, batch_id, manage=True)
        upload = form.get("report")
        file_id = None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await files.read_upload(upload)
            stored = await files.store(
                session,
                actor,
                request.app.state.file_store,
                data,
                filename=upload.filename,
                purpose="inspection",
                allowed=files.DOCUMENT_TYPES,
                field="report",
            )
            file_id = stored.id
        when_text = forms.text(form, "inspected_at").strip()
        when = (
            forms.local_datetime(when_text, "inspected_at", message=N_("Check the inspection."))
            if when_text
            else None
        )
        await safety.record_inspection(
            session,
            actor,
            batch_id,
            safety.InspectionInput(
                laboratory=forms.text(form, "laboratory"),
                items_tested=forms.text(form, "items_tested").splitlines(),
                results=forms.text(form, "results"),
                passed=forms.text(form, "passed") == "yes",
                inspected_at=when,
                report_file_id=file_id,
            ),
        )

    failed = await form_action(
        session, record, on_error=_batch_failed(request, session, actor, batch_id)
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/batches/{batch_id}", text=N_("Inspection recorded."))


@router.post("/merchant/batches/{batch_id}/hold-decision")
async def hold_decision_form(
    request: Request, batch_id: PathId, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)
    failed = await form_action(
        session,
        lambda: safety.decide_hold(
            session, actor, batch_id, form.get("decision", ""), form.get("reason", "")
        ),
        on_error=_batch_failed(request, session, actor, batch_id),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/batches/{batch_id}", text=N_("Decision recorded."))


async def _console(
    request: Request,
    session: DbSession,
    actor: Actor,
    base: str,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    rows = []
    for row in await recall.recalls_for(session, actor):
        lines = await recall.recall_lines(session, row.id)
        rows.append(
            {
                "recall": row,
                "batches": await recall.recall_batches(session, row.id),
                "lines": lines,
                "progress": recall.progress_of(row, lines),
                "runs": await recall.runs(session, actor, row.id),
            }
        )
    batches = await safety.batches_of(session, actor) if base == "/merchant/recalls" else []
    return render(
        request,
        "trace/recalls.html",
        {"recalls": rows, "base": base, "batches": batches, "error": error},
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/recalls")
async def merchant_recalls(request: Request, session: DbSession, actor: User_) -> Response:
    return await _console(request, session, actor, "/merchant/recalls")


@router.get("/regulator/recalls")
async def regulator_recalls(request: Request, session: DbSession, actor: User_) -> Response:
    return await _console(request, session, actor, "/regulator/recalls")


def _int(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValidationFailed(
            N_("Check the recall."), fields={field: N_("Enter a number.")}
        ) from None


async def _open(request: Request, session: DbSession, actor: Actor, base: str) -> Response:
    form = await request.form()

    async def open_recall() -> None:
        ids_text = " ".join(str(v) for v in form.getlist("batch_ids"))
        ids_text += " " + forms.text(form, "batch_ids_text")
        batch_ids = [_int(t, "batch_ids") for t in ids_text.replace(",", " ").split()]
        await recall.open_recall(
            session,
            actor,
            recall.RecallInput(
                level=_int(forms.text(form, "level"), "level"),
                reason=forms.text(form, "reason"),
                batch_ids=batch_ids,
                refund=forms.text(form, "refund") or "full",
            ),
        )

    failed = await form_action(
        session,
        open_recall,
        on_error=lambda error: _console(
            request, session, actor, base, error=error, status_code=error.status_code
        ),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(base, text=N_("Recall opened: buyers were told."))


@router.post("/merchant/recalls")
async def merchant_open(request: Request, session: DbSession, actor: User_) -> Response:
    return await _open(request, session, actor, "/merchant/recalls")


@router.post("/regulator/recalls")
async def regulator_open(request: Request, session: DbSession, actor: User_) -> Response:
    return await _open(request, session, actor, "/regulator/recalls")


@router.post("/merchant/recalls/{recall_id}/close")
async def merchant_close(recall_id: PathId, session: DbSession, actor: User_) -> Response:
    await recall.close_recall(session, actor, recall_id)
    return redirect("/merchant/recalls", text=N_("Recall closed."))


@router.post("/regulator/recalls/{recall_id}/close")
async def regulator_close(recall_id: PathId, session: DbSession, actor: User_) -> Response:
    await recall.close_recall(session, actor, recall_id)
    return redirect("/regulator/recalls", text=N_("Recall closed."))
