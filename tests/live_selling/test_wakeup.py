"""Hubs of other processes hear of a commit at once: on PostgreSQL the transaction that published
room events NOTIFYs every hub's LISTEN connection; without it (SQLite, one process, or a lost
listener) the regular poll still delivers. Two hubs over two engines stand for two processes.

The bounds are generous (a loaded 2-core machine): what matters is that delivery comes well
before the regular poll could have brought it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.db import make_engine, make_sessionmaker
from linli.live.channel import Connection, Hub
from tests.conftest import DATABASE_KIND
from tests.live_selling.helpers import LIVE, Studio, a_studio, pin

ON_POSTGRES = DATABASE_KIND == "postgresql"
NEVER = 60.0  # seconds: a poll interval no test waits for
NOTIFIED_WITHIN = 5.0  # seconds: a woken hub's delivery, on a busy machine (typically ~10 ms)
ALL_WITHIN = 30.0  # seconds: connecting, reconnecting, SQLite's fallback poll


async def _ignore(_message: dict[str, Any]) -> None:
    return None


async def next_of(connection: Connection, kind: str, within: float) -> dict[str, Any]:
    """The next message of `kind` in the connection's queue (skipping viewer counts)."""
    async with asyncio.timeout(within):
        while True:
            message = await connection.queue.get()
            if message["type"] == kind:
                return message


@asynccontextmanager
async def other_process(settings: Settings, poll_interval: float) -> AsyncIterator[Hub]:
    """A hub over an engine of its own, as another `linli serve` worker has."""
    engine = make_engine(settings.resolved_database_url)
    hub = Hub(make_sessionmaker(engine), poll_interval=poll_interval)
    try:
        yield hub
    finally:
        await hub.stop()
        await engine.dispose()


async def unpin(client: httpx.AsyncClient, studio: Studio) -> httpx.Response:
    return await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/unpin", headers=studio.shop.headers
    )


async def listening(hub: Hub) -> None:
    assert hub.listener is not None
    await asyncio.wait_for(hub.listener.listening.wait(), ALL_WITHIN)


async def test_a_pin_in_one_process_reaches_the_viewers_of_another_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    # The app's process: its commits wake its own hub directly (no poll needed on either
    # database). The other process: woken by NOTIFY on PostgreSQL; on SQLite, which one process
    # serves, only its regular poll reaches it (the fallback everywhere), so it polls there.
    here = Hub(app.state.sessionmaker, poll_interval=NEVER)
    async with other_process(settings, NEVER if ON_POSTGRES else 0.5) as there:
        assert (here.listener is not None, there.listener is not None) == (ON_POSTGRES,) * 2
        viewer_here = Connection(studio.room_id, _ignore)
        viewer_there = Connection(studio.room_id, _ignore)
        try:
            await here.join(viewer_here)
            await there.join(viewer_there)
            if ON_POSTGRES:
                await listening(there)

            started = asyncio.get_running_loop().time()
            assert (await unpin(client, studio)).status_code == 200
            assert (await next_of(viewer_here, "pin", NOTIFIED_WITHIN))["goods_id"] is None
            heard = await next_of(viewer_there, "pin", NOTIFIED_WITHIN if ON_POSTGRES else NEVER)
            assert heard["goods_id"] is None
            if ON_POSTGRES:
                assert asyncio.get_running_loop().time() - started < NOTIFIED_WITHIN < NEVER

            assert (await pin(client, studio)).status_code == 200  # many events, all delivered
            for viewer in (viewer_here, viewer_there):
                assert (await next_of(viewer, "pin", ALL_WITHIN))["goods_id"] == studio.goods_id
        finally:
            await here.stop()


@pytest.mark.skipif(
    not ON_POSTGRES, reason="LISTEN/NOTIFY is PostgreSQL's; SQLite serves one process"
)
async def test_a_killed_listen_connection_comes_back_and_closes_with_the_hub(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    studio = await a_studio(client, session)
    async with other_process(settings, NEVER) as there:
        assert there.listener is not None
        viewer = Connection(studio.room_id, _ignore)
        await there.join(viewer)
        await listening(there)
        killed = there.listener.server_pid

        with caplog.at_level(logging.WARNING, logger="linli.live.wakeup"):
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed})
            await session.commit()
            async with asyncio.timeout(ALL_WITHIN):
                while there.listener.server_pid in (None, killed):  # noqa: ASYNC110 (no event)
                    await asyncio.sleep(0.05)
        assert any("LISTEN linli_live lost" in record.message for record in caplog.records)

        assert (await unpin(client, studio)).status_code == 200
        assert (await next_of(viewer, "pin", NOTIFIED_WITHIN))["goods_id"] is None

        listener_pid = there.listener.server_pid
        await there.stop()
        assert there.listener.server_pid is None
        async with asyncio.timeout(ALL_WITHIN):  # the backend exits once the client said so
            while await _backend_alive(session, listener_pid):  # noqa: ASYNC110 (a query)
                await asyncio.sleep(0.05)


async def _backend_alive(session: AsyncSession, pid: int | None) -> bool:
    alive = await session.scalar(
        select(text("count(*)")).select_from(text("pg_stat_activity")).where(text("pid = :pid")),
        {"pid": pid},
    )
    await session.commit()
    return bool(alive)
