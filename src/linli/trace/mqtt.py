"""Cold-chain readings from MQTT: a background task subscribed to `linli/sensors/#`.

Topic `linli/sensors/{sensor_id}`; payload JSON: one reading `{"batch_code", "time",
"temperature_c"}` (the sensor id comes from the topic unless given) or a list of them. The
broker is the local one and trusted (it is not reachable from outside): readings are stored as
the system. A bad message is logged and dropped; the listener reconnects when the broker goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.authz import Actor
from linli.errors import DomainError
from linli.trace import safety

log = logging.getLogger(__name__)
PREFIX = "linli/sensors/"


def broker(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    return parts.hostname or "127.0.0.1", parts.port or 1883


def readings_of(topic: str, payload: bytes) -> list[dict[str, Any]]:
    data = json.loads(payload.decode("utf-8"))
    items = data if isinstance(data, list) else [data]
    sensor = topic.removeprefix(PREFIX).strip("/")
    out = []
    for item in items:
        if isinstance(item, dict):
            item = dict(item)
            item.setdefault("sensor_id", sensor)
        out.append(item)
    return out


async def handle(
    sessionmaker: async_sessionmaker[AsyncSession], topic: str, payload: bytes
) -> None:
    try:
        readings = safety.parse_readings(readings_of(topic, payload))
    except (ValueError, UnicodeDecodeError, DomainError) as error:
        log.warning("dropped MQTT message on %s: %s", topic, error)
        return
    async with sessionmaker() as session:
        try:
            await safety.store_readings(session, Actor.for_system(), readings, source="mqtt")
            await session.commit()
        except DomainError as error:
            await session.rollback()
            log.warning("dropped MQTT readings on %s: %s", topic, error)


async def listen(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: str,
    topic: str,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    host, port = broker(url)
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, port) as client:
                await client.subscribe(topic, qos=1)
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    await handle(sessionmaker, str(message.topic), bytes(message.payload))
        except aiomqtt.MqttError as error:
            log.warning("MQTT %s:%s: %s; retrying in 5 s", host, port, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=5)
