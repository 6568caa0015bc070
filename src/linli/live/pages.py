"""Live-selling pages: the schedule and the live room (anyone; buying and chat for logged-in
viewers), the merchant's studio (streamers, rooms, goods, stream key and how to connect OBS,
start, pin, unpin, pause, end, chat moderation)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import LIVE_MANAGE, LIVE_STREAMERS_MANAGE, Actor, current_actor, require_user
from linli.catalog import offers
from linli.db import DbSession
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.i18n import N_, _
from linli.live import (
    checkout,
    fulfilment,
    media,
    policies,
    presenters,
    recordings,
    service,
    statistics,
    streamers,
    studios,
)
from linli.live.presenters import ROOM_STATUS_LABELS
from linli.live.schemas import GoodsIn, LiveOrderIn, ReasonIn, RoomIn, StreamerIn
from linli.live.states import LiveOrderStatus, RoomStatus
from linli.middleware import SecurityHeadersMiddleware
from linli.payments import providers
from linli.web import form_action, form_data, redirect, render, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]

ORDER_STATUS_LABELS = {
    LiveOrderStatus.PENDING_PAYMENT: N_("Awaiting payment"),
    LiveOrderStatus.PAID: N_("Paid"),
    LiveOrderStatus.CANCELLED: N_("Cancelled"),
}
assert set(ORDER_STATUS_LABELS) == set(LiveOrderStatus)


# --- anyone ---------------------------------------------------------------------------------


@router.get("/live")
async def schedule(request: Request, session: DbSession, actor: AnyActor) -> Response:
    viewer = actor.user_id
    upcoming = await presenters.rooms_out(
        session, await service.schedule(session, limit=50, viewer_user_id=viewer)
    )
    ended = await presenters.rooms_out(
        session, await service.replays(session, limit=20, viewer_user_id=viewer)
    )
    return render(
        request,
        "live/schedule.html",
        {"rooms": upcoming, "replays": ended, "labels": ROOM_STATUS_LABELS},
        actor=actor,
    )


async def _room_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    room_id: int,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    room = await presenters.room_out(
        session, await policies.access_public_room(session, room_id, actor.user_id)
    )
    sessions, pins = await service.sessions_and_pins(session, room.id)
    pinned = next((g for g in room.goods if g.id == room.pinned_goods_id), None)
    settings = request.app.state.settings
    hls_src = None
    if settings.media_enabled and room.status == RoomStatus.LIVE:
        hls_src = f"{settings.media_hls_url.rstrip('/')}/{media.stream_name(room.id)}.m3u8"
    page = render(
        request,
        "live/room.html",
        {
            "room": room,
            "pinned": pinned,
            "pins": pins,
            "sessions": sessions,
            "goods_by_id": {g.id: g for g in room.goods},
            "labels": ROOM_STATUS_LABELS,
            # Without a media server (LINLI_MEDIA_HLS_URL) the video area says how to get one.
            "media_server": settings.media_enabled,
            "hls_src": hls_src,
            "replays": await recordings.ready_recordings(session, room.id),
            "order_key": secrets.token_urlsafe(18),
            "last_delivery": await fulfilment.last_delivery(session, actor),
            "home_point": await fulfilment.home_point(session, actor),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )
    if settings.media_enabled:
        page.headers["content-security-policy"] = _video_policy(settings.media_hls_url)
    return page


def _video_policy(hls_url: str) -> str:
    """The site's Content-Security-Policy, letting the room's player fetch the media server's
    playlists and segments (its origin, when another) and play them through Media Source
    Extensions (`blob:` URLs)."""
    parts = urlsplit(hls_url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    base = SecurityHeadersMiddleware.HEADERS["content-security-policy"]
    return f"{base}; media-src 'self' blob: {origin}".rstrip() + (
        f"; connect-src 'self' {origin}".rstrip()
    )


@router.get("/live/{room_id}/recordings/{recording_id}.mp4")
async def recording_file(
    room_id: PathId, recording_id: PathId, session: DbSession, actor: AnyActor
) -> Response:
    """A replay of the room (MP4; byte ranges, so the player seeks)."""
    await policies.access_public_room(session, room_id, actor.user_id)
    path = await recordings.replay_file(session, room_id, recording_id)
    return FileResponse(path, media_type="video/mp4")


@router.get("/live/orders")
async def my_orders(request: Request, session: DbSession, actor: User_) -> Response:
    """The resident's live orders, each with the room it was bought in, its delivery (address
    form until shipped, tracking, receipt) and the replay link (docs/live.md "Delivery")."""
    return render(
        request,
        "live/orders.html",
        {
            "orders": await fulfilment.my_orders(session, actor, limit=100),
            "labels": ORDER_STATUS_LABELS,
            "fulfilment_labels": fulfilment.FULFILMENT_LABELS,
            "carriers": fulfilment.CARRIERS,
        },
        actor=actor,
    )


@router.get("/live/{room_id}")
async def room_page(
    room_id: PathId, request: Request, session: DbSession, actor: AnyActor
) -> Response:
    return await _room_page(request, session, actor, room_id)


@router.post("/live/{room_id}/buy")
async def buy(room_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)

    async def place() -> checkout.Placed:
        body = validate_form(
            LiveOrderIn,
            {
                "goods_id": forms.whole(form.get("goods_id", "")),
                "quantity": forms.whole(form.get("quantity", "1")),
                "pickup": form.get("receive") == "pickup",
                "delivery": None
                if form.get("receive") == "pickup"
                else fulfilment.delivery_fields(form),
            },
        )
        return await checkout.place_order(session, actor, room_id, body, form.get("key", ""))

    placed = await form_action(
        session,
        place,
        on_error=lambda error: _room_page(
            request, session, actor, room_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(placed, Response):
        return placed
    intent = placed.intent
    if intent is None:
        return redirect(f"/live/{room_id}")
    return redirect(providers.get(intent.provider).checkout_url(intent))


# --- the studio -----------------------------------------------------------------------------


async def _studio_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    rooms = await presenters.rooms_out(
        session, await service.merchant_rooms(session, actor, limit=100)
    )
    return render(
        request,
        "live/studio.html",
        {
            "rooms": rooms,
            "streamers": await streamers.own_streamers(session, actor),
            "may_register": actor.has(LIVE_STREAMERS_MANAGE),
            "labels": ROOM_STATUS_LABELS,
            "form": form or {},
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/live")
async def studio(request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor)
    return await _studio_page(request, session, actor)


@router.post("/merchant/live")
async def create_room(request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor, LIVE_MANAGE)
    form = await form_data(request)

    async def create() -> Any:
        streamer_id = forms.whole(form.get("streamer_id", ""))
        body = {"streamer_id": streamer_id, **studios.room_fields(form)}
        return await service.create_room(session, actor, validate_form(RoomIn, body))

    studio_page = partial(_studio_page, request, session, actor)
    room = await form_action(session, create, on_error=studios.redisplay(studio_page, form))
    if isinstance(room, Response):
        return room
    return redirect(f"/merchant/live/{room.id}", text=_("Room scheduled. Add its goods."))


@router.post("/merchant/live/streamers")
async def register_streamer(request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor, LIVE_STREAMERS_MANAGE)
    form = await form_data(request)
    key = request.app.state.settings.resolved_secret_key()

    async def register() -> Any:
        user_id = forms.whole(form.get("user_id", ""))
        data = validate_form(StreamerIn, {"user_id": user_id, **studios.streamer_fields(form)})
        return await streamers.register(session, actor, data, identity_key=key)

    studio_page = partial(_studio_page, request, session, actor)
    done = await form_action(session, register, on_error=studios.redisplay(studio_page, form))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/live", text=_("Streamer registered."))


async def _studio_room_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    room_id: int,
    *,
    stream_key: str | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    own = await policies.access_own_room(session, actor, room_id)
    room = await presenters.room_out(session, own)
    assert own.organisation_id is not None  # a merchant's own room
    skus = await offers.listed_skus(session, own.organisation_id, limit=200)
    return render(
        request,
        "live/studio_room.html",
        {
            **await studios.room_context(request, session, actor, own, leader=False),
            "room": room,
            "skus": list(skus.values()),
            "stream_key": stream_key,
            "needs_review": any(g.needs_ad_review for g in room.goods),
            "base": "/merchant/live",
            "may_add_goods": True,
            "suppliers": {},
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/live/{room_id}")
async def studio_room(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _studio_room_page(request, session, actor, room_id)


def _failed(request: Request, session: DbSession, actor: Actor, room_id: int) -> Any:
    return lambda error: _studio_room_page(
        request, session, actor, room_id, error=error, status_code=error.status_code
    )


async def _act(
    request: Request,
    session: DbSession,
    actor: Actor,
    room_id: int,
    do: Callable[[], Awaitable[Any]],
    done: str,
) -> Response:
    outcome = await form_action(session, do, on_error=_failed(request, session, actor, room_id))
    if isinstance(outcome, Response):
        return outcome
    return redirect(f"/merchant/live/{room_id}", text=done)


@router.post("/merchant/live/{room_id}/goods")
async def add_goods(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await policies.access_own_room(session, actor, room_id, LIVE_MANAGE)
    form = await form_data(request)

    async def add() -> Any:
        body = validate_form(GoodsIn, studios.goods_fields(form))
        return await service.add_goods(session, actor, room_id, body)

    return await _act(request, session, actor, room_id, add, _("Goods added; stock reserved."))


@router.post("/merchant/live/{room_id}/ad-review")
async def ad_review(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await policies.access_own_room(session, actor, room_id, LIVE_MANAGE)
    form = await form_data(request)

    async def record() -> Any:
        reference = form.get("reference", "").strip()
        if not 4 <= len(reference) <= 80:
            raise ValidationFailed(
                N_("Check the review."), fields={"reference": N_("Enter the review number.")}
            )
        return await service.record_ad_review(session, actor, room_id, reference)

    return await _act(request, session, actor, room_id, record, _("Review recorded."))


@router.post("/merchant/live/{room_id}/start")
async def start(room_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    started = await form_action(
        session,
        lambda: service.start(session, actor, room_id),
        on_error=_failed(request, session, actor, room_id),
    )
    if isinstance(started, Response):
        return started
    # The key is shown once, on this page (never in a redirect or a cookie).
    return await _studio_room_page(request, session, actor, room_id, stream_key=started.stream_key)


@router.post("/merchant/live/{room_id}/{action}")
async def room_action(
    room_id: PathId, action: str, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)
    actions = studios.room_actions(session, actor, room_id, form, leader=False)
    if action not in actions:
        raise NotFound(N_("No such page."))
    await policies.access_own_room(session, actor, room_id, LIVE_MANAGE)
    do, done = actions[action]
    return await _act(request, session, actor, room_id, do, done)


# --- the platform ---------------------------------------------------------------------------


async def _platform_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "live/platform.html",
        {
            "rooms": await statistics.rooms_on_air(session, actor),
            "labels": ROOM_STATUS_LABELS,
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/platform/live")
async def platform_live(request: Request, session: DbSession, actor: User_) -> Response:
    """Rooms on air now, most watched first, with the platform's ban (PLATFORM_LIVE)."""
    return await _platform_page(request, session, actor)


@router.post("/platform/live/{room_id}/ban")
async def platform_ban(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def ban() -> Any:
        body = validate_form(ReasonIn, {"reason": form.get("reason", "").strip()})
        return await service.ban(session, actor, room_id, body.reason)

    done = await form_action(
        session,
        ban,
        on_error=lambda error: _platform_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect("/platform/live", text=_("Room banned; it ended at once."))
