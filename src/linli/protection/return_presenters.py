"""What the API and the pages show of a return (shared by both route modules): the body, the
labels of its states and reasons, and the time left before its next deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli import clock
from linli.authz import Actor
from linli.errors import NotFound
from linli.files import service as files
from linli.i18n import N_, Message
from linli.protection import returns
from linli.protection.complaint_files import attachment_response
from linli.protection.return_models import GoodsCondition, ReturnReason, ReturnRequest, ReturnStatus
from linli.protection.return_schemas import ReturnOut
from linli.protection.returns import deadline_of

STATUS_LABELS: dict[str, str] = {
    ReturnStatus.REQUESTED: N_("Waiting for the merchant"),
    ReturnStatus.APPROVED: N_("Approved: bring it to the pickup point"),
    ReturnStatus.REJECTED: N_("Rejected"),
    ReturnStatus.RECEIVED: N_("Received back: refund due"),
    ReturnStatus.REFUNDED: N_("Refunded"),
    ReturnStatus.REFUND_REFUSED: N_("Refund refused: goods damaged"),
}
assert set(STATUS_LABELS) == set(ReturnStatus)

REASON_LABELS: dict[str, str] = {
    ReturnReason.CHANGED_MIND: N_("Changed my mind (no reason needed)"),
    ReturnReason.NOT_AS_DESCRIBED: N_("Not as described"),
    ReturnReason.WRONG_ITEM: N_("Wrong item"),
    ReturnReason.DEFECTIVE: N_("Defective (quality problem)"),
    ReturnReason.OTHER: N_("Other"),
}
assert set(REASON_LABELS) == set(ReturnReason)

CONDITION_LABELS: dict[str, str] = {
    GoodsCondition.INTACT: N_("Intact"),
    GoodsCondition.DAMAGED: N_("Damaged"),
}
assert set(CONDITION_LABELS) == set(GoodsCondition)


def present_return(row: ReturnRequest) -> ReturnOut:
    return ReturnOut.from_row(row, deadline=deadline_of(row))


@dataclass(frozen=True)
class Clock:
    """A deadline as a page shows it: when, how long is left, and whether it has passed."""

    at: datetime
    left: Message
    overdue: bool


def countdown(deadline: datetime | None, now: datetime | None = None) -> Clock | None:
    if deadline is None:
        return None
    left = deadline - (now or clock.now())
    if left.total_seconds() <= 0:
        return Clock(deadline, Message(N_("overdue")), overdue=True)
    hours = int(left.total_seconds() // 3600)
    if hours >= 24:
        text = Message(N_("{days} d {hours} h left"), {"days": hours // 24, "hours": hours % 24})
    else:
        minutes = int(left.total_seconds() // 60) % 60
        text = Message(N_("{hours} h {minutes} min left"), {"hours": hours, "minutes": minutes})
    return Clock(deadline, text, overdue=False)


def clock_of(row: ReturnRequest) -> Clock | None:
    found = countdown(deadline_of(row))
    if found is None and row.refund_overdue and row.status == ReturnStatus.RECEIVED:
        assert row.refund_due_at is not None
        return Clock(row.refund_due_at, Message(N_("overdue")), overdue=True)
    return found


async def photo_response(
    request: Request, session: AsyncSession, actor: Actor, return_id: int, file_id: int
) -> Response:
    """A receipt photo of the resident's own return, served privately (404 otherwise)."""
    await returns.own_return_photo(session, actor, return_id, file_id)
    content = await files.file_content(session, request.app.state.file_store, file_id)
    if content is None:
        raise NotFound(N_("No such file."))
    return attachment_response(content)
