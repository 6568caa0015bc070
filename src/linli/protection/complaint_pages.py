"""Pages: a resident's complaints (filed from the order page), a merchant's "complaints about
us", the platform's disputes queue, a regulator's complaints, and one complaint's page with
its clocks, timeline and the forms its parties may use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import clock, forms
from linli.apitypes import MAX_ID, PathId
from linli.authz import (
    COMPLAINTS_READ,
    PLATFORM_COMPLAINTS,
    REGULATOR_COMPLAINTS_READ,
    Actor,
    ensure,
    require_user,
)
from linli.db import DbSession
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.files import service as files
from linli.groupbuy import lines as groupbuy
from linli.i18n import N_
from linli.protection import complaint_policies as policies
from linli.protection import complaints
from linli.protection.complaint_files import ATTACHMENT_TYPES, PURPOSE, attachment_response
from linli.protection.complaint_labels import LABELS
from linli.protection.complaint_models import (
    Complaint,
    ComplaintTarget,
    Decider,
    Outcome,
    Role,
)
from linli.rules import workdays
from linli.web import (
    ErrorAnswer,
    flash_error,
    form_action,
    form_data,
    redirect,
    render,
    verify_csrf,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
BASE = "/protection/complaints"


async def _clocks(session: DbSession, rows: Sequence[Complaint]) -> dict[int, dict[str, object]]:
    """Per complaint: working days left on its running clock (negative when overdue)."""
    calendar = await workdays.load(session)
    today = workdays.local_date(clock.now())

    def left(deadline_day: date) -> int:
        if deadline_day >= today:
            return calendar.working_days_between(today, deadline_day)
        return -calendar.working_days_between(deadline_day, today)

    found: dict[int, dict[str, object]] = {}
    for row in rows:
        deadline = None
        if row.status == "filed":
            deadline = row.accept_by
        elif row.status in ("accepted", "in_mediation"):
            deadline = row.mediation_by
        if deadline is None:
            continue
        days = left(workdays.local_date(deadline))
        found[row.id] = {
            "deadline": deadline,
            "days_left": days,
            "overdue": clock.now() > deadline,
        }
    return found


async def _list(request: Request, session: DbSession, actor: Actor, role: Role) -> Response:
    rows = await complaints.listed(session, actor, role)
    return render(
        request,
        "protection/complaints/list.html",
        {"rows": rows, "clocks": await _clocks(session, rows), "role": role, "L": LABELS},
        actor=actor,
    )


@router.get(BASE)
async def my_complaints(request: Request, session: DbSession, actor: User_) -> Response:
    return await _list(request, session, actor, Role.COMPLAINANT)


@router.get("/merchant/complaints")
async def about_us(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, COMPLAINTS_READ)
    return await _list(request, session, actor, Role.MERCHANT)


@router.get("/leader/complaints")
async def about_me(request: Request, session: DbSession, actor: User_) -> Response:
    return await _list(request, session, actor, Role.LEADER)


@router.get("/ops/complaints")
async def platform_queue(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_COMPLAINTS)
    return await _list(request, session, actor, Role.PLATFORM)


@router.get("/regulator/complaints")
async def jurisdiction(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, REGULATOR_COMPLAINTS_READ)
    return await _list(request, session, actor, Role.REGULATOR)


async def _new_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    order_id: int,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    order = await groupbuy.order_of_resident(session, actor.require_user_id(), order_id)
    if order is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    return render(
        request,
        "protection/complaints/new.html",
        {"order": order, "error": error, "values": values or {}, "L": LABELS},
        status_code=error.status_code if error else 200,
        actor=actor,
    )


@router.get(BASE + "/new")
async def new_complaint(
    request: Request,
    session: DbSession,
    actor: User_,
    order_id: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> Response:
    return await _new_page(request, session, actor, order_id)


@router.post(BASE + "/new")
async def file_complaint(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    order_id = forms.optional_id(form.get("order_id", ""))
    if order_id is None:
        raise NotFound(N_("No such order."), code="order_not_found")

    async def do() -> Complaint:
        line_id = (
            forms.optional_id(form.get("line_id", "")) if form.get("target") == "product" else None
        )
        target = form.get("target", "")
        to = form.get("to", "")
        if target not in set(ComplaintTarget) or to not in set(Decider):
            raise ValidationFailed(
                N_("Check the complaint."), fields={"target": N_("Choose what and to whom.")}
            )
        return await complaints.file_complaint(
            session,
            actor,
            complaints.FileInput(
                order_id=order_id,
                target=ComplaintTarget(target),
                text=form.get("text", ""),
                to=Decider(to),
                line_id=line_id,
            ),
        )

    async def failed(error: DomainError) -> Response:
        return await _new_page(request, session, actor, order_id, error=error, values=form)

    done = await form_action(session, do, on_error=failed)
    if isinstance(done, Response):
        return done
    return redirect(f"{BASE}/{done.id}", text=N_("Complaint filed."))


@router.get(BASE + "/{complaint_id}")
async def complaint_page(
    request: Request, complaint_id: PathId, session: DbSession, actor: User_
) -> Response:
    row = await complaints.access_complaint(session, actor, complaint_id)
    held = policies.capacities(actor, row)
    steps = await complaints.timeline(session, row)
    return render(
        request,
        "protection/complaints/detail.html",
        {
            "c": row,
            "steps": steps,
            "clock": (await _clocks(session, [row])).get(row.id),
            "decides": policies.may_decide(actor, row) is not None,
            "complainant": Role.COMPLAINANT in held,
            "may_write": any(policies.may_write(actor, r) for r in held),
            "open": row.status in complaints.OPEN,
            "escalable": row.decider == Decider.PLATFORM
            and (
                row.status == "refused"
                or (row.status == "resolved" and row.outcome in complaints.ESCALABLE_OUTCOMES)
            ),
            "L": LABELS,
        },
        actor=actor,
    )


_ACTIONS = ("accept", "refuse", "mediate", "resolve", "withdraw", "escalate", "message")


@router.post(BASE + "/{complaint_id}/{action}")
async def complaint_action(
    request: Request, complaint_id: PathId, action: str, session: DbSession, actor: User_
) -> Response:
    if action not in _ACTIONS and action != "attachments":
        raise NotFound(N_("Page not found."))
    url = f"{BASE}/{complaint_id}"
    await complaints.access_complaint(session, actor, complaint_id)  # 404 for non-parties
    failed: ErrorAnswer = flash_error(url)
    if action == "attachments":
        form = await request.form()

        async def attach() -> object:
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationFailed(N_("Check the file."), fields={"file": N_("Choose a file.")})
            await complaints.ensure_may_attach(session, actor, complaint_id)
            data = await files.read_upload(upload)
            stored = await files.store(
                session,
                actor,
                request.app.state.file_store,
                data,
                filename=upload.filename,
                purpose=PURPOSE,
                shown_to_others=True,  # the merchant, the leader, the regulator see it
                allowed=ATTACHMENT_TYPES,
            )
            note = form.get("note")
            return await complaints.add_attachment(
                session, actor, complaint_id, stored.id, note if isinstance(note, str) else ""
            )

        done = await form_action(session, attach, on_error=failed)
        if isinstance(done, Response):
            return done
        return redirect(url, text=N_("File attached."))
    data = await form_data(request)
    reason = data.get("reason", "")
    steps = {
        "accept": lambda: complaints.accept(session, actor, complaint_id),
        "refuse": lambda: complaints.refuse(session, actor, complaint_id, reason),
        "mediate": lambda: complaints.start_mediation(session, actor, complaint_id),
        "withdraw": lambda: complaints.withdraw(session, actor, complaint_id, reason),
        "escalate": lambda: complaints.escalate(session, actor, complaint_id, reason),
        "message": lambda: complaints.add_message(
            session, actor, complaint_id, data.get("text", "")
        ),
        "resolve": lambda: _resolve(session, actor, complaint_id, data),
    }
    done = await form_action(session, steps[action], on_error=failed)
    if isinstance(done, Response):
        return done
    return redirect(url, text=N_("Saved."))


async def _resolve(
    session: DbSession, actor: Actor, complaint_id: int, data: dict[str, str]
) -> Complaint:
    outcome = data.get("outcome", "")
    if outcome not in complaints.DECIDED_OUTCOMES:
        raise ValidationFailed(
            N_("Check the decision."),
            fields={"outcome": N_("Choose mediated, upheld or rejected.")},
        )
    return await complaints.resolve(
        session, actor, complaint_id, Outcome(outcome), data.get("text", "")
    )


@router.get(BASE + "/{complaint_id}/attachments/{file_id}")
async def attachment(
    request: Request, complaint_id: PathId, file_id: PathId, session: DbSession, actor: User_
) -> Response:
    row = await complaints.access_complaint(session, actor, complaint_id)
    await complaints.attachment_of(session, row, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return attachment_response(content)
