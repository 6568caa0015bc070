"""Cold chain (readings, excursions at the thresholds, holds and decisions), inspections
(a failure holds the batch), held stock at checkout and publication, MQTT readings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from datetime import datetime, timedelta

import aiomqtt
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.notifications.models import Notification
from linli.trace import generated, mqtt, safety
from linli.trace.models import TraceBatch, TraceEvent
from linli.trace.safety_models import TraceExcursion, TraceReading
from tests.factories import login, make_token
from tests.groupbuy.helpers import (
    CAMPAIGNS,
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    campaign_body,
    item,
    order,
    published_campaign,
    residents,
)
from tests.trace.safety_helpers import TRACE, a_batch, events_named, product_sku, status_of

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def series(start: datetime, values: list[float], *, code: str, every: int = 5) -> list[dict]:  # type: ignore[type-arg]
    return [
        {
            "batch_code": code,
            "sensor_id": "truck-7",
            "time": (start + timedelta(minutes=every * n)).isoformat(),
            "temperature_c": value,
        }
        for n, value in enumerate(values)
    ]


async def frozen_batch(app: FastAPI, client: httpx.AsyncClient, shop: Shop, lot: str) -> TraceBatch:
    sku = await product_sku(client, shop, storage="frozen", name=f"速冻水饺{lot}")
    return await a_batch(app, shop, sku, lot)


async def send(client: httpx.AsyncClient, shop: Shop, readings: list[dict]) -> dict:  # type: ignore[type-arg]
    response = await client.post(
        f"{TRACE}/readings", json={"readings": readings}, headers=shop.headers
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()  # type: ignore[type-arg]
    return body


async def test_excursions_at_the_thresholds(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    start = clock.now() - timedelta(hours=2)
    # Frozen: at most -18 °C, tolerance 3 °C (so -15.0 is still fine), longer than 15 minutes.
    inside = await frozen_batch(app, client, shop, "IN")
    result = await send(
        client,
        shop,
        series(start, [-18, -15.0, -15.0, -15.0, -15.0, -15.0, -15.0], code=inside.code),
    )
    assert result == {"received": 7, "stored": 7, "excursions": 0}
    assert await status_of(app, inside.id) == "active"

    short = await frozen_batch(app, client, shop, "SHORT")
    # Outside for exactly 15 minutes (first to last reading): not longer than the minimum.
    result = await send(
        client, shop, series(start, [-18, -14.9, -14.9, -14.9, -14.9, -18], code=short.code)
    )
    assert result["excursions"] == 0
    assert await status_of(app, short.id) == "active"

    outside = await frozen_batch(app, client, shop, "OUT")
    result = await send(
        client,
        shop,
        series(start, [-18, -14.9, -14.9, -14.9, -14.9, -14.9, -18], code=outside.code),
    )
    assert result["excursions"] == 1
    assert await status_of(app, outside.id) == "on_hold"
    (published,) = await events_named(app, "trace.TemperatureExcursion")
    assert published["batch_id"] == outside.id
    assert published["batch_code"] == outside.code  # what the owner is told, no trace lookup
    assert published["rule"] == "coldchain.storage_classes@1"
    assert published["worst_c"] == -14.9
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        told = (
            await s.execute(
                select(Notification.link, Notification.params).where(
                    Notification.user_id == shop.owner.id,
                    Notification.kind == "temperature_excursion",
                )
            )
        ).all()
    # The owner is asked to decide, about the batch named by its code.
    assert [tuple(row) for row in told] == [
        (f"/merchant/batches/{outside.id}", {"code": outside.code, "worst": -14.9})
    ]
    # Sending the same readings again stores nothing and finds nothing new.
    again = await send(client, shop, series(start, [-18, -14.9], code=outside.code))
    assert again == {"received": 2, "stored": 0, "excursions": 0}
    async with app.state.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(TraceExcursion)) == 1
        assert await s.scalar(select(func.count()).select_from(TraceReading)) == 20
        sensor_events = (
            await s.scalars(
                select(TraceEvent).where(TraceEvent.biz_step.like("%BizStep-sensor_reporting"))
            )
        ).all()
        assert len(sensor_events) == 3
        assert "sensorElementList" in sensor_events[0].document
        assert (await generated.verify_batch_chain(s, outside.id)).ok

    # The hold ends with a recorded decision (audited); release puts it back on sale.
    rival = await a_shop(client, session, name="隔壁超市")
    decision = {"decision": "release", "reason": "Core temperature checked: -19 °C"}
    url = f"{TRACE}/batches/{outside.id}/hold-decision"
    assert (await client.post(url, json=decision, headers=rival.headers)).status_code == 404
    released = await client.post(url, json=decision, headers=shop.headers)
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "active"
    assert (await client.post(url, json=decision, headers=shop.headers)).status_code == 409
    async with app.state.sessionmaker() as s:
        actions = set(await s.scalars(select(AuditEntry.action)))
    assert {"trace.temperature_excursion", "trace.batch_held", "trace.hold_decided"} <= actions

    await login(client, shop.owner, organisation=shop.organisation)  # pages take no tokens
    page = await client.get(f"/merchant/batches/{outside.id}")
    assert page.status_code == 200
    assert "<polyline" in page.text


def test_chilled_range_is_exclusive_and_data_driven() -> None:
    values = {
        "classes": {
            "chilled": {"min_c": 0, "max_c": 8, "tolerance_c": 0, "min_duration_minutes": 15}
        }
    }
    cls = safety.storage_class_of(values, "chilled")
    assert cls is not None
    assert not cls.outside(8000)
    assert cls.outside(8001)
    assert cls.outside(-1)
    assert safety.storage_class_of(values, "ambient") is None
    t0 = datetime(2026, 11, 26, tzinfo=clock.now().tzinfo)
    runs = safety.excursion_runs(cls, [(t0 + timedelta(minutes=5 * n), 9000) for n in range(5)])
    assert len(runs) == 1
    assert runs[0].readings == 5


async def test_bad_readings_are_refused_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await frozen_batch(app, client, shop, "BAD")
    good = series(clock.now() - timedelta(minutes=10), [-20], code=batch.code)[0]
    for change, field in (
        ({"temperature_c": "cold"}, "readings.0.temperature_c"),
        ({"temperature_c": True}, "readings.0.temperature_c"),
        ({"time": "yesterday"}, "readings.0.time"),
        ({"time": "2026-11-26T10:00:00"}, "readings.0.time"),
        ({"sensor_id": ""}, "readings.0.sensor_id"),
        ({"batch_code": "NOPE0000"}, "readings.0.batch_code"),
        ({"extra": 1}, "readings.0.extra"),
    ):
        response = await client.post(
            f"{TRACE}/readings", json={"readings": [good | change]}, headers=shop.headers
        )
        assert response.status_code in (404, 422), response.text
        assert field in response.json()["error"]["fields"], (change, response.text)
    empty = await client.post(f"{TRACE}/readings", json={"readings": []}, headers=shop.headers)
    assert empty.status_code == 422
    junk = await client.post(f"{TRACE}/readings", content=b"{", headers=shop.headers)
    assert junk.status_code == 422


async def test_failed_inspection_holds_the_batch_and_held_stock_cannot_be_bought(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    sku = await product_sku(client, shop)
    batch = await a_batch(app, shop, sku, "INS")
    spare_sku = await product_sku(client, shop, name="玉米面")
    spare = await a_batch(app, shop, spare_sku, "INS2")
    campaign = await published_campaign(client, shop, item(sku, batch_id=batch.id))
    draft = await client.post(
        CAMPAIGNS, json=campaign_body(item(spare_sku, batch_id=spare.id)), headers=shop.headers
    )
    assert draft.status_code == 201, draft.text

    passed = await client.post(
        f"{TRACE}/batches/{batch.id}/inspections",
        data={
            "laboratory": "上海市食品检测中心",
            "items_tested": "铅\n黄曲霉毒素",
            "results": "均未检出",
            "passed": "true",
        },
        headers=shop.headers,
    )
    assert passed.status_code == 201, passed.text
    assert await status_of(app, batch.id) == "active"
    failed = await client.post(
        f"{TRACE}/batches/{batch.id}/inspections",
        data={
            "laboratory": "上海市食品检测中心",
            "items_tested": "黄曲霉毒素B1",
            "results": "12 μg/kg (limit 5)",
            "passed": "false",
        },
        files={"report": ("report.pdf", PDF, "application/pdf")},
        headers=shop.headers,
    )
    assert failed.status_code == 201, failed.text
    assert failed.json()["report_file_id"] is not None
    assert await status_of(app, batch.id) == "on_hold"
    (event,) = await events_named(app, "trace.InspectionFailed")
    assert event["batch_id"] == batch.id
    assert event["inspection_id"] == failed.json()["id"]
    async with app.state.sessionmaker() as s:
        steps = list(
            await s.scalars(
                select(TraceEvent.biz_step)
                .where(TraceEvent.batch_id == batch.id)
                .order_by(TraceEvent.id)
            )
        )
        # The batch's journey: created, inspected twice, put on hold (CBV URIs as stored).
        assert [step.rsplit("BizStep-", 1)[-1] for step in steps] == [
            "commissioning",
            "inspecting",
            "inspecting",
            "holding",
        ]
        assert (await generated.verify_batch_chain(s, batch.id)).ok

    point_id = await a_pickup_point(session)
    (buyer,) = await residents(session, 1)
    refused = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 1)], point_id=point_id
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "batch_on_hold"

    # Publishing a campaign that sells from a held batch is refused too.
    await client.post(
        f"{TRACE}/batches/{spare.id}/inspections",
        data={"laboratory": "L", "items_tested": "x", "results": "bad", "passed": "false"},
        headers=shop.headers,
    )
    publish = await client.post(f"{CAMPAIGNS}/{draft.json()['id']}/publish", headers=shop.headers)
    assert publish.status_code == 409
    assert publish.json()["error"]["code"] == "batch_on_hold"

    bad = await client.post(
        f"{TRACE}/batches/{batch.id}/inspections",
        data={"laboratory": " ", "items_tested": "x", "results": "r", "passed": "false"},
        headers=shop.headers,
    )
    assert bad.status_code == 422
    assert "laboratory" in bad.json()["error"]["fields"]

    destroyed = await client.post(
        f"{TRACE}/batches/{batch.id}/hold-decision",
        json={"decision": "destroy", "reason": "Aflatoxin above limit"},
        headers=shop.headers,
    )
    assert destroyed.status_code == 200
    assert destroyed.json()["status"] == "destroyed"
    await login(client, shop.owner, organisation=shop.organisation)  # pages take no tokens
    page = await client.get(f"/merchant/batches/{batch.id}")
    assert page.status_code == 200
    assert "Aflatoxin above limit" in page.text
    assert (await client.get("/merchant/batches")).status_code == 200


def _broker_up() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 1883), timeout=1):
        return True
    return False


async def test_readings_arrive_over_mqtt(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    if not _broker_up():
        pytest.skip("no MQTT broker on 127.0.0.1:1883")
    shop = await a_shop(client, session)
    batch = await frozen_batch(app, client, shop, "MQTT")
    registered = await client.post(
        "/api/v1/trace/devices",
        json={"device_id": "freezer-3", "model": "ColdLog T1", "name": "冷柜3"},
        headers=shop.headers,
    )
    assert registered.status_code == 201, registered.text
    stop, ready = asyncio.Event(), asyncio.Event()
    listener = asyncio.create_task(
        mqtt.listen(
            app.state.sessionmaker, "mqtt://127.0.0.1:1883", "linli/sensors/#", stop, ready=ready
        )
    )
    try:
        await asyncio.wait_for(ready.wait(), timeout=10)
        payload = {
            "batch_code": batch.code,
            "time": clock.now().isoformat(),
            "temperature_c": -19.5,
        }
        async with aiomqtt.Client("127.0.0.1", 1883) as publisher:
            await publisher.publish("linli/sensors/freezer-3", json.dumps(payload), qos=1)
        for _ in range(100):
            async with app.state.sessionmaker() as s:
                row = await s.scalar(select(TraceReading).where(TraceReading.batch_id == batch.id))
            if row is not None:
                break
            await asyncio.sleep(0.05)
        assert row is not None
        assert (row.sensor_id, row.temperature_mc, row.source) == ("freezer-3", -19500, "mqtt")
    finally:
        stop.set()
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _declare_in_error(
    client: httpx.AsyncClient, session: AsyncSession, shop: Shop, event_pk: int
) -> None:
    """Capture an error declaration of the stored event (the same eventID), over EPCIS."""
    async with session.begin_nested():
        row = await session.get(TraceEvent, event_pk)
        assert row is not None
        event = json.loads(row.document)
    token = await make_token(
        session, shop.owner, organisation=shop.organisation, scopes=("org:read", "trace:capture")
    )
    declared = {
        **event,
        "eventID": row.event_id,
        "errorDeclaration": {
            "declarationTime": clock.now().isoformat(),
            "reason": "incorrect_data",
        },
    }
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": clock.now().isoformat(),
        "epcisBody": {"eventList": [declared]},
    }
    response = await client.post("/epcis/capture", json=document, headers=bearer(token))
    assert response.status_code == 202, response.text


async def _sensor_event_of(app: FastAPI, batch_id: int) -> int:
    async with app.state.sessionmaker() as s:
        pks = set(
            await s.scalars(select(TraceReading.event_pk).where(TraceReading.batch_id == batch_id))
        )
    (pk,) = pks
    assert pk is not None
    return int(pk)


async def test_readings_declared_in_error_no_longer_trigger_or_count(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    start = clock.now() - timedelta(hours=2)
    # An excursion recorded, then its sensor event declared in error: it no longer counts.
    counted = await frozen_batch(app, client, shop, "ERR1")
    result = await send(
        client,
        shop,
        series(start, [-18, -14.9, -14.9, -14.9, -14.9, -14.9, -18], code=counted.code),
    )
    assert result["excursions"] == 1
    async with app.state.sessionmaker() as s:
        assert await safety.cold_chain_counts(s, counted.id) == (7, 1)
    await _declare_in_error(client, session, shop, await _sensor_event_of(app, counted.id))
    async with app.state.sessionmaker() as s:
        assert await safety.cold_chain_counts(s, counted.id) == (0, 0)
        assert await safety.excursions_of(s, counted.id) == []
        assert await safety.readings_of(s, counted.id) == []
        # the journey still shows the event, and its declaration, marked
        assert len(await safety.events_of(s, counted.id)) >= 2

    # Ten minutes outside, declared in error, then ten more: together they would be an
    # excursion (25 minutes > 15); the declared readings are not looked at.
    fresh = await frozen_batch(app, client, shop, "ERR2")
    first = await send(client, shop, series(start, [-14.9, -14.9, -14.9], code=fresh.code))
    assert first["excursions"] == 0
    await _declare_in_error(client, session, shop, await _sensor_event_of(app, fresh.id))
    later = series(start + timedelta(minutes=15), [-14.9, -14.9, -14.9], code=fresh.code)
    assert (await send(client, shop, later))["excursions"] == 0
    assert await status_of(app, fresh.id) == "active"
    async with app.state.sessionmaker() as s:
        assert await safety.cold_chain_counts(s, fresh.id) == (3, 0)
