"""MQTT readings against the real broker on 127.0.0.1:1883: only registered devices, only
their organisation's batches; the listener survives any bad message (deep JSON, oversized,
invalid, a database error) and reconnects when the broker drops it. Device registry API and
page (audited); broker credentials and TLS from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.config import Settings
from linli.trace import mqtt, safety
from linli.trace.models import TraceBatch
from linli.trace.safety_models import TraceReading
from tests.factories import login
from tests.groupbuy.helpers import Shop, a_shop, residents
from tests.trace.safety_helpers import TRACE, a_batch, product_sku

DEVICES = f"{TRACE}/devices"


def _broker_up() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 1883), timeout=1):
        return True
    return False


needs_broker = pytest.mark.skipif(not _broker_up(), reason="no MQTT broker on 127.0.0.1:1883")


async def register(client: httpx.AsyncClient, shop: Shop, device_id: str) -> dict[str, Any]:
    response = await client.post(
        DEVICES,
        json={"device_id": device_id, "model": "ColdLog T1", "name": "冷藏车"},
        headers=shop.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def reading(batch: TraceBatch, value: float = 3.5, **extra: Any) -> bytes:
    body = {"batch_code": batch.code, "time": clock.now().isoformat(), "temperature_c": value}
    return json.dumps(body | extra).encode()


async def count_readings(app: FastAPI, batch: TraceBatch) -> int:
    async with app.state.sessionmaker() as s:
        found = await s.scalar(select(func.count()).where(TraceReading.batch_id == batch.id))
    return int(found or 0)


async def wait_for_readings(app: FastAPI, batch: TraceBatch, n: int) -> None:
    for _ in range(200):
        if await count_readings(app, batch) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{n} readings never arrived for {batch.code}")


@contextlib.asynccontextmanager
async def listening(app: FastAPI, **kwargs: Any) -> AsyncIterator[asyncio.Event]:
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        mqtt.listen(
            app.state.sessionmaker,
            "mqtt://127.0.0.1:1883",
            "linli/sensors/#",
            stop,
            ready=ready,
            retry_first=0.2,
            **kwargs,
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), timeout=10)
        yield ready
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(topic: str, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883) as publisher:
        await publisher.publish(topic, payload, qos=1)


@needs_broker
async def test_readings_only_from_registered_devices_for_their_own_batches(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rival = await a_shop(client, session, name="隔壁超市")
    sku = await product_sku(client, shop, storage="chilled", name="鲜奶")
    own = await a_batch(app, shop, sku, "M1")
    theirs = await a_batch(app, rival, await product_sku(client, rival, storage="chilled"), "M2")
    device = f"truck-{uuid.uuid4().hex[:8]}"
    stranger = f"rogue-{uuid.uuid4().hex[:8]}"
    await register(client, shop, device)
    async with listening(app):
        await publish(f"linli/sensors/{stranger}", reading(own))  # not registered
        await publish(f"linli/sensors/{device}", reading(theirs))  # not its organisation's
        await publish(f"linli/sensors/{device}", reading(own, sensor_id="other"))  # spoofed id
        await publish(f"linli/sensors/{device}", reading(own, 4.0))
        await wait_for_readings(app, own, 1)
    assert await count_readings(app, theirs) == 0
    async with app.state.sessionmaker() as s:
        (row,) = (
            await s.scalars(select(TraceReading).where(TraceReading.batch_id == own.id))
        ).all()
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "trace.readings_stored")
        )
    assert (row.sensor_id, row.temperature_mc, row.source) == (device, 4000, "mqtt")
    assert entry is not None
    assert entry.details["device"] == device


@needs_broker
async def test_the_listener_survives_bad_messages_and_database_errors(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop, storage="chilled"), "M3")
    device = f"probe-{uuid.uuid4().hex[:8]}"
    await register(client, shop, device)
    real = safety.store_readings
    failures = [1]

    async def flaky(*args: Any, **kwargs: Any) -> dict[str, int]:
        if failures:
            failures.pop()
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(safety, "store_readings", flaky)
    topic = f"linli/sensors/{device}"
    with caplog.at_level(logging.WARNING, logger="linli.trace.mqtt"):
        async with listening(app):
            await publish(topic, b"[" * 100_000)  # deeper than the JSON parser goes
            await publish(topic, b'{"batch_code": ' * 5000)
            await publish(topic, b"\xff\xfe")
            await publish(topic, b"x" * (mqtt.MAX_PAYLOAD + 1))
            await publish(topic, json.dumps({"temperature_c": "warm"}).encode())
            await publish(topic, reading(batch, 2.0))  # the database fails on this one
            await publish(topic, reading(batch, 3.0))
            await wait_for_readings(app, batch, 1)
    async with app.state.sessionmaker() as s:
        values = list(
            await s.scalars(
                select(TraceReading.temperature_mc).where(TraceReading.batch_id == batch.id)
            )
        )
    assert values == [3000]
    dropped = [r for r in caplog.records if "dropped MQTT message" in r.getMessage()]
    assert len(dropped) == 6


@needs_broker
async def test_the_listener_reconnects_when_the_broker_drops_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(app, shop, await product_sku(client, shop, storage="chilled"), "M4")
    device = f"box-{uuid.uuid4().hex[:8]}"
    await register(client, shop, device)
    identifier = f"linli-test-{uuid.uuid4().hex[:8]}"
    async with listening(app, options={"identifier": identifier}) as ready:
        # The same client id connecting again makes the broker drop the listener's session.
        ready.clear()
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=identifier):
            await asyncio.sleep(0.3)
        await asyncio.wait_for(ready.wait(), timeout=10)  # subscribed again
        await publish(f"linli/sensors/{device}", reading(batch, 5.0))
        await wait_for_readings(app, batch, 1)


def test_credentials_and_tls_come_from_the_settings(tmp_path: Any) -> None:
    plain = mqtt.client_options(Settings(mqtt_url="mqtt://127.0.0.1:1883"))
    assert plain == {}
    options = mqtt.client_options(
        Settings(
            mqtt_url="mqtt://broker.example:8883",
            mqtt_username="linli-app",
            mqtt_password=SecretStr("s3cret"),
            mqtt_tls=True,
        )
    )
    assert (options["username"], options["password"]) == ("linli-app", "s3cret")
    context = options["tls_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert "tls_context" in mqtt.client_options(Settings(mqtt_url="mqtts://broker.example"))


async def test_devices_are_registered_listed_and_retired_by_their_merchant(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rival = await a_shop(client, session, name="隔壁超市")
    device = await register(client, shop, "cold-room.1")
    assert device["topic"] == "linli/sensors/cold-room.1"
    taken = await client.post(
        DEVICES, json={"device_id": "cold-room.1", "model": "x", "name": "y"}, headers=rival.headers
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "device_taken"
    for bad in ("", "a/b", "a+b", "#", "a b", "-x", "x" * 65):
        refused = await client.post(
            DEVICES, json={"device_id": bad, "model": "m", "name": "n"}, headers=shop.headers
        )
        assert refused.status_code == 422, bad
    assert (await client.get(DEVICES, headers=rival.headers)).json() == []
    retire = f"{DEVICES}/{device['id']}/retire"
    assert (await client.post(retire, headers=rival.headers)).status_code == 404
    retired = await client.post(retire, headers=shop.headers)
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    (resident,) = await residents(session, 1)
    assert (await client.get(DEVICES, headers=resident.headers)).status_code == 403
    async with app.state.sessionmaker() as s:
        actions = list(
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("trace.device_%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["trace.device_registered", "trace.device_retired"]
    # The page: register through the form, see it listed.
    await login(client, shop.owner)
    page = await client.get("/merchant/devices")
    assert page.status_code == 200
    assert "cold-room.1" in page.text
    csrf = client.cookies.get("linli_csrf")
    made = await client.post(
        "/merchant/devices",
        data={"csrf_token": csrf, "device_id": "dock-2", "model": "ColdLog", "name": "码头"},
    )
    assert made.status_code == 303
    assert "dock-2" in (await client.get("/merchant/devices")).text
    wrong = await client.post(
        "/merchant/devices",
        data={"csrf_token": csrf, "device_id": "a/b", "model": "ColdLog", "name": "码头"},
    )
    assert wrong.status_code == 422
