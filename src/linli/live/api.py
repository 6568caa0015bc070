"""JSON routes for live selling under /api/v1/live: the schedule, rooms and replays (anyone
reads), merchants' streamers, rooms, goods, sessions and pins, the platform's bans, and
viewers' orders of the pinned goods (docs/live.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import RedirectResponse

from linli.apitypes import PageSize, PathId
from linli.authz import (
    LIVE_MANAGE,
    LIVE_READ,
    LIVE_STREAMERS_MANAGE,
    PLATFORM_LIVE,
    Actor,
    current_actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.live import (
    channel,
    checkout,
    fulfilment,
    media,
    policies,
    presenters,
    recordings,
    service,
    statistics,
    streamers,
)
from linli.live.schemas import (
    AdReviewIn,
    ChatMessageOut,
    GoodsIn,
    GoodsOut,
    LeaderRoomIn,
    LeaderStreamerIn,
    LiveOrderIn,
    LiveOrderOut,
    MuteIn,
    MuteOut,
    MyLiveOrderOut,
    PaymentOut,
    PinIn,
    PinOut,
    ReasonIn,
    RecordingOut,
    RemovalIn,
    ReplayOut,
    RoomIn,
    RoomOut,
    SessionOut,
    StartedOut,
    StatisticsOut,
    StreamerIn,
    StreamerOut,
)
from linli.payments import providers

router = APIRouter(prefix="/api/v1/live", tags=["live"], responses=ERROR_RESPONSES)
Anyone = Annotated[Actor, Depends(current_actor)]
Viewer = Annotated[Actor, Depends(require_scope("resident"))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
Reader = Annotated[Actor, Depends(require(LIVE_READ))]
Manager = Annotated[Actor, Depends(require(LIVE_MANAGE))]
Owner = Annotated[Actor, Depends(require(LIVE_STREAMERS_MANAGE))]
Platform = Annotated[Actor, Depends(require(PLATFORM_LIVE))]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="8 to 64 printable ASCII characters; the same key returns the same order",
    ),
]


# --- anyone ---------------------------------------------------------------------------------


@router.get(
    "/rooms",
    summary="Rooms live now and upcoming (the schedule), soonest first; a group leader's "
    "room only for the residents of its pickup point",
)
async def schedule(session: DbSession, actor: Anyone, limit: PageSize = 50) -> list[RoomOut]:
    return await presenters.rooms_out(
        session, await service.schedule(session, limit=limit, viewer_user_id=actor.user_id)
    )


@router.get("/rooms/{room_id}", summary="A room with its goods, pin and seller's licences")
async def room(room_id: PathId, session: DbSession, actor: Anyone) -> RoomOut:
    return await presenters.room_out(
        session, await policies.access_public_room(session, room_id, actor.user_id)
    )


@router.get("/replays", summary="Ended rooms, newest first")
async def replays(session: DbSession, actor: Anyone, limit: PageSize = 50) -> list[RoomOut]:
    return await presenters.rooms_out(
        session, await service.replays(session, limit=limit, viewer_user_id=actor.user_id)
    )


@router.get(
    "/replays/{room_id}",
    summary="A replay: the room, its sessions, pin timestamps and recordings (MP4)",
)
async def replay(room_id: PathId, session: DbSession, actor: Anyone) -> ReplayOut:
    found = await policies.access_public_room(session, room_id, actor.user_id)
    sessions, pins = await service.sessions_and_pins(session, found.id)
    return ReplayOut(
        room=await presenters.room_out(session, found),
        sessions=[SessionOut.model_validate(s) for s in sessions],
        pins=[PinOut.model_validate(p) for p in pins],
        recordings=[
            RecordingOut.from_row(r, url=f"/live/{found.id}/recordings/{r.id}.mp4")
            for r in await recordings.ready_recordings(session, found.id)
        ],
    )


# --- viewers --------------------------------------------------------------------------------


@router.get(
    "/orders", summary="My live orders, newest first, each with its room, delivery and replay"
)
async def my_orders(
    session: DbSession, actor: Viewer, limit: PageSize = 50
) -> list[MyLiveOrderOut]:
    # With delivery and the replay link (docs/live.md "Delivery"; fulfilment.my_orders).
    return [
        presenters.live_order_out(view)
        for view in await fulfilment.my_orders(session, actor, limit=limit)
    ]


@router.post(
    "/rooms/{room_id}/orders",
    status_code=201,
    summary="Buy the pinned goods at the stream price (idempotent: the same key, 200)",
    responses={200: {"model": LiveOrderOut, "description": "The order placed with this key"}},
)
async def place_order(
    room_id: PathId,
    body: LiveOrderIn,
    session: DbSession,
    actor: Viewer,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> LiveOrderOut:
    placed = await checkout.place_order(session, actor, room_id, body, idempotency_key)
    if not placed.created:
        response.status_code = 200
    intent = placed.intent
    return LiveOrderOut.from_row(
        placed.order,
        payment=PaymentOut.from_row(
            intent, pay_url=providers.get(intent.provider).checkout_url(intent)
        )
        if intent is not None
        else None,
    )


# --- merchants ------------------------------------------------------------------------------


@router.get("/merchant/streamers", summary="The organisation's streamers")
async def my_streamers(session: DbSession, actor: Reader) -> list[StreamerOut]:
    return [StreamerOut.model_validate(s) for s in await streamers.own_streamers(session, actor)]


@router.post(
    "/merchant/streamers", status_code=201, summary="Register a real-name verified streamer"
)
async def register_streamer(
    body: StreamerIn, request: Request, session: DbSession, actor: Owner
) -> StreamerOut:
    key = request.app.state.settings.resolved_secret_key()
    return StreamerOut.model_validate(
        await streamers.register(session, actor, body, identity_key=key)
    )


@router.get("/merchant/rooms", summary="The organisation's rooms, newest first")
async def my_rooms(session: DbSession, actor: Reader, limit: PageSize = 50) -> list[RoomOut]:
    return await presenters.rooms_out(
        session, await service.merchant_rooms(session, actor, limit=limit)
    )


@router.get(
    "/merchant/rooms/{room_id}/statistics",
    summary="The stream's statistics: viewers, peak, likes, orders, GMV, conversion",
)
async def room_statistics(room_id: PathId, session: DbSession, actor: Reader) -> StatisticsOut:
    return _statistics_out(await statistics.room_statistics(session, actor, room_id))


def _statistics_out(found: statistics.RoomStatistics) -> StatisticsOut:
    return StatisticsOut(
        room_id=found.room_id,
        on_air_seconds=int(found.on_air.total_seconds()),
        connections=found.connections,
        viewers=found.viewers,
        peak_viewers=found.peak_viewers,
        likes=found.likes,
        orders=found.orders,
        units=found.units,
        gmv_fen=found.gmv_fen,
        buyers=found.buyers,
        conversion=found.conversion,
    )


@router.post("/merchant/rooms", status_code=201, summary="Schedule a room (30 min to 24 h)")
async def create_room(body: RoomIn, session: DbSession, actor: Manager) -> RoomOut:
    return presenters.present_room(await service.create_room(session, actor, body), [])


@router.get("/merchant/rooms/{room_id}", summary="One of the organisation's rooms")
async def my_room(room_id: PathId, session: DbSession, actor: Reader) -> RoomOut:
    return await presenters.room_out(
        session, await policies.access_own_room(session, actor, room_id)
    )


@router.post(
    "/merchant/rooms/{room_id}/goods",
    status_code=201,
    summary="Offer a SKU at a stream price; its stream stock is reserved from the SKU",
)
async def add_goods(room_id: PathId, body: GoodsIn, session: DbSession, actor: Manager) -> GoodsOut:
    return GoodsOut.model_validate(await service.add_goods(session, actor, room_id, body))


@router.post(
    "/merchant/rooms/{room_id}/ad-review",
    summary="Record the advertising pre-review of regulated goods",
)
async def ad_review(
    room_id: PathId, body: AdReviewIn, session: DbSession, actor: Manager
) -> RoomOut:
    found = await service.record_ad_review(session, actor, room_id, body.reference)
    return await presenters.room_out(session, found)


@router.post(
    "/merchant/rooms/{room_id}/start", summary="Go live: a session and its stream key (shown once)"
)
async def start(room_id: PathId, session: DbSession, actor: Manager) -> StartedOut:
    return _started_out(await service.start(session, actor, room_id))


def _started_out(started: service.Started) -> StartedOut:
    return StartedOut(
        session=SessionOut.model_validate(started.session), stream_key=started.stream_key
    )


@router.post("/merchant/rooms/{room_id}/pause", summary="Pause the live room (no buying)")
async def pause(room_id: PathId, session: DbSession, actor: Manager) -> RoomOut:
    return await presenters.room_out(session, await service.pause(session, actor, room_id))


@router.post("/merchant/rooms/{room_id}/resume", summary="Resume a paused room")
async def resume(room_id: PathId, session: DbSession, actor: Manager) -> RoomOut:
    return await presenters.room_out(session, await service.resume(session, actor, room_id))


@router.post(
    "/merchant/rooms/{room_id}/end",
    summary="End the room; unsold stream stock goes back to the SKUs",
)
async def end(room_id: PathId, session: DbSession, actor: Manager) -> RoomOut:
    return await presenters.room_out(session, await service.end(session, actor, room_id))


@router.post(
    "/merchant/rooms/{room_id}/pin",
    summary="Pin goods (on sale now); refused while another is pinned",
)
async def pin(room_id: PathId, body: PinIn, session: DbSession, actor: Manager) -> PinOut:
    return PinOut.model_validate(await service.pin(session, actor, room_id, body.goods_id))


@router.post("/merchant/rooms/{room_id}/unpin", summary="Take the pinned goods off sale")
async def unpin(room_id: PathId, session: DbSession, actor: Manager) -> RoomOut:
    return await presenters.room_out(session, await service.unpin(session, actor, room_id))


@router.post(
    "/merchant/rooms/{room_id}/chat/{message_id}/remove",
    summary="Remove a chat message with a recorded reason (never for being negative)",
)
async def remove_message(
    room_id: PathId, message_id: PathId, body: RemovalIn, session: DbSession, actor: Manager
) -> ChatMessageOut:
    removed = await channel.remove_message(
        session, actor, room_id, message_id, body.reason, body.note
    )
    return ChatMessageOut.model_validate(removed)


@router.post("/merchant/rooms/{room_id}/mutes", summary="Mute a viewer in the room for a while")
async def mute(room_id: PathId, body: MuteIn, session: DbSession, actor: Manager) -> MuteOut:
    muted = await channel.mute(session, actor, room_id, body.user_id, body.minutes, body.reason)
    return MuteOut.model_validate(muted)


# --- platform -------------------------------------------------------------------------------


@router.post("/platform/rooms/{room_id}/ban", summary="Ban a room (it ends at once)")
async def ban(room_id: PathId, body: ReasonIn, session: DbSession, actor: Platform) -> RoomOut:
    return await presenters.room_out(
        session, await service.ban(session, actor, room_id, body.reason)
    )


@router.post("/platform/streamers/{streamer_id}/suspend", summary="Suspend a streamer")
async def suspend(
    streamer_id: PathId, body: ReasonIn, session: DbSession, actor: Platform
) -> StreamerOut:
    return StreamerOut.model_validate(
        await streamers.suspend(session, actor, streamer_id, body.reason)
    )


@router.post(
    "/platform/streamers/{streamer_id}/blacklist",
    summary="Bar the streamer's identity from streaming (every account with it)",
)
async def blacklist(
    streamer_id: PathId, body: ReasonIn, session: DbSession, actor: Platform
) -> StreamerOut:
    return StreamerOut.model_validate(
        await streamers.blacklist(session, actor, streamer_id, body.reason)
    )


# --- rooms of group leaders (docs/live.md "Leader rooms") ------------------------------------


@router.post(
    "/leader/streamer",
    status_code=201,
    summary="Register myself (a group leader) as a real-name verified streamer",
)
async def register_leader_streamer(
    body: LeaderStreamerIn, request: Request, session: DbSession, actor: Leader
) -> StreamerOut:
    key = request.app.state.settings.resolved_secret_key()
    return StreamerOut.model_validate(
        await streamers.register_leader(session, actor, body, identity_key=key)
    )


@router.get("/leader/rooms", summary="My rooms as a group leader, latest first")
async def leader_rooms(session: DbSession, actor: Leader, limit: PageSize = 50) -> list[RoomOut]:
    return await presenters.rooms_out(
        session, await service.leader_rooms_of(session, actor, limit=limit)
    )


@router.post(
    "/leader/rooms",
    status_code=201,
    summary="Schedule a room for the residents of a pickup point I lead",
)
async def create_leader_room(body: LeaderRoomIn, session: DbSession, actor: Leader) -> RoomOut:
    return presenters.present_room(await service.create_leader_room(session, actor, body), [])


@router.get("/leader/rooms/{room_id}", summary="One of my rooms as a group leader")
async def leader_room(room_id: PathId, session: DbSession, actor: Leader) -> RoomOut:
    return await presenters.room_out(
        session, await policies.access_leader_room(session, actor, room_id)
    )


@router.post(
    "/leader/rooms/{room_id}/start", summary="Go live: a session and its stream key (shown once)"
)
async def leader_start(room_id: PathId, session: DbSession, actor: Leader) -> StartedOut:
    return _started_out(await service.start(session, actor, room_id, leader=True))


@router.post("/leader/rooms/{room_id}/pause", summary="Pause my live room (no buying)")
async def leader_pause(room_id: PathId, session: DbSession, actor: Leader) -> RoomOut:
    found = await service.pause(session, actor, room_id, leader=True)
    return await presenters.room_out(session, found)


@router.post("/leader/rooms/{room_id}/resume", summary="Resume my paused room")
async def leader_resume(room_id: PathId, session: DbSession, actor: Leader) -> RoomOut:
    found = await service.resume(session, actor, room_id, leader=True)
    return await presenters.room_out(session, found)


@router.post(
    "/leader/rooms/{room_id}/end",
    summary="End my room; unsold stream stock goes back to the merchants' SKUs",
)
async def leader_end(room_id: PathId, session: DbSession, actor: Leader) -> RoomOut:
    found = await service.end(session, actor, room_id, leader=True)
    return await presenters.room_out(session, found)


@router.post("/leader/rooms/{room_id}/pin", summary="Pin goods of my room (on sale now)")
async def leader_pin(room_id: PathId, body: PinIn, session: DbSession, actor: Leader) -> PinOut:
    found = await service.pin(session, actor, room_id, body.goods_id, leader=True)
    return PinOut.model_validate(found)


@router.post("/leader/rooms/{room_id}/unpin", summary="Take the pinned goods off sale")
async def leader_unpin(room_id: PathId, session: DbSession, actor: Leader) -> RoomOut:
    found = await service.unpin(session, actor, room_id, leader=True)
    return await presenters.room_out(session, found)


@router.post(
    "/leader/rooms/{room_id}/chat/{message_id}/remove",
    summary="Remove a chat message of my room with a recorded reason (never for being negative)",
)
async def leader_remove_message(
    room_id: PathId, message_id: PathId, body: RemovalIn, session: DbSession, actor: Leader
) -> ChatMessageOut:
    removed = await channel.remove_message(
        session, actor, room_id, message_id, body.reason, body.note, leader=True
    )
    return ChatMessageOut.model_validate(removed)


@router.post("/leader/rooms/{room_id}/mutes", summary="Mute a viewer in my room for a while")
async def leader_mute(room_id: PathId, body: MuteIn, session: DbSession, actor: Leader) -> MuteOut:
    muted = await channel.mute(
        session, actor, room_id, body.user_id, body.minutes, body.reason, leader=True
    )
    return MuteOut.model_validate(muted)


@router.get(
    "/leader/rooms/{room_id}/statistics",
    summary="My room's statistics: viewers, peak, likes, orders, GMV, conversion",
)
async def leader_statistics(room_id: PathId, session: DbSession, actor: Leader) -> StatisticsOut:
    return _statistics_out(await statistics.room_statistics(session, actor, room_id, leader=True))


@router.get(
    "/merchant/leader-rooms",
    summary="Open rooms of the group leaders the organisation has an accepted agreement with",
)
async def supplied_rooms(session: DbSession, actor: Reader, limit: PageSize = 50) -> list[RoomOut]:
    return await presenters.rooms_out(
        session, await service.supplied_rooms(session, actor, limit=limit)
    )


@router.post(
    "/merchant/leader-rooms/{room_id}/goods",
    status_code=201,
    summary="Supply a SKU of ours to a group leader's room (an accepted agreement with them)",
)
async def supply_goods(
    room_id: PathId, body: GoodsIn, session: DbSession, actor: Manager
) -> GoodsOut:
    return GoodsOut.model_validate(await service.supply_goods(session, actor, room_id, body))


# --- the media server (nginx RTMP callbacks) ----------------------------------------------


@router.post(
    "/media/on_publish",
    summary="nginx-rtmp on_publish: a valid stream key is renamed to its room (302), else 403",
    responses={302: {"description": "Publish as room-<id>"}},
)
async def on_publish(request: Request, session: DbSession) -> Response:
    form = await request.form()
    name = form.get("name")
    room_id = await media.authorise_publish(session, name if isinstance(name, str) else None)
    return RedirectResponse(media.stream_name(room_id), status_code=302)


@router.post(
    "/media/on_publish_done",
    status_code=204,
    summary="nginx-rtmp on_publish_done: the publisher stopped; the live room pauses",
)
async def on_publish_done(request: Request, session: DbSession) -> None:
    form = await request.form()
    name = form.get("name")
    await media.publish_done(session, name if isinstance(name, str) else None)


@router.post(
    "/media/on_record_done",
    status_code=204,
    summary="nginx-rtmp on_record_done: a recording was closed; it becomes the room's replay",
)
async def on_record_done(request: Request, session: DbSession) -> None:
    media.check_callback_secret(
        request.query_params.get("secret"), request.app.state.settings.media_callback_secret()
    )
    form = await request.form()
    path = form.get("path")
    await recordings.record_done(session, path if isinstance(path, str) else None)
