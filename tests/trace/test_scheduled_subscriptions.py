"""Scheduled subscriptions (`schedule` instead of `stream`): each run posts the events recorded
since the previous run once, across a restart, and schedules the next run in the same
transaction; `reportIfEmpty`; invalid subscriptions are refused naming the field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.outbox import PENDING, DueJob
from tests.trace import test_subscriptions as stream_tests
from tests.trace.helpers import CAPTURE, a_shop, document, event
from tests.trace.test_subscriptions import QUERIES, Receiver, event_ids, temperature

# the stream subscriptions' fixtures: a local webhook receiver, loopback allowed, a restart
receiver = stream_tests.receiver
private_allowed = stream_tests.private_allowed
restart = stream_tests.restart

START = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # the frozen clock's time


async def a_scheduled(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    query = {"name": "cold-chain", "query": {"EQ_type": "Temperature"}}
    assert (await client.post(QUERIES, json=query, headers=headers)).status_code == 201
    created = await client.post(f"{QUERIES}/cold-chain/subscriptions", json=body, headers=headers)
    assert created.status_code == 201, created.text
    found: dict[str, Any] = created.json()
    return found


async def pending_runs(session: AsyncSession) -> list[str]:
    await session.rollback()
    keys = await session.scalars(
        select(DueJob.dedupe_key)
        .where(DueJob.status == PENDING, DueJob.dedupe_key.like("trace.subscription.run:%"))
        .order_by(DueJob.id)
    )
    return [str(key).split(":", 2)[2][:13] for key in keys]  # the run time, to the hour


@pytest.mark.usefixtures("private_allowed")
async def test_each_run_delivers_the_events_since_the_last_run_once_across_a_restart(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    restart: Callable[[], Awaitable[FastAPI]],
    frozen_clock: FrozenClock,
) -> None:
    shop = await a_shop(client, session)
    created = await a_scheduled(
        client, shop.headers, {"dest": receiver.url, "schedule": {"minute": "0"}}
    )
    assert (created["stream"], created["schedule"], created["reportIfEmpty"]) == (
        False,
        {"minute": "0"},
        False,
    )
    frozen_clock.advance(timedelta(minutes=10))
    doc = document(temperature(1, 3.0), event(), temperature(2, 9.0))
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    assert receiver.calls == []  # not on capture: at 03:00:00
    assert await pending_runs(session) == ["2026-11-26T03"]

    receiver.fail_with = [503]
    frozen_clock.set(START + timedelta(hours=1))
    await app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [503]
    # the run was recorded and the next one scheduled with it, once; the post is claimed
    assert await pending_runs(session) == ["2026-11-26T04", "2026-11-26T03"]
    # another server on the same database takes the retry (backoff 1 s)
    frozen_clock.advance(timedelta(seconds=2))
    restarted = await restart()
    await restarted.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [503, 200]
    ((headers, body),) = receiver.taken()
    assert event_ids(body) == [
        "urn:uuid:00000000-0000-4000-8000-000000000001",
        "urn:uuid:00000000-0000-4000-8000-000000000002",
    ]
    assert body["epcisBody"]["queryResults"]["subscriptionID"] == created["subscriptionID"]
    assert headers["linli-delivery-id"] == receiver.calls[0][1]["linli-delivery-id"]
    assert headers["linli-signature"].startswith("sha256=")
    assert await pending_runs(session) == ["2026-11-26T04"]

    # Events of the next hour only, in the next run.
    frozen_clock.set(START + timedelta(hours=1, minutes=30))
    later = document(temperature(3, 4.0))
    assert (await client.post(CAPTURE, json=later, headers=shop.headers)).status_code == 202
    frozen_clock.set(START + timedelta(hours=2))
    await restarted.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()
    assert [event_ids(b) for _h, b in receiver.taken()][1:] == [
        ["urn:uuid:00000000-0000-4000-8000-000000000003"]
    ]
    # A run with nothing new posts nothing (reportIfEmpty false) and schedules the next.
    frozen_clock.set(START + timedelta(hours=3))
    await app.state.dispatcher.run_once()
    await restarted.state.dispatcher.run_once()
    assert len(receiver.calls) == 3
    assert await pending_runs(session) == ["2026-11-26T06"]
    url = f"{QUERIES}/cold-chain/subscriptions/{created['subscriptionID']}"
    state = (await client.get(url, headers=shop.headers)).json()
    assert (state["active"], state["failures"], state["delivered"]) == (True, 0, 2)
    assert state["lastRunAt"] == "2026-11-26T05:00:00Z"


@pytest.mark.usefixtures("private_allowed")
async def test_report_if_empty_posts_an_empty_document_and_initial_record_time(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    shop = await a_shop(client, session)
    # captured before the subscription: delivered by the first run from initialRecordTime
    doc = document(temperature(1, 3.0))
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    frozen_clock.advance(timedelta(minutes=1))
    await a_scheduled(
        client,
        shop.headers,
        {
            "dest": receiver.url,
            "schedule": {"hour": "[3-4]", "minute": "0"},
            "reportIfEmpty": True,
            "initialRecordTime": "2026-11-26T09:59:00+08:00",
        },
    )
    for hour in (3, 4):
        frozen_clock.set(START.replace(hour=hour))
        await app.state.dispatcher.run_once()
    first, second = (b for _h, b in receiver.taken())
    assert event_ids(first) == ["urn:uuid:00000000-0000-4000-8000-000000000001"]
    assert event_ids(second) == []  # reportIfEmpty: posted, empty
    assert await pending_runs(session) == ["2026-11-27T03"]


@pytest.mark.usefixtures("private_allowed")
async def test_a_failing_webhook_deactivates_a_scheduled_subscription_and_its_runs_stop(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    frozen_clock: FrozenClock,
) -> None:
    shop = await a_shop(client, session)
    created = await a_scheduled(
        client,
        shop.headers,
        {"dest": receiver.url, "schedule": {"hour": "3"}, "reportIfEmpty": True},
    )
    receiver.fail_with = [500, 500, 500]
    frozen_clock.set(START.replace(hour=3))
    for wait in (0, 2, 3):  # backoff 1 s, then 2 s
        frozen_clock.advance(timedelta(seconds=wait))
        await app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [500, 500, 500]
    url = f"{QUERIES}/cold-chain/subscriptions/{created['subscriptionID']}"
    state = (await client.get(url, headers=shop.headers)).json()
    assert (state["active"], state["failures"]) == (False, 3)
    # the next day's run (scheduled with the first) does nothing and schedules no other
    frozen_clock.set(START.replace(day=27, hour=3))
    await app.state.dispatcher.run_once()
    assert len(receiver.calls) == 3
    assert await pending_runs(session) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stream": True, "schedule": {"hour": "2"}}, "schedule"),
        ({"stream": False}, "schedule"),
        ({"schedule": {"hour": "25"}}, "schedule.hour"),
        ({"schedule": {"dayOfWeek": "[1-9]"}}, "schedule.dayOfWeek"),
        ({"schedule": {}}, "schedule.second"),
        ({"reportIfEmpty": True}, "reportIfEmpty"),
    ],
)
async def test_invalid_subscriptions_are_refused_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, body: dict[str, Any], field: str
) -> None:
    shop = await a_shop(client, session)
    query = {"name": "q", "query": {}}
    assert (await client.post(QUERIES, json=query, headers=shop.headers)).status_code == 201
    response = await client.post(
        f"{QUERIES}/q/subscriptions",
        json={"dest": "https://93.184.216.34/hook", **body},
        headers=shop.headers,
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]["fields"]


async def test_an_unknown_schedule_field_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    query = {"name": "q", "query": {}}
    assert (await client.post(QUERIES, json=query, headers=shop.headers)).status_code == 201
    response = await client.post(
        f"{QUERIES}/q/subscriptions",
        json={"dest": "https://93.184.216.34/hook", "schedule": {"weekday": "1"}},
        headers=shop.headers,
    )
    assert response.status_code in (400, 422), response.text
    assert "weekday" in response.text
