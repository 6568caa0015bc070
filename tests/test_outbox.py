"""The transactional outbox, the at-least-once dispatcher, idempotent handlers and due jobs.

Test handlers subscribe to `MembershipRevoked` (only `revoke_role` publishes it, and the
`handlers` fixture detaches any domain handler of it), so the events these tests publish reach
only the handlers they add.
Every test asks for `frozen_clock` first, so that time stands still before the app starts.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import Executable, Select, delete, func, select, update
from sqlalchemy.event import listen, remove
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.accounts.handlers import (
    EXPIRED_SESSION_RETENTION,
    LOGIN_FAILURE_RETENTION,
    PRUNE_EVERY,
    PRUNE_JOB,
    ensure_prune_scheduled,
)
from linli.accounts.models import LoginFailure, Organisation, User, UserSession
from linli.app import create_app
from linli.audit import service as audit
from linli.audit.models import AuditEntry
from linli.authz import Actor
from linli.clock import FrozenClock
from linli.config import Settings
from linli.db import make_engine, make_sessionmaker
from linli.events import MembershipRevoked, UserSignedUp
from linli.jobs import JobPayload, job_kind
from linli.notifications.models import Notification
from linli.outbox import Dispatcher, DueJob, Envelope, HandledEvent, OutboxEvent
from tests.conftest import DATABASE_KIND, STARTUP_TIMEOUT, dispatch_errors
from tests.factories import make_org, make_token, make_user
from tests.live import linli_command

SYSTEM = Actor.for_system()
EVENT = MembershipRevoked
EVENT_NAME = MembershipRevoked.event_name
HANDLED = "tests.handled"  # the audit action test handlers write as their visible effect
JOB_RAN = "tests.job_ran"  # ... and the one the test job writes


class Calls:
    """Thread-safe count of invocations by (name, key): what ran, whether or not it committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, name: str, key: str) -> None:
        with self._lock:
            self._counts[(name, key)] += 1

    def of(self, name: str, key: str | None = None) -> int:
        with self._lock:
            return sum(n for (h, k), n in self._counts.items() if h == name and key in (None, k))

    def keys(self, name: str) -> Counter[str]:
        with self._lock:
            return Counter({k: n for (h, k), n in self._counts.items() if h == name})

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


# --- test job kind: registered once, at import (the job registry has no unregister) --------


@job_kind("tests.outbox.record")
class RecordJob(JobPayload):
    key: str


RECORD_JOB = RecordJob.job_kind
JOB_RUNS = Calls()
JOB_FAILURES: dict[str, int] = {}  # job key -> failures still to come


@outbox.job(RecordJob)
async def record_job(session: AsyncSession, job: RecordJob) -> None:
    """Writes an audit row, then fails while failures remain for its key."""
    key = job.key
    JOB_RUNS.add(RECORD_JOB, key)
    audit.record(session, SYSTEM, JOB_RAN, target_type="test_job", target_id=key)
    remaining = JOB_FAILURES.get(key, 0)
    if remaining > 0:
        JOB_FAILURES[key] = remaining - 1
        raise RuntimeError(f"job {key} failed")


# --- test handlers: subscribed per test, always unsubscribed -------------------------------


class Handlers:
    """Subscribes test handlers that write an audit row, count calls and fail on demand."""

    def __init__(self) -> None:
        self.calls = Calls()
        self.failures: dict[str, int] = {}  # handler name -> failures still to come
        self.poisoned: set[str] = set()  # event ids every handler fails on, always
        self._names: list[str] = []

    def add(
        self, short: str, *, fail_times: int = 0, flush: bool = False, batch_safe: bool = False
    ) -> str:
        """`flush`: its write reaches the database before it fails (undone by a rollback,
        not by forgetting a pending object). `batch_safe`: a batch of the event is handled in
        one transaction when every handler of it is."""
        name = f"tests.{short}"
        self.failures[name] = fail_times

        async def handler(session: AsyncSession, envelope: Envelope[MembershipRevoked]) -> None:
            self.calls.add(name, envelope.event_id)
            assert type(envelope.payload) is EVENT  # parsed into the subscribed type
            await asyncio.sleep(0)  # let concurrent dispatchers interleave
            audit.record(session, SYSTEM, HANDLED, target_type=name, target_id=envelope.event_id)
            if flush:
                await session.flush()
            if envelope.event_id in self.poisoned:
                raise RuntimeError(f"{name} refused a poisoned event")
            if self.failures[name] > 0:
                self.failures[name] -= 1
                raise RuntimeError(f"{name} failed")

        outbox.subscribe(EVENT, name, batch_safe=batch_safe)(handler)
        self._names.append(name)
        return name

    def remove_all(self) -> None:
        for name in self._names:
            outbox.unsubscribe(EVENT, name)
        self._names.clear()


@pytest.fixture
def handlers() -> Iterator[Handlers]:
    """Test handlers only: any domain handler of the test event is detached meanwhile."""
    domain = outbox.subscribers(EVENT_NAME)
    for name, _handler in domain:
        outbox.unsubscribe(EVENT, name)
    registry = Handlers()
    try:
        yield registry
    finally:
        registry.remove_all()
        assert outbox.subscribers(EVENT_NAME) == []
        for name, handler in domain:
            outbox.subscribe(EVENT, name)(handler)


# --- helpers (fresh sessions: a SQLite transaction left open would block the dispatcher) ---


def revoked(n: int = 1) -> MembershipRevoked:
    return MembershipRevoked(organisation_id=n, user_id=n, role="staff")


async def publish(app: FastAPI, event: MembershipRevoked | None = None) -> str:
    async with app.state.sessionmaker() as s, s.begin():
        return outbox.publish(s, event or revoked())


async def fetch(app: FastAPI, statement: Executable) -> list[Any]:
    async with app.state.sessionmaker() as s:
        return list(await s.scalars(statement))


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def execute(app: FastAPI, statement: Executable) -> None:
    async with app.state.sessionmaker() as s, s.begin():
        await s.execute(statement)


async def event_row(app: FastAPI, event_id: str) -> OutboxEvent:
    (row,) = await fetch(app, select(OutboxEvent).where(OutboxEvent.event_id == event_id))
    assert isinstance(row, OutboxEvent)
    return row


async def handled(app: FastAPI) -> list[tuple[str, str]]:
    """(handler, event id) applied by the test handlers (domain handlers left out)."""
    async with app.state.sessionmaker() as s:
        rows = await s.execute(
            select(HandledEvent.handler, HandledEvent.event_id)
            .where(HandledEvent.handler.startswith("tests."))
            .order_by(HandledEvent.id)
        )
        return [(h, e) for h, e in rows]


async def audit_targets(app: FastAPI, action: str) -> list[tuple[str | None, str | None]]:
    async with app.state.sessionmaker() as s:
        rows = await s.execute(
            select(AuditEntry.target_type, AuditEntry.target_id)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [(t, i) for t, i in rows]


async def schedule(app: FastAPI, due_at: datetime, *, failures: int = 0) -> tuple[int, str]:
    key = uuid.uuid4().hex
    if failures:
        JOB_FAILURES[key] = failures
    async with app.state.sessionmaker() as s, s.begin():
        job = await outbox.schedule(s, RecordJob(key=key), due_at)
        assert job is not None
        await s.flush()
        return job.id, key


async def job_row(app: FastAPI, job_id: int) -> DueJob:
    (row,) = await fetch(app, select(DueJob).where(DueJob.id == job_id))
    assert isinstance(row, DueJob)
    return row


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def an_operator(session: AsyncSession) -> tuple[dict[str, str], User, Organisation]:
    """A platform operator: their bearer headers, the user and the platform organisation."""
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    return bearer(await make_token(session, operator, organisation=platform)), operator, platform


def test_backoff_doubles_from_one_second_and_is_capped_at_ten_minutes() -> None:
    assert [outbox.backoff(n).total_seconds() for n in range(1, 12)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600,
    ]  # fmt: skip
    assert outbox.backoff(100) == timedelta(minutes=10)


# --- publishing is transactional ------------------------------------------------------------


async def test_event_of_a_rolled_back_transaction_is_never_delivered(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    name = handlers.add("rolled_back")

    async with app.state.sessionmaker() as s:
        await s.begin()
        outbox.publish(s, revoked(1))
        await s.flush()  # the row really reaches the database inside the transaction...
        assert await s.scalar(select(func.count()).select_from(OutboxEvent)) == 1
        await s.rollback()  # ... and goes away with it

    async def publish_then_fail() -> None:
        async with app.state.sessionmaker() as s, s.begin():
            outbox.publish(s, revoked(2))
            await s.flush()
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError, match="caller's work failed"):
        await publish_then_fail()

    assert await count(app, OutboxEvent) == 0
    assert await app.state.dispatcher.run_once() == 0
    frozen_clock.advance(timedelta(minutes=5))
    assert await app.state.dispatcher.run_once() == 0
    assert handlers.calls.total() == 0
    assert await handled(app) == []
    assert await audit_targets(app, HANDLED) == []

    # Control: the same event, committed, is delivered to the same handler.
    event_id = await publish(app, revoked(3))
    assert await app.state.dispatcher.run_once() == 1
    assert handlers.calls.keys(name) == Counter({event_id: 1})
    assert await count(app, OutboxEvent) == 1


async def test_publishing_an_undeclared_event_type_is_refused(
    frozen_clock: FrozenClock, app: FastAPI
) -> None:
    class NotDeclared(MembershipRevoked):
        pass

    async with app.state.sessionmaker() as s:
        with pytest.raises(TypeError, match="not a declared event type"):
            outbox.publish(s, NotDeclared(organisation_id=1, user_id=1, role="staff"))
    assert await count(app, OutboxEvent) == 0


# --- retries, idempotence, dead letters -------------------------------------------------------


async def test_failing_handler_is_retried_after_backoff_then_succeeds(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    name = handlers.add("flaky", fail_times=2)
    dispatcher = app.state.dispatcher
    event_id = await publish(app)

    assert await dispatcher.run_once() == 1
    row = await event_row(app, event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.available_at == frozen_clock.now() + timedelta(seconds=1)
    assert row.last_error is not None
    assert row.last_error.startswith(f"{name}: RuntimeError: {name} failed")
    assert (row.locked_by, row.locked_until, row.delivered_at) == (None, None, None)
    # The failed attempt's writes were rolled back with it.
    assert await handled(app) == []
    assert await audit_targets(app, HANDLED) == []

    # Not re-run before its available_at.
    assert await dispatcher.run_once() == 0
    frozen_clock.advance(timedelta(milliseconds=999))
    assert await dispatcher.run_once() == 0
    assert handlers.calls.of(name) == 1

    frozen_clock.advance(timedelta(milliseconds=1))
    assert await dispatcher.run_once() == 1
    row = await event_row(app, event_id)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.available_at == frozen_clock.now() + timedelta(seconds=2)  # doubled
    assert handlers.calls.of(name) == 2

    frozen_clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 0
    assert handlers.calls.of(name) == 2

    frozen_clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    row = await event_row(app, event_id)
    assert row.status == "delivered"
    assert row.attempts == 2  # attempts count failures
    assert row.last_error is None
    assert row.delivered_at == frozen_clock.now()
    assert (row.locked_by, row.locked_until) == (None, None)
    assert handlers.calls.keys(name) == Counter({event_id: 3})
    assert await handled(app) == [(name, event_id)]
    assert await audit_targets(app, HANDLED) == [(name, event_id)]

    # Delivered is final.
    frozen_clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0
    assert handlers.calls.of(name) == 3


async def test_redelivered_event_is_not_applied_twice(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    name = handlers.add("once")
    event_id = await publish(app)
    assert await app.state.dispatcher.run_once() == 1
    assert handlers.calls.of(name) == 1

    # At-least-once delivery: the row comes back as if its settling had been lost, and a
    # second dispatcher claims it.
    for worker in ("second-worker", "third-worker"):
        await execute(
            app,
            update(OutboxEvent)
            .where(OutboxEvent.event_id == event_id)
            .values(status="pending", delivered_at=None),
        )
        other = Dispatcher(app.state.sessionmaker, worker_id=worker)
        assert await other.run_once() == 1  # claimed and settled again...
        assert (await event_row(app, event_id)).status == "delivered"

    assert await app.state.dispatcher.run_once() == 0
    assert handlers.calls.of(name) == 1  # ... without running the handler again
    assert await handled(app) == [(name, event_id)]
    assert await audit_targets(app, HANDLED) == [(name, event_id)]


async def test_event_leased_by_another_worker_waits_for_the_lease_to_expire(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    name = handlers.add("leased")
    event_id = await publish(app)
    lease_end = frozen_clock.now() + timedelta(seconds=60)
    # A worker claimed it and then died without settling.
    await execute(
        app,
        update(OutboxEvent)
        .where(OutboxEvent.event_id == event_id)
        .values(locked_by="crashed-worker", locked_until=lease_end),
    )
    assert await app.state.dispatcher.run_once() == 0
    frozen_clock.set(lease_end)
    assert await app.state.dispatcher.run_once() == 0
    assert handlers.calls.total() == 0

    frozen_clock.advance(timedelta(microseconds=1))
    assert await app.state.dispatcher.run_once() == 1
    assert handlers.calls.keys(name) == Counter({event_id: 1})
    row = await event_row(app, event_id)
    assert (row.status, row.locked_by, row.locked_until) == ("delivered", None, None)


async def test_successful_handler_is_not_reapplied_when_a_sibling_is_retried(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    steady = handlers.add("steady")
    # Fails twice: in the delivery without savepoints (rolled back whole) and in the one that
    # runs each handler in a savepoint of its own, which commits the steady sibling's effect.
    flaky = handlers.add("flaky_sibling", fail_times=2)
    event_id = await publish(app)

    assert await app.state.dispatcher.run_once() == 1
    row = await event_row(app, event_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error is not None
    assert row.last_error.startswith(f"{flaky}: RuntimeError")
    assert steady not in row.last_error
    assert await handled(app) == [(steady, event_id)]
    assert await audit_targets(app, HANDLED) == [(steady, event_id)]

    frozen_clock.advance(outbox.backoff(1))
    assert await app.state.dispatcher.run_once() == 1
    assert (await event_row(app, event_id)).status == "delivered"
    # steady ran twice in the first delivery (once rolled back) and its effect stands once
    assert handlers.calls.keys(steady) == Counter({event_id: 2})
    assert handlers.calls.keys(flaky) == Counter({event_id: 3})
    assert sorted(await handled(app)) == sorted([(steady, event_id), (flaky, event_id)])
    assert await audit_targets(app, HANDLED) == [(steady, event_id), (flaky, event_id)]


async def test_an_events_handlers_commit_once_and_a_failure_undoes_only_its_own_writes(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    first = handlers.add("first", flush=True)
    failing = handlers.add("failing_after_its_write", fail_times=2, flush=True)
    last = handlers.add("last", flush=True)
    event_id = await publish(app)
    commits: list[int] = []

    def note_commit(_connection: Any) -> None:
        commits.append(1)

    engine = app.state.engine.sync_engine
    listen(engine, "commit", note_commit)
    try:
        assert await app.state.dispatcher.run_once() == 1
    finally:
        remove(engine, "commit", note_commit)

    # Two passes claiming events and jobs (the second finds none), the event's three handlers
    # together and the failed event's settling: 6 (a transaction per handler made it 8).
    assert len(commits) == 6
    assert sorted(await handled(app)) == sorted([(first, event_id), (last, event_id)])
    assert await audit_targets(app, HANDLED) == [(first, event_id), (last, event_id)]
    row = await event_row(app, event_id)
    assert row.last_error is not None
    assert row.last_error.startswith(f"{failing}: RuntimeError")
    assert first not in row.last_error
    assert last not in row.last_error

    frozen_clock.advance(outbox.backoff(1))
    assert await app.state.dispatcher.run_once() == 1
    assert (await event_row(app, event_id)).status == "delivered"
    # The first delivery ran `first` and `failing` once more, in its try without savepoints
    # (rolled back whole when `failing` failed, before `last`); the audit rows below show each
    # effect once.
    assert handlers.calls.keys(first) == Counter({event_id: 2})
    assert handlers.calls.keys(failing) == Counter({event_id: 3})
    assert handlers.calls.keys(last) == Counter({event_id: 1})
    assert await audit_targets(app, HANDLED) == [
        (first, event_id),
        (last, event_id),
        (failing, event_id),
    ]


async def test_dead_event_is_shown_to_operators_and_can_be_requeued(
    frozen_clock: FrozenClock,
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    handlers: Handlers,
) -> None:
    as_operator, operator, platform = await an_operator(session)
    owner = await make_user(session, name="店主")
    merchant = await make_org(session, "merchant", owner=owner)
    as_owner = bearer(await make_token(session, owner, organisation=merchant))
    dispatcher = app.state.dispatcher
    await dispatcher.run_once()  # the factories' own events, before our handler exists
    delivered_before = await count(app, OutboxEvent, OutboxEvent.status == "delivered")

    name = handlers.add("doomed", fail_times=10**6)
    event_id = await publish(app)
    max_attempts = settings.dispatcher_max_attempts
    for attempt in range(1, max_attempts + 1):
        assert await dispatcher.run_once() == 1
        row = await event_row(app, event_id)
        assert row.attempts == attempt
        assert row.status == ("dead" if attempt == max_attempts else "pending")
        frozen_clock.advance(outbox.backoff(attempt))
    assert handlers.calls.of(name) == max_attempts
    # A dead event is not retried, however long one waits.
    frozen_clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0
    assert handlers.calls.of(name) == max_attempts
    assert await handled(app) == []

    listing = "/api/v1/ops/outbox"
    anonymous = await client.get(listing, params={"status": "dead"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    forbidden = await client.get(listing, params={"status": "dead"}, headers=as_owner)
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "forbidden"

    response = await client.get(listing, params={"status": "dead"}, headers=as_operator)
    assert response.status_code == 200, response.text
    (dead,) = response.json()
    assert dead["event_id"] == event_id
    assert dead["event_type"] == EVENT_NAME
    assert dead["payload"] == {"organisation_id": 1, "user_id": 1, "role": "staff"}
    assert (dead["status"], dead["attempts"]) == ("dead", max_attempts)
    assert dead["last_error"].startswith(f"{name}: RuntimeError: {name} failed")
    assert dead["delivered_at"] is None
    pending = await client.get(listing, params={"status": "pending"}, headers=as_operator)
    assert pending.json() == []
    counts = await client.get(f"{listing}/counts", headers=as_operator)
    assert counts.json() == {"pending": 0, "delivered": delivered_before, "dead": 1}

    requeue = f"{listing}/{dead['seq']}/requeue"
    assert (await client.post(requeue)).status_code == 401
    assert (await client.post(requeue, headers=as_owner)).status_code == 403
    assert (await event_row(app, event_id)).status == "dead"
    assert await count(app, AuditEntry, AuditEntry.action == "ops.event_requeued") == 0
    missing = await client.post(f"{listing}/{dead['seq'] + 1000}/requeue", headers=as_operator)
    assert missing.status_code == 404

    response = await client.post(requeue, headers=as_operator)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    row = await event_row(app, event_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.available_at == frozen_clock.now()
    (entry,) = await fetch(app, select(AuditEntry).where(AuditEntry.action == "ops.event_requeued"))
    assert (entry.user_id, entry.organisation_id) == (operator.id, platform.id)
    assert (entry.target_type, entry.target_id) == ("outbox_event", event_id)
    assert entry.details == {"event_type": EVENT_NAME}
    again = await client.post(requeue, headers=as_operator)
    assert again.status_code == 409
    assert await count(app, AuditEntry, AuditEntry.action == "ops.event_requeued") == 1

    # With the handler fixed, the requeued event is delivered on the next pass.
    handlers.failures[name] = 0
    assert await dispatcher.run_once() == 1
    row = await event_row(app, event_id)
    assert (row.status, row.last_error) == ("delivered", None)
    assert handlers.calls.of(name) == max_attempts + 1
    assert await handled(app) == [(name, event_id)]
    assert await audit_targets(app, HANDLED) == [(name, event_id)]


# --- due jobs -------------------------------------------------------------------------------


async def test_job_runs_once_when_due_and_not_before(
    frozen_clock: FrozenClock, app: FastAPI
) -> None:
    dispatcher = app.state.dispatcher
    job_id, key = await schedule(app, frozen_clock.now() + timedelta(hours=1))

    assert await dispatcher.run_once() == 0
    frozen_clock.advance(timedelta(minutes=59, seconds=59))
    assert await dispatcher.run_once() == 0
    assert JOB_RUNS.of(RECORD_JOB, key) == 0
    assert (await job_row(app, job_id)).status == "pending"

    frozen_clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    job = await job_row(app, job_id)
    assert (job.status, job.attempts, job.last_error) == ("done", 0, None)
    assert job.done_at == frozen_clock.now()
    assert (job.locked_by, job.locked_until) == (None, None)
    assert JOB_RUNS.of(RECORD_JOB, key) == 1

    frozen_clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0
    assert JOB_RUNS.of(RECORD_JOB, key) == 1
    assert await audit_targets(app, JOB_RAN) == [("test_job", key)]


async def test_job_survives_a_restart(frozen_clock: FrozenClock, settings: Settings) -> None:
    first = create_app(settings)
    async with LifespanManager(first, startup_timeout=STARTUP_TIMEOUT):
        job_id, key = await schedule(first, frozen_clock.now() + timedelta(minutes=30))
        assert await first.state.dispatcher.run_once() == 0
    # The first app is gone (lifespan exited, engine disposed); a new process starts.

    second = create_app(settings)
    assert second.state.engine is not first.state.engine
    async with LifespanManager(second, startup_timeout=STARTUP_TIMEOUT):
        assert await second.state.dispatcher.run_once() == 0
        frozen_clock.advance(timedelta(minutes=30))
        assert await second.state.dispatcher.run_once() == 1
        assert await second.state.dispatcher.run_once() == 0
        job = await job_row(second, job_id)
        assert (job.status, job.done_at) == ("done", frozen_clock.now())
        assert await audit_targets(second, JOB_RAN) == [("test_job", key)]
    assert JOB_RUNS.of(RECORD_JOB, key) == 1


@pytest.mark.dispatch_errors_expected
async def test_failing_job_is_retried_then_succeeds(
    frozen_clock: FrozenClock, app: FastAPI
) -> None:
    dispatcher = app.state.dispatcher
    job_id, key = await schedule(app, frozen_clock.now(), failures=1)

    assert await dispatcher.run_once() == 1
    job = await job_row(app, job_id)
    assert (job.status, job.attempts, job.done_at) == ("pending", 1, None)
    assert job.last_error == f"RuntimeError: job {key} failed"
    assert job.due_at == frozen_clock.now() + timedelta(seconds=1)
    assert await audit_targets(app, JOB_RAN) == []  # rolled back with the failed run
    assert await dispatcher.run_once() == 0

    frozen_clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    job = await job_row(app, job_id)
    assert (job.status, job.attempts, job.done_at) == ("done", 1, frozen_clock.now())
    assert JOB_RUNS.of(RECORD_JOB, key) == 2
    assert await audit_targets(app, JOB_RAN) == [("test_job", key)]


@pytest.mark.dispatch_errors_expected
async def test_job_that_keeps_failing_ends_dead_and_an_operator_can_requeue_it(
    frozen_clock: FrozenClock, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    dispatcher = Dispatcher(app.state.sessionmaker, max_attempts=3, worker_id="tests-dead-jobs")
    job_id, key = await schedule(app, frozen_clock.now(), failures=10**6)

    for attempt in (1, 2, 3):
        assert await dispatcher.run_once() == 1
        job = await job_row(app, job_id)
        assert job.attempts == attempt
        assert job.status == ("dead" if attempt == 3 else "pending")
        assert job.last_error == f"RuntimeError: job {key} failed"
        assert job.done_at is None
        assert await dispatcher.run_once() == 0  # not before its backoff
        frozen_clock.advance(outbox.backoff(attempt))

    frozen_clock.advance(timedelta(hours=1))
    assert await dispatcher.run_once() == 0
    assert JOB_RUNS.of(RECORD_JOB, key) == 3
    assert (await job_row(app, job_id)).status == "dead"
    assert await audit_targets(app, JOB_RAN) == []

    as_operator, operator, platform = await an_operator(session)
    await dispatcher.run_once()  # the factories' events
    response = await client.get("/api/v1/ops/jobs", params={"status": "dead"}, headers=as_operator)
    assert response.status_code == 200, response.text
    assert [(j["id"], j["kind"], j["attempts"]) for j in response.json()] == [
        (job_id, RECORD_JOB, 3)
    ]
    requeue = f"/api/v1/ops/jobs/{job_id}/requeue"
    assert (await client.post(requeue)).status_code == 401
    assert (await job_row(app, job_id)).status == "dead"
    response = await client.post(requeue, headers=as_operator)
    assert response.status_code == 200, response.text
    job = await job_row(app, job_id)
    assert (job.status, job.attempts, job.due_at) == ("pending", 0, frozen_clock.now())
    (entry,) = await fetch(app, select(AuditEntry).where(AuditEntry.action == "ops.job_requeued"))
    assert (entry.user_id, entry.organisation_id) == (operator.id, platform.id)
    assert (entry.target_type, entry.target_id) == ("due_job", str(job_id))
    assert (await client.post(requeue, headers=as_operator)).status_code == 409

    JOB_FAILURES[key] = 0
    assert await dispatcher.run_once() == 1
    assert (await job_row(app, job_id)).status == "done"
    assert JOB_RUNS.of(RECORD_JOB, key) == 4
    assert await audit_targets(app, JOB_RAN) == [("test_job", key)]


@pytest.mark.dispatch_errors_expected
async def test_requeueing_a_dead_job_whose_key_is_pending_again_is_a_conflict(
    frozen_clock: FrozenClock, app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    as_operator, _operator, _platform = await an_operator(session)
    async with app.state.sessionmaker() as s, s.begin():
        await ensure_prune_scheduled(s)
    await execute(app, update(DueJob).where(DueJob.kind == PRUNE_JOB).values(status="dead"))
    async with app.state.sessionmaker() as s, s.begin():
        await ensure_prune_scheduled(s)  # a dead job does not hold its key: a new one is pending
    dead, pending = await fetch(
        app, select(DueJob).where(DueJob.kind == PRUNE_JOB).order_by(DueJob.id)
    )
    assert (dead.status, pending.status) == ("dead", "pending")

    response = await client.post(f"/api/v1/ops/jobs/{dead.id}/requeue", headers=as_operator)

    assert response.status_code == 409
    assert (await job_row(app, dead.id)).status == "dead"
    assert await count(app, DueJob, DueJob.kind == PRUNE_JOB, DueJob.status == "pending") == 1


async def test_prune_job_deletes_only_long_expired_sessions_and_reschedules_itself(
    frozen_clock: FrozenClock, app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    dispatcher = app.state.dispatcher
    await dispatcher.run_once()  # the welcome notification
    # Other domains' recurring jobs fall due at the same times: out of the way, so each
    # run below counts this job alone.
    await execute(app, delete(DueJob).where(DueJob.kind != PRUNE_JOB))
    start = frozen_clock.now()
    for _ in range(2):  # scheduling twice keeps one pending job (dedupe key)
        async with app.state.sessionmaker() as s, s.begin():
            await ensure_prune_scheduled(s)
    prune_jobs = select(DueJob).where(DueJob.kind == PRUNE_JOB).order_by(DueJob.id)
    (first,) = await fetch(app, prune_jobs)
    assert (first.status, first.due_at) == ("pending", start + PRUNE_EVERY)

    run_at = start + PRUNE_EVERY
    session_expiry = {
        "long-expired": run_at - timedelta(days=30),
        "just-past-retention": run_at - EXPIRED_SESSION_RETENTION - timedelta(seconds=1),
        "at-retention": run_at - EXPIRED_SESSION_RETENTION,
        "recently-expired": run_at - timedelta(days=1),
        "revoked-not-expired": run_at + timedelta(days=3),
        "active": run_at + timedelta(days=1),
    }
    failure_age = {
        "old-failure": run_at - LOGIN_FAILURE_RETENTION - timedelta(seconds=1),
        "at-retention": run_at - LOGIN_FAILURE_RETENTION,
        "recent-failure": run_at - timedelta(days=29),
    }
    async with app.state.sessionmaker() as s, s.begin():
        for label, expires_at in session_expiry.items():
            s.add(
                UserSession(
                    token_digest=uuid.uuid4().hex,
                    user_id=user.id,
                    created_at=expires_at - timedelta(days=14),
                    expires_at=expires_at,
                    revoked_at=start if label.startswith("revoked") else None,
                    user_agent=label,
                )
            )
        for label, at in failure_age.items():
            s.add(LoginFailure(phone=user.phone, ip=label, at=at))

    frozen_clock.advance(PRUNE_EVERY - timedelta(seconds=1))
    assert await dispatcher.run_once() == 0
    assert await count(app, UserSession) == len(session_expiry)

    frozen_clock.advance(timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    assert set(await fetch(app, select(UserSession.user_agent))) == {
        "at-retention",
        "recently-expired",
        "revoked-not-expired",
        "active",
    }
    assert set(await fetch(app, select(LoginFailure.ip))) == {"at-retention", "recent-failure"}

    done, successor = await fetch(app, prune_jobs)
    assert (done.id, done.status, done.done_at) == (first.id, "done", run_at)
    assert (successor.status, successor.due_at) == ("pending", run_at + PRUNE_EVERY)
    assert await count(app, DueJob, DueJob.kind == PRUNE_JOB, DueJob.status == "pending") == 1
    assert await dispatcher.run_once() == 0  # the successor is not due yet

    frozen_clock.advance(PRUNE_EVERY)
    assert await dispatcher.run_once() == 1
    assert await count(app, DueJob, DueJob.kind == PRUNE_JOB, DueJob.status == "pending") == 1
    assert await count(app, DueJob, DueJob.kind == PRUNE_JOB, DueJob.status == "done") == 2


async def test_app_startup_schedules_the_prune_job(frozen_clock: FrozenClock, app: FastAPI) -> None:
    assert await count(app, DueJob, DueJob.kind == PRUNE_JOB, DueJob.status == "pending") == 1


# --- many workers ---------------------------------------------------------------------------


@pytest.mark.skipif(
    DATABASE_KIND != "postgresql",
    reason="needs PostgreSQL (FOR UPDATE SKIP LOCKED); set LINLI_TEST_DATABASE_URL",
)
@pytest.mark.parametrize("batch_safe", [False, True], ids=["one_at_a_time", "batched"])
async def test_concurrent_dispatchers_deliver_every_event_exactly_once(
    frozen_clock: FrozenClock,
    app: FastAPI,
    settings: Settings,
    handlers: Handlers,
    batch_safe: bool,
) -> None:
    name = handlers.add("concurrent", batch_safe=batch_safe)
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 201)]
    start = threading.Barrier(2)

    def worker(index: int) -> int:
        """One dispatcher with its own engine and event loop, in its own thread."""

        async def drain() -> int:
            engine = make_engine(settings.resolved_database_url)
            try:
                dispatcher = Dispatcher(
                    make_sessionmaker(engine), batch_size=5, worker_id=f"tests-worker-{index}"
                )
                start.wait(timeout=30)
                return await dispatcher.run_once()
            finally:
                await engine.dispose()

        return asyncio.run(drain())

    claimed = await asyncio.gather(asyncio.to_thread(worker, 0), asyncio.to_thread(worker, 1))

    assert sum(claimed) == len(event_ids)  # no row was claimed by both
    assert all(n > 0 for n in claimed), claimed  # and both really took part
    calls = handlers.calls.keys(name)
    assert set(calls) == set(event_ids)
    assert [k for k, n in calls.items() if n != 1] == []
    assert await count(app, HandledEvent, HandledEvent.handler == name) == len(event_ids)
    assert await count(app, OutboxEvent, OutboxEvent.status == "delivered") == len(event_ids)
    assert await count(app, OutboxEvent, OutboxEvent.locked_by.is_not(None)) == 0
    assert await count(app, AuditEntry, AuditEntry.action == HANDLED) == len(event_ids)


# --- the suite's guard: a failing handler or job fails the test that triggered it -------------


@pytest.mark.dispatch_errors_expected
async def test_the_guard_names_a_failing_handler_and_a_failing_job(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    """What the `app` fixture checks after every test (unless marked as this one is)."""
    assert await dispatch_errors(app) == []
    name = handlers.add("broken", fail_times=10**6)
    event_id = await publish(app)
    job_id, key = await schedule(app, frozen_clock.now(), failures=1)
    await app.state.dispatcher.run_once()
    (seq,) = await fetch(app, select(OutboxEvent.seq).where(OutboxEvent.event_id == event_id))
    assert await dispatch_errors(app) == [
        f"outbox event #{seq} {EVENT_NAME} (pending): {name}: RuntimeError: {name} failed",
        f"due job #{job_id} {RECORD_JOB} (pending): RuntimeError: job {key} failed",
    ]
    # A job that failed once keeps its error after it succeeded: it still counts.
    frozen_clock.advance(timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    assert (await job_row(app, job_id)).status == "done"
    assert f"due job #{job_id} {RECORD_JOB} (done)" in (await dispatch_errors(app))[1]


# --- typed job payloads -----------------------------------------------------------------


class Undeclared(JobPayload):
    key: str


@pytest.mark.dispatch_errors_expected
async def test_jobs_are_declared_kinds_and_a_payload_that_does_not_fit_fails_visibly(
    frozen_clock: FrozenClock, app: FastAPI
) -> None:
    async with app.state.sessionmaker() as s, s.begin():
        with pytest.raises(TypeError, match="Undeclared is not a declared job kind"):
            await outbox.schedule(s, Undeclared(key="x"), frozen_clock.now())
    with pytest.raises(TypeError, match="Undeclared is not a declared job kind"):
        outbox.job(Undeclared)
    # A row stored with a payload its model refuses (say, written by an older version).
    async with app.state.sessionmaker() as s, s.begin():
        row = DueJob(
            kind=RECORD_JOB,
            payload={"key": "k", "extra": 1},
            due_at=frozen_clock.now(),
            created_at=frozen_clock.now(),
            status="pending",
            attempts=0,
        )
        s.add(row)
        await s.flush()
        job_id = row.id
    assert await app.state.dispatcher.run_once() == 1
    job = await job_row(app, job_id)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error is not None
    assert job.last_error.startswith("pydantic_core._pydantic_core.ValidationError: 1 validation")
    assert "extra" in job.last_error
    assert JOB_RUNS.of(RECORD_JOB, "k") == 0  # the runner never saw it


# --- a worker killed in the middle of a batch ------------------------------------------------


async def test_a_worker_killed_mid_batch_leaves_every_event_applied_exactly_once(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    """A real `linli worker` process SIGKILLed while its batch is half done (some events
    applied and committed, the batch not settled, the next event's transaction cut off): once
    its lease runs out, another worker delivers the rest, and no event was applied twice or
    lost."""
    async with app.state.sessionmaker() as s:
        user = await make_user(s, name="欢迎")
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, UserSignedUp(user_id=user.id)) for _ in range(600)]
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": settings.resolved_database_url,
        "LINLI_VAR_DIR": str(tmp_path / "worker-var"),
        "LINLI_SECRET_KEY": "test-secret-key-not-for-production",
        # All 600 claimed at once: handled in units of outbox.MAX_BATCH (200), each committed,
        # and settled only after the last, so the window to kill it in spans two units (with
        # claims of 100, one unit each, it was a few milliseconds, and a loaded CI missed it).
        "LINLI_DISPATCHER_BATCH_SIZE": "600",
        "LINLI_DISPATCHER_LEASE_SECONDS": "1",
    }
    ours = OutboxEvent.event_id.in_(event_ids)  # (make_user published one of its own)
    delivered = (
        select(func.count()).select_from(OutboxEvent).where(ours, OutboxEvent.status == "delivered")
    )
    unsettled = (
        select(func.count())
        .select_from(OutboxEvent)
        .join(HandledEvent, HandledEvent.event_id == OutboxEvent.event_id)
        .where(ours, OutboxEvent.status == "pending")
    )
    # Killed as soon as some events of its batch are applied (their handled_events rows
    # committed) while the batch is still unsettled.
    worker = await asyncio.create_subprocess_exec(
        *linli_command(),
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while await fetch_one(app, unsettled) < 3:
            assert worker.returncode is None, "the worker stopped by itself"
            assert time.monotonic() < deadline, "the worker applied nothing"
            await asyncio.sleep(0.005)
    finally:
        worker.kill()
        await asyncio.wait_for(worker.wait(), timeout=30)
    assert await fetch_one(app, unsettled) >= 3
    assert await fetch_one(app, delivered) < len(event_ids)

    await asyncio.sleep(1.2)  # the killed worker's lease runs out
    drain = await asyncio.create_subprocess_exec(
        *linli_command(), "worker", "--once", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await asyncio.wait_for(drain.communicate(), timeout=120)
    assert drain.returncode == 0, errors.decode()
    assert await fetch_one(app, delivered) == len(event_ids)
    applied_once = await count(
        app,
        HandledEvent,
        HandledEvent.handler == "notifications.welcome",
        HandledEvent.event_id.in_(event_ids),
    )
    assert applied_once == len(event_ids)
    per_event = (
        select(Notification.source_event_id, func.count())
        .where(Notification.source_event_id.in_(event_ids))
        .group_by(Notification.source_event_id)
    )
    async with app.state.sessionmaker() as s:
        applied = {event_id: n for event_id, n in await s.execute(per_event)}
    assert applied == dict.fromkeys(event_ids, 1)


async def fetch_one(app: FastAPI, statement: Select[Any]) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(statement) or 0)


# --- batches: the events of one kind handled together in one transaction ---------------------


def statements_during(app: FastAPI) -> tuple[list[str], Any]:
    """The statements sent while the returned listener is attached (remove it after)."""
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(" ".join(str(args[2]).split())[:60])

    listen(app.state.engine.sync_engine, "before_cursor_execute", note)
    return sent, note


async def test_a_batch_of_one_kind_is_handled_in_one_transaction(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    first = handlers.add("batch_first", batch_safe=True)
    second = handlers.add("batch_second", batch_safe=True)
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 9)]
    sent, note = statements_during(app)
    try:
        assert await app.state.dispatcher.run_once() == 8
    finally:
        remove(app.state.engine.sync_engine, "before_cursor_execute", note)
    # One INSERT of the 16 (handler, event) rows, not one per event; one settling UPDATE.
    assert sum(s.startswith("INSERT INTO handled_events") for s in sent) == 1
    assert sum(s.startswith("UPDATE outbox_events SET status") for s in sent) == 1
    assert sorted(await handled(app)) == sorted(
        (name, event_id) for name in (first, second) for event_id in event_ids
    )
    for name in (first, second):
        assert handlers.calls.keys(name) == Counter(dict.fromkeys(event_ids, 1))
    assert await count(app, OutboxEvent, OutboxEvent.status == "delivered") == 8


async def test_a_kind_with_a_handler_that_is_not_batch_safe_goes_one_event_at_a_time(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    handlers.add("safe", batch_safe=True)
    handlers.add("unsafe")
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 5)]
    sent, note = statements_during(app)
    try:
        assert await app.state.dispatcher.run_once() == 4
    finally:
        remove(app.state.engine.sync_engine, "before_cursor_execute", note)
    assert sum(s.startswith("INSERT INTO handled_events") for s in sent) == len(event_ids)


@pytest.mark.dispatch_errors_expected
async def test_a_poisoned_event_in_a_batch_neither_fails_nor_loses_the_others(
    frozen_clock: FrozenClock, app: FastAPI, settings: Settings, handlers: Handlers
) -> None:
    """The batch's transaction fails on the poisoned event and rolls back whole; its events
    are then delivered one at a time: the others commit, the poisoned one is retried with
    backoff and finally parked as dead, exactly as alone."""
    first = handlers.add("poison_first", batch_safe=True, flush=True)
    second = handlers.add("poison_second", batch_safe=True)
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 7)]
    poisoned = event_ids[3]
    handlers.poisoned.add(poisoned)
    good = [e for e in event_ids if e != poisoned]

    assert await app.state.dispatcher.run_once() == 6
    # Each good event's effects once (the batch's were rolled back), the poisoned one's none.
    assert sorted(await audit_targets(app, HANDLED)) == sorted(
        (name, e) for name in (first, second) for e in good
    )
    assert sorted(await handled(app)) == sorted((name, e) for name in (first, second) for e in good)
    assert await count(app, OutboxEvent, OutboxEvent.status == "delivered") == len(good)
    row = await event_row(app, poisoned)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.available_at == frozen_clock.now() + timedelta(seconds=1)
    assert row.last_error is not None
    assert f"{first}: RuntimeError: {first} refused a poisoned event" in row.last_error
    assert (row.locked_by, row.locked_until) == (None, None)

    for attempt in range(2, settings.dispatcher_max_attempts + 1):
        frozen_clock.advance(outbox.backoff(attempt - 1))
        assert await app.state.dispatcher.run_once() == 1
        assert (await event_row(app, poisoned)).attempts == attempt
    assert (await event_row(app, poisoned)).status == "dead"
    assert await count(app, OutboxEvent, OutboxEvent.status == "delivered") == len(good)
    assert len(await audit_targets(app, HANDLED)) == 2 * len(good)


async def test_two_dispatchers_handling_the_same_batch_apply_each_event_once(
    frozen_clock: FrozenClock, app: FastAPI, settings: Settings, handlers: Handlers
) -> None:
    """Two workers deliver the same batch at the same moment (a lease ran out while the
    first was still at it): the (handler, event) rows inserted in one statement by each make
    one of them apply every event and the other none, on either database."""
    name = handlers.add("batch_race", batch_safe=True)
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 41)]
    async with app.state.sessionmaker() as s:
        rows = list(
            (await s.scalars(select(OutboxEvent).where(OutboxEvent.event_id.in_(event_ids)))).all()
        )
    start = threading.Barrier(2)

    def worker(index: int) -> bool:
        async def deliver() -> bool:
            engine = make_engine(settings.resolved_database_url)
            try:
                dispatcher = Dispatcher(make_sessionmaker(engine), worker_id=f"tests-race-{index}")
                start.wait(timeout=30)
                # One order of events for one, the reverse for the other: the rows are
                # inserted sorted, so neither waits on the other in a cycle.
                mine = rows if index == 0 else rows[::-1]
                return await dispatcher._deliver_batch(mine)
            finally:
                await engine.dispose()

        return asyncio.run(deliver())

    results = await asyncio.gather(asyncio.to_thread(worker, 0), asyncio.to_thread(worker, 1))

    assert list(results) == [True, True]  # both committed: one applied them all, the other nothing
    assert handlers.calls.keys(name) == Counter(dict.fromkeys(event_ids, 1))
    assert await count(app, HandledEvent, HandledEvent.handler == name) == len(event_ids)
    assert await count(app, AuditEntry, AuditEntry.action == HANDLED) == len(event_ids)


async def test_a_claim_is_cut_into_units_of_one_kind_at_most_max_batch_long_in_order(
    frozen_clock: FrozenClock, app: FastAPI, handlers: Handlers
) -> None:
    handlers.add("units", batch_safe=True)
    batchable, other = EVENT_NAME, UserSignedUp.event_name  # welcome: not batch-safe
    kinds = [batchable, other, batchable, other] + [batchable] * (2 * outbox.MAX_BATCH)
    rows = [OutboxEvent(seq=n, event_type=kind) for n, kind in enumerate(kinds)]

    units = outbox._groups(rows)

    assert [[row.seq for row in unit] for unit in units][:3] == [
        [0, 2, *range(4, 4 + outbox.MAX_BATCH - 2)],
        [1],
        [3],
    ]
    assert [len(unit) for unit in units] == [outbox.MAX_BATCH, 1, 1, outbox.MAX_BATCH, 2]
    assert sorted(row.seq for unit in units for row in unit) == list(range(len(kinds)))


@pytest.mark.dispatch_errors_expected
@pytest.mark.parametrize("batch_safe", [False, True])
async def test_a_stored_payload_that_no_longer_fits_fails_that_event_alone(
    app: FastAPI, handlers: Handlers, batch_safe: bool
) -> None:
    """An event whose stored payload does not validate against its model (a row written by
    an older release, or edited by hand) is retried and parked like any failing event; the
    events delivered in the same pass are not held back by it."""
    name = handlers.add("misfit", batch_safe=batch_safe)
    async with app.state.sessionmaker() as s, s.begin():
        event_ids = [outbox.publish(s, revoked(n)) for n in range(1, 4)]
    async with app.state.sessionmaker() as s, s.begin():
        await s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.event_id == event_ids[1])
            .values(payload={"organisation_id": "not a number"})
        )

    assert await app.state.dispatcher.run_once() == 3
    good = [event_ids[0], event_ids[2]]
    assert sorted(await handled(app)) == sorted((name, e) for e in good)
    misfit = await event_row(app, event_ids[1])
    assert (misfit.status, misfit.attempts) == ("pending", 1)
    assert misfit.last_error is not None
    assert misfit.last_error.startswith("payload does not fit accounts.MembershipRevoked")
