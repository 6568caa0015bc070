"""The media server's callbacks as nginx-rtmp sends them (form posts): the session's stream
key is let in and renamed to its room; a wrong, ended or expired key is refused; the end of
publishing pauses the room. (No nginx here: the RTMP ingest itself is not tested.)"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from tests.live_selling.helpers import LIVE, a_studio


def nginx_form(name: str) -> dict[str, str]:
    return {"call": "publish", "app": "live", "name": name, "addr": "127.0.0.1", "type": "live"}


async def test_on_publish_lets_the_session_key_in_as_its_room_and_refuses_others(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, live=False)
    started = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/start", headers=studio.shop.headers
    )
    key = started.json()["stream_key"]
    ok = await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))
    assert (ok.status_code, ok.headers["location"]) == (302, f"room-{studio.room_id}")
    for wrong in ("live_wrong", "", "x" * 500):
        refused = await client.post(f"{LIVE}/media/on_publish", data=nginx_form(wrong))
        assert refused.status_code == 403
    stopped = await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    assert stopped.status_code == 204
    room = await client.get(f"{LIVE}/rooms/{studio.room_id}")
    assert room.json()["status"] == "paused"
    # Past the scheduled end, the key no longer opens anything.
    frozen_clock.advance(timedelta(hours=3))
    late = await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))
    assert late.status_code == 403
