"""Subscriptions to named queries: each capture's matching events are posted once to a local
webhook receiver, signed, retried with backoff, across a restart of the server; a webhook that
keeps failing deactivates its subscription; webhook URLs are checked (SSRF)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.app import create_app
from linli.audit.models import AuditEntry
from linli.config import Settings
from linli.errors import BadRequest
from linli.outbox import PENDING, DueJob
from linli.trace import subscriptions
from linli.trace.query_models import TraceSubscription
from tests.trace.helpers import CAPTURE, a_shop, document, event

QUERIES = "/epcis/queries"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers the next statuses in `fail_with`, then 200."""

    url: str = ""
    fail_with: list[int] = field(default_factory=list)
    calls: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)

    def taken(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(h, json.loads(b)) for status, h, b in self.calls if status == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = found.fail_with.pop(0) if found.fail_with else 200
            found.calls.append((status, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_allowed(app: FastAPI) -> Iterator[None]:
    """The tests' webhook is on loopback: allowed, 3 failures deactivate (after the app has
    configured the policy from its settings)."""
    before = subscriptions.policy()
    subscriptions.configure(subscriptions.Policy(allow_private=True, max_failures=3))
    yield
    subscriptions.configure(before)


@pytest.fixture
async def restart(settings: Settings) -> AsyncIterator[Callable[[], Awaitable[FastAPI]]]:
    """Start another server on the same database (a restart), its settings allowing the
    loopback webhook; stopped at the end."""
    managers: list[LifespanManager] = []

    allowed = settings.model_copy(
        update={"trace_webhook_allow_private": True, "trace_webhook_max_failures": 3}
    )

    async def start() -> FastAPI:
        app = create_app(allowed)
        manager = LifespanManager(app)
        await manager.__aenter__()
        managers.append(manager)
        return app

    yield start
    for manager in reversed(managers):
        await manager.__aexit__(None, None, None)


def temperature(n: int, value: float) -> dict[str, Any]:
    return event(
        eventID=f"urn:uuid:00000000-0000-4000-8000-0000000000{n:02d}",
        sensorElementList=[{"sensorReport": [{"type": "Temperature", "value": value}]}],
    )


async def a_subscription(
    client: httpx.AsyncClient, headers: dict[str, str], dest: str
) -> dict[str, Any]:
    query = {"name": "cold-chain", "query": {"EQ_type": "Temperature"}}
    assert (await client.post(QUERIES, json=query, headers=headers)).status_code == 201
    created = await client.post(
        f"{QUERIES}/cold-chain/subscriptions", json={"dest": dest}, headers=headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    assert created.headers["Location"].endswith(body["subscriptionID"])
    return body


def event_ids(document: dict[str, Any]) -> list[str]:
    results = document["epcisBody"]["queryResults"]
    return [e["eventID"] for e in results["resultsBody"]["eventList"]]


@pytest.mark.usefixtures("private_allowed")
async def test_each_matching_event_is_delivered_once_across_a_restart(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    restart: Callable[[], Awaitable[FastAPI]],
) -> None:
    shop = await a_shop(client, session)
    subscription = await a_subscription(client, shop.headers, receiver.url)
    receiver.fail_with = [503]  # the first attempt fails
    doc = document(temperature(1, 3.0), event(), temperature(2, 9.0))
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202

    await app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [503]
    # The server stops before the retry is due; another one starts on the same database.
    await asyncio.sleep(1.2)  # outbox.backoff(1)
    restarted_app = await restart()
    await restarted_app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()
    await restarted_app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [503, 200]
    ((headers, body),) = receiver.taken()
    assert event_ids(body) == [
        "urn:uuid:00000000-0000-4000-8000-000000000001",
        "urn:uuid:00000000-0000-4000-8000-000000000002",
    ]
    assert body["epcisBody"]["queryResults"]["queryName"] == "cold-chain"
    assert body["epcisBody"]["queryResults"]["subscriptionID"] == subscription["subscriptionID"]
    raw = receiver.calls[1][2]
    expected = hmac.new(subscription["secret"].encode(), raw, hashlib.sha256).hexdigest()
    assert headers["linli-signature"] == f"sha256={expected}"
    assert headers["linli-delivery-id"] == receiver.calls[0][1]["linli-delivery-id"]

    # A later capture: only its own matching event, once.
    later = document(
        temperature(3, 4.0), event(eventID="urn:uuid:00000000-0000-4000-8000-000000000099")
    )
    assert (await client.post(CAPTURE, json=later, headers=shop.headers)).status_code == 202
    await restarted_app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()
    assert [event_ids(b) for _h, b in receiver.taken()] == [
        [
            "urn:uuid:00000000-0000-4000-8000-000000000001",
            "urn:uuid:00000000-0000-4000-8000-000000000002",
        ],
        ["urn:uuid:00000000-0000-4000-8000-000000000003"],
    ]
    # A capture with no matching event posts nothing.
    other = document(event(eventID="urn:uuid:00000000-0000-4000-8000-000000000098"))
    assert (await client.post(CAPTURE, json=other, headers=shop.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    assert len(receiver.calls) == 3
    url = f"{QUERIES}/cold-chain/subscriptions/{subscription['subscriptionID']}"
    state = (await client.get(url, headers=shop.headers)).json()
    assert (state["active"], state["failures"], state["delivered"]) == (True, 0, 2)
    assert "secret" not in state


@pytest.mark.usefixtures("private_allowed")
async def test_a_webhook_that_keeps_failing_deactivates_its_subscription(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver
) -> None:
    shop = await a_shop(client, session)
    subscription = await a_subscription(client, shop.headers, receiver.url)
    receiver.fail_with = [500, 500, 500, 500]
    doc = document(temperature(1, 3.0))
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    for wait in (0.0, 1.2, 2.2):  # backoff 1 s, then 2 s
        await asyncio.sleep(wait)
        await app.state.dispatcher.run_once()
    assert [status for status, _h, _b in receiver.calls] == [500, 500, 500]
    url = f"{QUERIES}/cold-chain/subscriptions/{subscription['subscriptionID']}"
    state = (await client.get(url, headers=shop.headers)).json()
    assert (state["active"], state["failures"], state["lastError"]) == (False, 3, "HTTP 500")
    assert state["deactivatedAt"] is not None
    await session.rollback()
    actions = (
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("trace.subscription.%"))
        )
    ).all()
    assert sorted(actions) == ["trace.subscription.create", "trace.subscription.deactivate"]
    # Deactivated: a new capture posts nothing.
    assert (
        await client.post(CAPTURE, json=document(temperature(2, 1.0)), headers=shop.headers)
    ).status_code == 202
    await asyncio.sleep(4.2)
    await app.state.dispatcher.run_once()
    assert len(receiver.calls) == 3


@pytest.mark.usefixtures("private_allowed")
async def test_nobody_reaches_another_organisations_subscriptions(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, receiver: Receiver
) -> None:
    mine = await a_shop(client, session, name="我的店")
    theirs = await a_shop(client, session, name="别人的店")
    subscription = await a_subscription(client, mine.headers, receiver.url)
    url = f"{QUERIES}/cold-chain/subscriptions/{subscription['subscriptionID']}"
    for method, path in (
        ("GET", url),
        ("DELETE", url),
        ("GET", f"{QUERIES}/cold-chain/subscriptions"),
    ):
        response = await client.request(method, path, headers=theirs.headers)
        assert response.status_code == 404, (method, path)
    taken = await client.post(
        f"{QUERIES}/cold-chain/subscriptions", json={"dest": receiver.url}, headers=theirs.headers
    )
    assert taken.status_code == 404
    # Their capture never reaches my subscription.
    doc = document(temperature(1, 3.0))
    assert (await client.post(CAPTURE, json=doc, headers=theirs.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    assert receiver.calls == []
    # Mine can unsubscribe: then a capture posts nothing.
    assert (await client.delete(url, headers=mine.headers)).status_code == 204
    assert (await client.post(CAPTURE, json=doc, headers=mine.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    assert receiver.calls == []


@pytest.mark.parametrize(
    "dest",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http:///no-host",
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_webhook_urls_are_refused_unless_public_http(
    client: httpx.AsyncClient, session: AsyncSession, dest: str
) -> None:
    shop = await a_shop(client, session)
    query = {"name": "q", "query": {}}
    assert (await client.post(QUERIES, json=query, headers=shop.headers)).status_code == 201
    response = await client.post(
        f"{QUERIES}/q/subscriptions", json={"dest": dest}, headers=shop.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_destination"


async def test_the_setting_allows_private_addresses_and_public_ones_pass() -> None:
    await subscriptions.check_destination("http://127.0.0.1:8000/hook", allow_private=True)
    await subscriptions.check_destination("https://93.184.216.34/hook", allow_private=False)
    with pytest.raises(BadRequest):
        await subscriptions.check_destination("ftp://127.0.0.1/", allow_private=True)


@pytest.mark.usefixtures("private_allowed")
async def test_no_transaction_is_held_while_posting_and_declarations_are_delivered(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = await a_shop(client, session)
    subscription = await a_subscription(client, shop.headers, receiver.url)
    real_post = subscriptions._post
    probes: list[str] = []

    async def post_while_another_writes(*args: Any) -> str | None:
        # While the webhook is being posted, another writer takes the subscription row (at
        # once, or fail: NOWAIT on PostgreSQL) and writes (SQLite's write lock): both would
        # wait for the delivery job's transaction if the post happened inside it.
        async with app.state.sessionmaker() as other, other.begin():
            row = await other.scalar(
                select(TraceSubscription)
                .where(TraceSubscription.public_id == subscription["subscriptionID"])
                .with_for_update(nowait=True)
            )
            assert row is not None
            row.last_error = "probe"
        probes.append("written")
        return await real_post(*args)

    monkeypatch.setattr(subscriptions, "_post", post_while_another_writes)
    declaration = {
        "declarationTime": "2024-05-03T08:00:00+08:00",
        "reason": "incorrect_data",
    }
    # An event and its error declaration in one capture: the event, carrying the declaration.
    doc = document(temperature(1, 3.0), temperature(1, 3.0) | {"errorDeclaration": declaration})
    assert (await client.post(CAPTURE, json=doc, headers=shop.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    assert probes == ["written"]
    ((_headers, body),) = receiver.taken()
    (delivered,) = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert delivered["eventID"] == "urn:uuid:00000000-0000-4000-8000-000000000001"
    assert delivered["errorDeclaration"] == declaration
    # An event delivered before, declared in error later: the declaration is delivered.
    first = document(temperature(2, 5.0))
    assert (await client.post(CAPTURE, json=first, headers=shop.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    later = document(temperature(2, 5.0) | {"errorDeclaration": declaration})
    assert (await client.post(CAPTURE, json=later, headers=shop.headers)).status_code == 202
    await app.state.dispatcher.run_once()
    bodies = [b for _h, b in receiver.taken()]
    assert len(bodies) == 3
    (declared,) = bodies[2]["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert declared["eventID"] == "urn:uuid:00000000-0000-4000-8000-000000000002"
    assert declared["errorDeclaration"] == declaration
    url = f"{QUERIES}/cold-chain/subscriptions/{subscription['subscriptionID']}"
    state = (await client.get(url, headers=shop.headers)).json()
    assert (state["delivered"], state["failures"], state["lastError"]) == (3, 0, None)
    # every claim was settled: nothing is left to deliver
    await session.rollback()
    pending = await session.scalars(
        select(DueJob.dedupe_key).where(
            DueJob.status == PENDING, DueJob.dedupe_key.like("trace.subscription:%")
        )
    )
    assert list(pending) == []
