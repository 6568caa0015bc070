"""The request transaction wakes the in-process dispatcher; the pool pings idle connections."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import linli.db
from linli.db import make_engine
from tests.conftest import DATABASE_KIND
from tests.factories import PASSWORD

IDLE = 0.2  # seconds: the pre-ping limit in these tests
postgres_only = pytest.mark.skipif(DATABASE_KIND != "postgresql", reason="PostgreSQL's pool")


async def test_a_commit_with_new_events_wakes_the_dispatcher(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    wakes: list[int] = []
    app.state.dispatcher.wake = lambda: wakes.append(1)
    await client.get("/healthz")
    await client.get("/")
    assert wakes == []  # nothing published
    refused = await client.post(
        "/api/v1/accounts/signup", json={"phone": "1", "password": PASSWORD, "display_name": "x"}
    )
    assert refused.status_code == 422
    assert wakes == []  # rolled back: nothing to deliver
    created = await client.post(
        "/api/v1/accounts/signup",
        json={"phone": "13912340001", "password": PASSWORD, "display_name": "x"},
    )
    assert created.status_code == 201
    assert wakes == [1]


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pre-pings the pool runs (each one still pings)."""
    seen: list[int] = []
    ping = linli.db.ping_connection

    def counted(dialect: Any, dbapi_connection: Any) -> None:
        seen.append(1)
        ping(dialect, dbapi_connection)

    monkeypatch.setattr(linli.db, "ping_connection", counted)
    return seen


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


@postgres_only
async def test_only_a_connection_idle_past_the_limit_is_pinged(
    database_url: str, pings: list[int]
) -> None:
    engine = make_engine(database_url, pool_size=1, pre_ping_idle_seconds=IDLE)
    try:
        first = await backend_pid(engine)  # a new connection: never pinged
        assert await backend_pid(engine) == first  # reused at once: not pinged
        assert pings == []
        await asyncio.sleep(IDLE * 2)
        assert await backend_pid(engine) == first  # idle past the limit: pinged, alive
        assert pings == [1]
    finally:
        await engine.dispose()


@postgres_only
async def test_a_connection_killed_while_idle_is_replaced_at_checkout(
    database_url: str, pings: list[int]
) -> None:
    engine = make_engine(database_url, pool_size=1, pre_ping_idle_seconds=IDLE)
    killer = make_engine(database_url, pool_size=1)
    try:
        killed = await backend_pid(engine)
        await asyncio.sleep(IDLE * 2)
        async with killer.connect() as connection:
            terminated = await connection.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": killed}
            )
            assert terminated.scalar_one() is True
        async with engine.connect() as connection:  # no error: the pool reconnected
            after = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != killed
        assert pings == [1]
    finally:
        await engine.dispose()
        await killer.dispose()


@pytest.mark.skipif(DATABASE_KIND != "sqlite", reason="the SQLite engine")
async def test_sqlite_connections_are_never_pinged(database_url: str, pings: list[int]) -> None:
    engine = make_engine(database_url, pre_ping_idle_seconds=0)
    try:
        for _ in range(3):
            async with engine.connect() as connection:
                assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
            await asyncio.sleep(IDLE)
        assert pings == []
    finally:
        await engine.dispose()
