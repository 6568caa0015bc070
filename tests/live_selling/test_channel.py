"""The room's WebSocket channel, served by a real server (uvicorn on the test's event loop):
pins, stock and viewers reach every viewer; chat is checked (login, size, control characters,
rate, mutes) and moderated with a recorded reason."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from linli.accounts.identity import SESSION_COOKIE
from linli.clock import FrozenClock
from linli.config import Settings
from linli.live.channel import LIKES_PER_MINUTE
from linli.live.models import ChatMessage
from tests.factories import login
from tests.groupbuy.helpers import pay, residents
from tests.live_selling.helpers import LIVE, a_studio, buy, pin


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.02)
    yield f"ws://127.0.0.1:{port}"
    served.should_exit = True
    await task
    await app.state.live_hub.stop()


async def next_of(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    """The next message of `kind` (and with `match`), skipping others; 5 s at most."""
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind and all(message.get(k) == v for k, v in match.items()):
                return dict(message)


async def test_pins_stock_viewers_and_moderated_chat_reach_every_viewer(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    server: str,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session, live=False)
    await client.post(f"{LIVE}/merchant/rooms/{studio.room_id}/start", headers=studio.shop.headers)
    (viewer,) = await residents(session, 1)
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    await login(browser, viewer.user)
    cookie = {"Cookie": f"{SESSION_COOKIE}={browser.cookies.get(SESSION_COOKIE)}"}
    url = f"{server}{LIVE}/rooms/{studio.room_id}/ws"
    async with connect(url) as anonymous, connect(url, additional_headers=cookie) as resident:
        hello = json.loads(await anonymous.recv())
        assert (hello["type"], hello["can_chat"]) == ("hello", False)
        assert hello["room"]["status"] == "live"
        assert json.loads(await resident.recv())["can_chat"] is True
        assert (await next_of(anonymous, "viewers", count=2))["count"] == 2

        assert (await pin(client, studio)).status_code == 200
        for ws in (anonymous, resident):
            pinned = await next_of(ws, "pin")
            assert (pinned["goods_id"], pinned["stream_price_fen"]) == (studio.goods_id, 990)
        assert (await buy(client, viewer.headers, studio, quantity=2)).status_code == 201
        assert (await next_of(anonymous, "stock"))["remaining"] == 48

        await resident.send(json.dumps({"type": "chat", "text": "苹果甜吗？"}))
        said = await next_of(anonymous, "chat")
        assert (said["text"], said["user"]) == ("苹果甜吗？", viewer.user.display_name)
        await anonymous.send(json.dumps({"type": "chat", "text": "hi"}))
        assert (await next_of(anonymous, "error"))["code"] == "login_required"
        await resident.send(json.dumps({"type": "chat", "text": "x" * 201}))
        assert (await next_of(resident, "error"))["code"] == "chat_too_long"
        await resident.send(json.dumps({"type": "chat", "text": "bad\x1b[31m"}))
        assert (await next_of(resident, "error"))["code"] == "chat_control_characters"
        await resident.send("y" * 5000)
        assert (await next_of(resident, "error"))["code"] == "message_too_large"

        # Removal with a recorded reason; "negative" is not a reason.
        negative = await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/chat/{said['id']}/remove",
            json={"reason": "negative"},
            headers=studio.shop.headers,
        )
        assert negative.status_code == 422
        removed = await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/chat/{said['id']}/remove",
            json={"reason": "spam", "note": "重复广告"},
            headers=studio.shop.headers,
        )
        assert removed.status_code == 200, removed.text
        assert (await next_of(anonymous, "removed"))["id"] == said["id"]

        # A flood: 10 messages a minute (rule data; the first was above), then refused.
        for n in range(9):
            await resident.send(json.dumps({"type": "chat", "text": f"第{n}条"}))
            await next_of(resident, "chat", text=f"第{n}条")
        await resident.send(json.dumps({"type": "chat", "text": "还有"}))
        assert (await next_of(resident, "error"))["code"] == "chat_rate_limited"

        muted = await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/mutes",
            json={"user_id": viewer.user.id, "minutes": 5, "reason": "刷屏"},
            headers=studio.shop.headers,
        )
        assert muted.status_code == 200, muted.text
        frozen_clock.advance(timedelta(minutes=1, seconds=1))
        await resident.send(json.dumps({"type": "chat", "text": "又来了"}))
        assert (await next_of(resident, "error"))["code"] == "muted"

        ended = await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
        )
        assert ended.status_code == 200
        assert (await next_of(anonymous, "status"))["status"] == "ended"
    await browser.aclose()
    async with app.state.sessionmaker() as s:
        kept = await s.scalar(select(ChatMessage).where(ChatMessage.id == said["id"]))
    assert kept is not None
    assert (kept.text, kept.removed_reason) == ("苹果甜吗？", "spam: 重复广告")


async def test_a_cross_site_page_or_a_missing_room_is_refused_at_the_handshake(
    client: httpx.AsyncClient, session: AsyncSession, server: str, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, live=False)
    url = f"{server}{LIVE}/rooms/{studio.room_id}/ws"
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with connect(url, origin="http://evil.example") as ws:  # type: ignore[arg-type]
            await ws.recv()
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with connect(f"{server}{LIVE}/rooms/999999/ws") as ws:
            await ws.recv()
    async with connect(url, origin=server.replace("ws://", "http://")) as ws:  # type: ignore[arg-type]
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_likes_viewers_and_the_streams_statistics_come_from_real_connections(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    server: str,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    other = await a_studio(client, session, live=False)
    buyer, fan = await residents(session, 2)
    url = f"{server}{LIVE}/rooms/{studio.room_id}/ws"
    statistics_url = f"{LIVE}/merchant/rooms/{studio.room_id}/statistics"

    async def figures() -> dict[str, Any]:
        answer = await client.get(statistics_url, headers=studio.shop.headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async with (
        connect(url) as anonymous,
        connect(url, additional_headers=fan.headers) as liker,
    ):
        async with connect(url, additional_headers=buyer.headers) as first_visit:
            assert (await next_of(first_visit, "viewers", count=3))["count"] == 3
        async with connect(url, additional_headers=buyer.headers) as second_visit:
            await next_of(second_visit, "hello")
        # Three at once at most; the buyer's two visits are two connections, one viewer.
        seen = await figures()
        assert (seen["connections"], seen["viewers"], seen["peak_viewers"]) == (4, 2, 3)

        await anonymous.send(json.dumps({"type": "like"}))
        assert (await next_of(anonymous, "error"))["code"] == "login_required"
        for _ in range(3):
            await liker.send(json.dumps({"type": "like"}))
        assert (await next_of(anonymous, "likes", count=3))["count"] == 3
        # A script tapping: LIKES_PER_MINUTE per viewer and room, then refused.
        for _ in range(LIKES_PER_MINUTE - 3):
            await liker.send(json.dumps({"type": "like"}))
        await liker.send(json.dumps({"type": "like"}))
        assert (await next_of(liker, "error"))["code"] == "likes_rate_limited"
        await next_of(anonymous, "likes", count=LIKES_PER_MINUTE)

        bought = await buy(client, buyer.headers, studio, quantity=2)
        assert bought.status_code == 201, bought.text
        await pay(client, settings, bought.json()["payment"])
        unpaid = await buy(client, fan.headers, studio, quantity=1)
        assert unpaid.status_code == 201, unpaid.text
        await app.state.dispatcher.run_once()
        frozen_clock.advance(timedelta(minutes=30))
        ended = await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
        )
        assert ended.status_code == 200
        await next_of(anonymous, "status", status="ended")
        await liker.send(json.dumps({"type": "like"}))
        assert (await next_of(liker, "error"))["code"] == "room_not_live"

    seen = await figures()
    assert seen == {
        "room_id": studio.room_id,
        "on_air_seconds": 1800,
        "connections": 4,
        "viewers": 2,
        "peak_viewers": 3,
        "likes": LIKES_PER_MINUTE,
        "orders": 1,  # the unpaid order is no sale
        "units": 2,
        "gmv_fen": 1980,
        "buyers": 1,
        "conversion": 0.5,
    }
    room = await client.get(f"{LIVE}/rooms/{studio.room_id}")
    assert room.json()["likes"] == LIKES_PER_MINUTE
    # Only the room's own merchant reads its statistics.
    assert (await client.get(statistics_url, headers=other.shop.headers)).status_code == 404
    assert (await client.get(statistics_url, headers=buyer.headers)).status_code == 403
    assert (await client.get(statistics_url)).status_code == 401
