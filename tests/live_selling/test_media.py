"""The media server's callbacks as nginx-rtmp sends them (form posts): the session's stream
key is let in and renamed to its room; a wrong, ended or expired key is refused; the end of
publishing pauses the room, which ends if no stream comes back within the grace period. (No
nginx here: the RTMP ingest itself is not tested.)"""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.live.media import DEFAULT_STREAM_LOST_END_MINUTES, stream_lost_end_minutes
from linli.live.models import LiveSession, Room
from linli.rules.models import RuleVersion
from tests.live_selling.helpers import LIVE, a_studio, sku_stock


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


async def started_key(client: httpx.AsyncClient, studio_room: int, headers: dict[str, str]) -> str:
    started = await client.post(f"{LIVE}/merchant/rooms/{studio_room}/start", headers=headers)
    assert started.status_code == 200, started.text
    key = started.json()["stream_key"]
    assert isinstance(key, str)
    assert (await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))).status_code == 302
    return key


async def test_a_stream_lost_past_the_grace_period_ends_the_room_and_releases_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """The publisher stops: the room pauses; still paused with no stream after
    `stream_lost_end_minutes` (rule live.commerce, 30), the due job ends it and gives the
    stream stock back, once (the scheduled end's job later releases nothing)."""
    studio = await a_studio(client, session, live=False, sku_stock=500, stream_stock=50)
    key = await started_key(client, studio.room_id, studio.shop.headers)
    assert await sku_stock(app, studio.sku_id) == 450
    stopped = await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    assert stopped.status_code == 204

    frozen_clock.advance(timedelta(minutes=29))
    await app.state.dispatcher.run_once()
    room = (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()
    assert room["status"] == "paused"
    assert await sku_stock(app, studio.sku_id) == 450

    frozen_clock.advance(timedelta(minutes=2))
    await app.state.dispatcher.run_once()
    room = (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()
    assert room["status"] == "ended"
    assert await sku_stock(app, studio.sku_id) == 500
    async with app.state.sessionmaker() as s:
        reasons = list(
            await s.scalars(
                select(LiveSession.end_reason).where(LiveSession.room_id == studio.room_id)
            )
        )
        ended = await s.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "live.room_ended",
                AuditEntry.target_id == str(studio.room_id),
            )
        )
    assert reasons == ["stream_lost"]
    assert ended is not None
    assert (ended.user_id, ended.details["released_units"]) == (None, 50)
    # The key opens nothing any more; the scheduled end's job releases nothing again.
    assert (await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))).status_code == 403
    frozen_clock.advance(timedelta(hours=3))
    await app.state.dispatcher.run_once()
    assert await sku_stock(app, studio.sku_id) == 500
    async with app.state.sessionmaker() as s:
        releases = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "catalog.stock_adjusted")
            .where(AuditEntry.details["reason"].as_string() == "live.room_closed")
        )
    assert releases == 1


async def test_a_stream_back_within_the_grace_period_keeps_the_room(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, live=False)
    key = await started_key(client, studio.room_id, studio.shop.headers)
    assert (
        await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    ).status_code == 204
    frozen_clock.advance(timedelta(minutes=5))
    # The encoder reconnects with the same key; the merchant resumes.
    assert (await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))).status_code == 302
    resumed = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/resume", headers=studio.shop.headers
    )
    assert resumed.status_code == 200, resumed.text
    # Lost again and back again, each within its grace period: the stale jobs end nothing,
    # also while the merchant has paused the room.
    frozen_clock.advance(timedelta(minutes=20))
    assert (
        await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    ).status_code == 204
    frozen_clock.advance(timedelta(minutes=1))
    assert (await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))).status_code == 302
    frozen_clock.advance(timedelta(minutes=40))
    await app.state.dispatcher.run_once()
    room = (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()
    assert room["status"] == "paused"
    async with app.state.sessionmaker() as s:
        row = await s.get(Room, studio.room_id)
    assert row is not None
    assert (row.ended_at, row.stream_lost_at) == (None, None)


async def test_a_version_in_force_without_the_grace_period_ends_the_room_after_the_default(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """A `live.commerce` version 3 made by the platform from version 1's values (no
    `stream_lost_end_minutes`): `on_publish_done` and the due job still work, with the
    documented 30 minutes."""
    version_1 = await session.scalar(
        select(RuleVersion).where(RuleVersion.rule_id == "live.commerce", RuleVersion.version == 1)
    )
    assert version_1 is not None
    assert "stream_lost_end_minutes" not in version_1.values
    session.add(
        RuleVersion(
            rule_id="live.commerce",
            version=3,
            jurisdiction="CN",
            title=version_1.title,
            legal_basis=version_1.legal_basis,
            effective_from=frozen_clock.now() - timedelta(minutes=1),
            effective_to=None,
            values=dict(version_1.values),
            created_at=frozen_clock.now(),
        )
    )
    await session.commit()
    studio = await a_studio(client, session, live=False, sku_stock=500, stream_stock=50)
    key = await started_key(client, studio.room_id, studio.shop.headers)
    stopped = await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    assert stopped.status_code == 204, stopped.text
    frozen_clock.advance(timedelta(minutes=29))
    await app.state.dispatcher.run_once()
    assert (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()["status"] == "paused"
    frozen_clock.advance(timedelta(minutes=2))
    await app.state.dispatcher.run_once()
    assert (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()["status"] == "ended"
    assert await sku_stock(app, studio.sku_id) == 500


def test_the_grace_period_falls_back_to_the_documented_minutes() -> None:
    assert stream_lost_end_minutes({"stream_lost_end_minutes": 45}) == 45
    for bad in ({}, {"stream_lost_end_minutes": 0}, {"stream_lost_end_minutes": "30"}):
        assert stream_lost_end_minutes(bad) == DEFAULT_STREAM_LOST_END_MINUTES == 30
