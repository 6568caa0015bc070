"""What the merchant's studio (pages.py) and the group leader's (leader_pages.py) share: their
forms read into the API's schemas' fields (a streamer's identity, a room's schedule, goods at a
stream price), the studio shown again with a failed form, and a room's studio page and actions.
Each studio still checks who may do what before calling these; `leader` says whose room it is
(the services' own `leader` flag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli import forms
from linli.authz import Actor
from linli.errors import DomainError
from linli.i18n import _
from linli.live import channel, service, statistics
from linli.live.models import ChatMessage, Room
from linli.live.presenters import REMOVAL_LABELS, ROOM_STATUS_LABELS
from linli.live.presenters import removal_reason as _reason
from linli.live.presenters import whole_id as _whole_id
from linli.live.states import RoomStatus

# A room action's work and the flash it ends with.
Action = tuple[Callable[[], Awaitable[Any]], str]


def streamer_fields(form: dict[str, str]) -> dict[str, Any]:
    """A streamer registration's identity, as `StreamerIn` and `LeaderStreamerIn` take it."""
    return {
        "real_name": form.get("real_name", ""),
        "identity_number": form.get("identity_number", "").strip(),
        "guardian_name": form.get("guardian_name", "").strip() or None,
        "guardian_consent": form.get("guardian_consent") == "on",
    }


def room_fields(form: dict[str, str]) -> dict[str, Any]:
    """A room's title and schedule, as `RoomIn` and `LeaderRoomIn` take them."""
    start, end = forms.local_datetimes(form, "scheduled_start", "scheduled_end")
    return {
        "title": form.get("title", ""),
        "description": form.get("description", ""),
        "scheduled_start": start,
        "scheduled_end": end,
    }


def goods_fields(form: dict[str, str]) -> dict[str, Any]:
    """Goods at a stream price (yuan as typed), as `GoodsIn` takes them."""
    problems = forms.Problems()
    raw = form.get("price", "")
    price = problems.check(partial(forms.fen, raw, "stream_price_fen"), raw)
    problems.raise_any()
    return {
        "sku_id": forms.whole(form.get("sku_id", "")),
        "stream_price_fen": price,
        "stock": forms.whole(form.get("stock", "")),
        "per_buyer_limit": forms.whole(form.get("per_buyer_limit", "5")),
    }


def redisplay(
    page: Callable[..., Awaitable[Response]], form: dict[str, str]
) -> Callable[[DomainError], Awaitable[Response]]:
    """`on_error` for a studio form: the studio `page` again with the form as typed, except the
    identity number (never echoed), and the error."""
    typed = {k: v for k, v in form.items() if k != "identity_number"}
    return lambda error: page(form=typed, error=error, status_code=error.status_code)


async def room_context(
    request: Request, session: AsyncSession, actor: Actor, own: Room, *, leader: bool
) -> dict[str, Any]:
    """The studio room page's chat, broadcast settings and statistics (once it went live)."""
    messages = (
        await session.scalars(
            select(ChatMessage)
            .where(ChatMessage.room_id == own.id)
            .order_by(ChatMessage.id.desc())
            .limit(50)
        )
    ).all()
    host = request.url.hostname or "localhost"
    settings = request.app.state.settings
    figures = None
    if own.status != RoomStatus.SCHEDULED:
        figures = await statistics.room_statistics(session, actor, own.id, leader=leader)
    return {
        "messages": messages,
        "labels": ROOM_STATUS_LABELS,
        "removal_labels": REMOVAL_LABELS,
        "rtmp_url": settings.media_rtmp_url or f"rtmp://{host}/live",
        "media_server": settings.media_enabled,
        "statistics": figures,
    }


def room_actions(
    session: AsyncSession, actor: Actor, room_id: int, form: dict[str, str], *, leader: bool
) -> dict[str, Action]:
    """The studio room's buttons but "start": pause, resume, end, unpin, pin, remove."""
    return {
        "pause": (lambda: service.pause(session, actor, room_id, leader=leader), _("Paused.")),
        "resume": (
            lambda: service.resume(session, actor, room_id, leader=leader),
            _("Live again."),
        ),
        "end": (
            lambda: service.end(session, actor, room_id, leader=leader),
            _("Ended; unsold stock returned."),
        ),
        "unpin": (lambda: service.unpin(session, actor, room_id, leader=leader), _("Unpinned.")),
        "pin": (
            lambda: service.pin(
                session, actor, room_id, _whole_id(form.get("goods_id", "")), leader=leader
            ),
            _("Pinned: on sale now."),
        ),
        "remove": (
            lambda: channel.remove_message(
                session,
                actor,
                room_id,
                _whole_id(form.get("message_id", "")),
                _reason(form.get("reason", "")),
                form.get("note", "").strip()[:200],
                leader=leader,
            ),
            _("Message removed."),
        ),
    }
