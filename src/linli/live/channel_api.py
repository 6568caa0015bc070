"""The room's WebSocket channel at /api/v1/live/rooms/{room_id}/ws (docs/live.md, "Channel").

Anyone may watch (pin, stock, viewers, likes, chat, status events); writing (chat, likes)
needs a logged-in session (the cookie; or a bearer token with the `resident` scope from
non-browser clients). A cross-site page cannot open it with the viewer's cookie: the
Origin, when sent, must be this host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from linli.authz import Actor, current_actor
from linli.errors import DomainError, Forbidden
from linli.i18n import N_
from linli.live import channel, policies, presenters
from linli.live.channel import MAX_FRAME, Connection

router = APIRouter(prefix="/api/v1/live", tags=["live"])


async def _actor(websocket: WebSocket, session: Any) -> Actor:
    shim = Request({**websocket.scope, "type": "http", "method": "GET"})
    return await current_actor(shim, session)


def _error(error: DomainError) -> dict[str, Any]:
    return {"type": "error", **error.body()["error"]}


@router.websocket("/rooms/{room_id}/ws")
async def room_channel(websocket: WebSocket, room_id: int) -> None:
    app = websocket.app
    origin = websocket.headers.get("origin")
    if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
        await websocket.close(code=4403)
        return
    # A reading transaction: on SQLite a bearer token's "last used" time is written in a
    # transaction of its own, which would wait behind a writing one held here.
    async with app.state.reading_sessionmaker() as session:
        try:
            actor = await _actor(websocket, session)
            room = await policies.access_public_room(session, room_id, actor.user_id)
        except DomainError as error:
            await websocket.close(code=4000 + error.status_code)
            return
        body = await presenters.room_out(session, room)
        await session.commit()
    async with app.state.sessionmaker() as session:
        await channel.count_viewer(session, room_id, actor.user_id)
        await session.commit()
    await websocket.accept()
    hub: channel.Hub = app.state.live_hub
    connection = Connection(room_id=room_id, send=websocket.send_json)
    viewers = await hub.join(connection)
    await websocket.send_json(
        {
            "type": "hello",
            "room": body.model_dump(mode="json"),
            "viewers": viewers,
            "can_chat": actor.user is not None and actor.has_scope("resident"),
        }
    )

    async def forward() -> None:
        while True:
            await websocket.send_json(await connection.queue.get())

    sender = asyncio.create_task(forward())
    try:
        while True:
            raw = await websocket.receive_text()
            reply = await _handle(app, actor, room_id, raw)
            if reply is not None:
                await websocket.send_json(reply)
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        await hub.leave(connection)


async def _handle(app: Any, actor: Actor, room_id: int, raw: str) -> dict[str, Any] | None:
    if len(raw.encode()) > MAX_FRAME:
        return {"type": "error", "code": "message_too_large", "message": "", "fields": {}}
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind not in ("chat", "like"):
        return {"type": "error", "code": "unknown_message", "message": "", "fields": {}}
    assert isinstance(message, dict)
    if actor.user is not None and not actor.has_scope("resident"):
        return _error(Forbidden(N_("This token lacks the {scope} scope."), scope="resident"))
    hub: channel.Hub = app.state.live_hub
    async with app.state.sessionmaker() as session:
        try:
            if kind == "chat":
                await channel.post_chat(session, actor, room_id, message.get("text"))
            else:
                await channel.check_like(session, actor, room_id)
        except DomainError as error:
            await session.rollback()
            return _error(error)
        await session.commit()  # a chat message: the hubs poll now (channel.publish)
    if kind == "like":
        hub.add_like(room_id)  # written with the others of the poll interval
    return None
