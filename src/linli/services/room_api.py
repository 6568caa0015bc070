"""The online session room's routes (docs/services.md, "Session room"): the signalling
WebSocket behind a join link, the practitioner's real-name check before a session, and a
no-show the provider marks.

The WebSocket `/api/v1/services/join/{token}/ws` opens with the checks of the room page
(`join.open_room`: a link signed for the logged-in user, a party to a live online booking,
from 15 minutes before the start to the end; the practitioner after their real-name check),
then records the connection's join and leave times (attendance) and relays WebRTC signalling
between the practitioner and each client. Frames are size-limited (MAX_FRAME) and
rate-limited (MESSAGES per WINDOW seconds per connection; opening the socket CONNECTS per
minute per user and slot). A cross-site page cannot open it with the party's cookie: the
Origin, when sent, must be this host. It closes at the session's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect

from linli import clock, ratelimit
from linli.apitypes import PathId
from linli.authz import SERVICES_MANAGE, Actor, current_actor, require, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import DomainError, Forbidden, TooManyRequests
from linli.i18n import N_
from linli.services import booking, join, room
from linli.services.relay import Peer, Relay
from linli.services.schemas import BookingOut, IdentityCheckOut, IdentityIn

router = APIRouter(prefix="/api/v1/services", tags=["services"], responses=ERROR_RESPONSES)
Manager = Annotated[Actor, Depends(require(SERVICES_MANAGE))]
Member = Annotated[Actor, Depends(require_scope("org:write"))]

MAX_FRAME = 16384  # bytes of one incoming message (an SDP offer is a few kilobytes)
MESSAGES = 200  # per connection and WINDOW: a negotiation's ICE candidates, with room to spare
WINDOW = 10.0  # seconds
CONNECTS = 30  # sockets a user may open to one session's room in a minute
TICK = room.SEEN_EVERY.total_seconds()  # the connection's "last seen" refresh, and end check


def _secret(app: Any) -> str:
    return str(app.state.settings.resolved_secret_key())


def relay_of(app: Any) -> Relay:
    """The app's relay (made at its first room connection)."""
    found = getattr(app.state, "services_relay", None)
    if found is None:
        found = app.state.services_relay = Relay(app.state.sessionmaker)
    return found


async def _actor(websocket: WebSocket, session: Any) -> Actor:
    shim = Request({**websocket.scope, "type": "http", "method": "GET"})
    return await current_actor(shim, session)


def _error(code: str, error: DomainError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"type": "error", **error.body()["error"]}
    return {"type": "error", "code": code, "message": "", "fields": {}}


async def _open(websocket: WebSocket, token: str) -> tuple[join.Room, Actor, int]:
    """The checks of the room page, the practitioner's real-name check, the connect limit;
    then the connection's attendance row."""
    app = websocket.app
    # Who asks, in a reading transaction: on SQLite a bearer token's "last used" time is
    # written in a transaction of its own, which would wait behind a writing one held here.
    async with app.state.reading_sessionmaker() as session:
        actor = await _actor(websocket, session)
        if not (actor.has_scope("resident") or actor.has_scope("org:read")):
            # a bearer token as for the join link's API (a browser's cookie has them all)
            raise Forbidden(N_("This token lacks the {scope} scope."), scope="resident, org:read")
        opened = await join.open_room(session, actor, _secret(app), token[:200])
        if not opened.identity_checked:
            raise room.identity_required()
        session.expunge(opened.booking)  # read after this transaction
    user_id = actor.require_user_id()
    async with app.state.sessionmaker() as session:
        try:
            hit = await ratelimit.hit(
                session,
                "services.room.connect",
                f"{opened.booking.slot_id}:{user_id}",
                limit=CONNECTS,
                window=timedelta(minutes=1),
            )
            if hit.exceeded:
                raise TooManyRequests(
                    N_("Too many connections to this session: wait a moment."),
                    code="room_rate_limited",
                    keep_changes=True,
                )
            role = room.PRACTITIONER if opened.as_practitioner else room.CLIENT
            attendance = await room.joined(session, opened.booking, user_id, role)
            await session.commit()
        except DomainError as error:
            if error.keep_changes:
                await session.commit()
            raise
    return opened, actor, attendance


@router.websocket("/join/{token}/ws")
async def room_socket(websocket: WebSocket, token: str) -> None:
    origin = websocket.headers.get("origin")
    if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
        await websocket.close(code=4403)
        return
    await websocket.accept()
    app = websocket.app
    relay = relay_of(app)
    await relay.ready()
    try:
        opened, actor, attendance = await _open(websocket, token)
    except DomainError as error:
        relay.abort()
        # Told why (the page shows it), then closed: 4000 + the HTTP status.
        await websocket.send_json(_error(error.code, error))
        await websocket.close(code=4000 + error.status_code)
        return
    except BaseException:
        relay.abort()
        raise
    assert actor.user is not None
    peer = Peer(
        slot_id=opened.booking.slot_id,
        attendance_id=attendance,
        role=room.PRACTITIONER if opened.as_practitioner else room.CLIENT,
        name=actor.user.display_name,
    )
    try:
        others = await relay.join(peer)
        await websocket.send_json(
            {
                "type": "hello",
                "you": peer.public(),
                "peers": others,
                "ice_servers": app.state.settings.services_ice_servers,
                "ends_at": opened.booking.ends_at.isoformat(),
            }
        )
        await _serve(websocket, relay, peer, opened, attendance)
    except (WebSocketDisconnect, RuntimeError):  # dropped while sending: its interval ends
        pass
    finally:
        async with app.state.sessionmaker() as session:
            await room.left(session, attendance)
            await session.commit()
        await relay.leave(peer)


async def _serve(
    websocket: WebSocket, relay: Relay, peer: Peer, opened: join.Room, attendance: int
) -> None:
    """Relay until the party leaves, the connection drops, or the session ends."""
    app = websocket.app

    async def forward() -> None:
        while True:
            await websocket.send_json(await peer.queue.get())

    sender = asyncio.create_task(forward())
    loop = asyncio.get_running_loop()
    window_start, count, refused = loop.time(), 0, 0
    last_seen = loop.time()
    try:
        while True:
            remaining = (opened.booking.ends_at - clock.now()).total_seconds()
            if remaining <= 0:
                await websocket.send_json({"type": "ended"})
                await websocket.close(code=1000)
                return
            try:
                message = await asyncio.wait_for(websocket.receive(), min(TICK, remaining))
            except TimeoutError:
                message = None
            if loop.time() - last_seen >= TICK:
                last_seen = loop.time()
                async with app.state.sessionmaker() as session:
                    await room.seen(session, attendance)
                    await session.commit()
            if message is None:
                continue
            if message["type"] == "websocket.disconnect":
                return
            now = loop.time()
            if now - window_start >= WINDOW:
                window_start, count = now, 0
            count += 1
            if count > MESSAGES:
                refused += 1
                if refused > MESSAGES:  # a flood, not a burst: the connection goes
                    await websocket.close(code=4429)
                    return
                await websocket.send_json(_error("rate_limited"))
                continue
            reply = await _handle(relay, peer, message.get("text"))
            if reply is not None:
                await websocket.send_json(reply)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _handle(relay: Relay, peer: Peer, raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return _error("unknown_message")
    if len(raw.encode()) > MAX_FRAME:
        return _error("message_too_large")
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("type") != "signal":
        return _error("unknown_message")
    to = message.get("to")
    data = message.get("data")
    if not isinstance(to, str) or not isinstance(data, dict):
        return _error("unknown_message")
    if not await relay.signal(peer, to, data):
        return _error("no_such_peer")
    return None


@router.post(
    "/provider/slots/{slot_id}/identity",
    status_code=201,
    summary="The slot's practitioner confirms their real name before the session (once)",
)
async def confirm_identity(
    slot_id: PathId, data: IdentityIn, session: DbSession, actor: Member
) -> IdentityCheckOut:
    row = await room.confirm_identity(
        session, actor, slot_id, data.real_name, data.credential_last4
    )
    return IdentityCheckOut.model_validate(row)


@router.post(
    "/provider/bookings/{booking_id}/no-show",
    summary="Mark a client who did not attend a no-show (nothing is released for the class)",
)
async def no_show(booking_id: PathId, session: DbSession, actor: Manager) -> BookingOut:
    return BookingOut.model_validate(await booking.mark_no_show(session, actor, booking_id))
