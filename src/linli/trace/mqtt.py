"""Cold-chain readings from MQTT: a background task subscribed to `linli/sensors/#`.

Topic `linli/sensors/{device_id}`; payload JSON: one reading `{"batch_code", "time",
"temperature_c"}` or a list of them (`sensor_id`, if given, must be the device id). The device
must be registered (trace/devices.py) and not retired; its readings are stored only for its
own organisation's batches. The broker authenticates each device (its device id as user name,
with an ACL that lets it publish only to its own topic; docs/recall-and-cold-chain.md), and the
app connects with its own credentials, over TLS when configured (LINLI_MQTT_*).

The listener never dies of a message: a bad one (not JSON, too deep, too large, unknown device,
invalid reading, another organisation's batch, a database error) is logged and dropped; when
the connection fails it reconnects, with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.authz import Actor
from linli.config import Settings
from linli.errors import DomainError
from linli.trace import devices, safety

log = logging.getLogger(__name__)
PREFIX = "linli/sensors/"
MAX_PAYLOAD = 256 * 1024  # bytes; 1,000 readings fit in well under this
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # seconds between reconnection attempts (doubling)


class Dropped(Exception):
    """A message that is not stored, and why (logged)."""


def broker(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    return parts.hostname or "127.0.0.1", parts.port or 1883


def client_options(settings: Settings) -> dict[str, Any]:
    """aiomqtt.Client keyword arguments from the settings: the app's broker credentials and,
    with LINLI_MQTT_TLS (or an mqtts:// URL), a TLS context verifying the broker."""
    options: dict[str, Any] = {}
    if settings.mqtt_username:
        options["username"] = settings.mqtt_username
        options["password"] = settings.mqtt_password.get_secret_value() or None
    if settings.mqtt_tls or settings.mqtt_url.startswith("mqtts://"):
        options["tls_context"] = ssl.create_default_context(cafile=settings.mqtt_ca_file or None)
    return options


def readings_of(topic: str, payload: bytes) -> tuple[str, list[Any]]:
    """(device id, reading objects) of a message; Dropped when it cannot be one."""
    device_id = topic.removeprefix(PREFIX)
    if not topic.startswith(PREFIX) or not devices.DEVICE_ID.match(device_id):
        raise Dropped("not a device topic")
    if len(payload) > MAX_PAYLOAD:
        raise Dropped(f"payload over {MAX_PAYLOAD} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise Dropped(f"not JSON: {type(error).__name__}") from None
    items = data if isinstance(data, list) else [data]
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            item = dict(item)
            if item.setdefault("sensor_id", device_id) != device_id:
                raise Dropped("sensor_id differs from the device id")
        out.append(item)
    return device_id, out


async def handle(
    sessionmaker: async_sessionmaker[AsyncSession], topic: str, payload: bytes
) -> bool:
    """Store one message's readings; True when stored. Never raises (but cancellation)."""
    try:
        device_id, items = readings_of(topic, payload)
        readings = safety.parse_readings(items)
        async with sessionmaker() as session:
            device = await devices.active_device(session, device_id)
            if device is None:
                raise Dropped(f"device {device_id} is not registered")
            try:
                await safety.store_readings(
                    session,
                    Actor.for_system(),
                    readings,
                    source="mqtt",
                    organisation_id=device.organisation_id,
                    device_id=device.device_id,
                )
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    except asyncio.CancelledError:
        raise
    except (Dropped, DomainError) as error:
        log.warning("dropped MQTT message on %s: %s", topic[:200], error)
        return False
    except Exception:
        log.exception("dropped MQTT message on %s: unexpected error", topic[:200])
        return False
    return True


async def listen(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: str,
    topic: str,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
    options: dict[str, Any] | None = None,
    retry_first: float = RETRY_FIRST,
) -> None:
    """Subscribe and store readings until `stop`; reconnect whenever the connection fails."""
    host, port = broker(url)
    delay = retry_first
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, port, **(options or {})) as client:
                await client.subscribe(topic, qos=1)
                delay = retry_first
                if ready is not None:
                    ready.set()
                async for message in client.messages:
                    await handle(sessionmaker, str(message.topic), bytes(message.payload))
        except asyncio.CancelledError:
            raise
        except aiomqtt.MqttError as error:
            log.warning("MQTT %s:%s: %s; reconnecting in %.0f s", host, port, error, delay)
        except Exception:
            log.exception("MQTT listener failed; reconnecting in %.0f s", delay)
        if ready is not None:
            ready.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, RETRY_MAX)
