"""Transactional outbox, at-least-once dispatcher, idempotent handlers and durable due jobs.

- `publish()` adds an event row in the caller's transaction: a rolled-back transaction never
  publishes anything.
- The dispatcher claims due rows with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
  number of workers are safe) and runs an event's handlers in one transaction, each handler's
  effects committing with a `handled_events` row keyed by (handler, event id): a handler's
  effects are applied exactly once even though delivery is at least once. With several
  handlers each runs in a savepoint, so one handler's failure undoes only its own effects.
- The claimed events of a kind whose every handler has a batch form (`batch_form`, or
  `subscribe(..., batch_safe=True)`) are handled together in one transaction, their
  (handler, event) rows in one INSERT; a batch that fails rolls back whole and its events are
  delivered one at a time, each retried or parked on its own.
- Failures are retried with exponential backoff; after `max_attempts` the row is `dead`, shown
  to operators, who may requeue it.
- `schedule()` stores a due-time job (a payload of a kind declared in `linli.jobs`); the same
  loop runs it once due, so deadlines survive restarts. A job's effects and its completion
  commit together. A runner that must talk to the outside world (a webhook) without holding
  its transaction open returns an `AfterCommit`: the dispatcher runs it once the job's
  transaction has committed, with the sessionmaker for its own short transactions (the runner
  schedules a successor first, so a crash before the after-step does not lose the work).
- Handlers receive `Envelope[TheEvent]` and runners the job's payload model, typed: the
  dispatcher parses what was stored with the model they registered for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy import (
    CTE,
    ColumnElement,
    ForeignKey,
    FromClause,
    Index,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from linli import clock
from linli.db import OUTBOX_PUBLISHED, Base, BigId, JSONData, UTCDateTime
from linli.events import EVENT_TYPES, DomainEvent
from linli.jobs import JOB_KINDS, JobPayload

log = logging.getLogger(__name__)


class DispatchStatus(StrEnum):
    """Where an outbox event or a due job stands (events end delivered, jobs done)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DONE = "done"
    DEAD = "dead"


PENDING, DELIVERED, DEAD = DispatchStatus.PENDING, DispatchStatus.DELIVERED, DispatchStatus.DEAD
DONE = DispatchStatus.DONE


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_due", "status", "available_at"),)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONData)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HandledEvent(Base):
    """One row per (handler, event) applied; its unique key is what makes handlers idempotent."""

    __tablename__ = "handled_events"
    __table_args__ = (UniqueConstraint("handler", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handler: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("outbox_events.event_id", ondelete="CASCADE"), index=True
    )
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DueJob(Base):
    __tablename__ = "due_jobs"
    __table_args__ = (
        Index("ix_due_jobs_due", "status", "due_at"),
        # At most one pending job per dedupe key; finished jobs keep theirs as history.
        Index(
            "uq_due_jobs_pending_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONData)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


EventT = TypeVar("EventT", bound=DomainEvent)
JobT = TypeVar("JobT", bound=JobPayload)


@dataclass(frozen=True)
class Envelope(Generic[EventT]):
    """What a handler receives: the event id (its idempotency key), type and the event,
    parsed into the type the handler subscribed to."""

    event_id: str
    event_type: str
    payload: EventT
    created_at: datetime


Handler = Callable[[AsyncSession, Envelope[EventT]], Awaitable[None]]
# A handler's batch form: the same effects for every envelope of the list, in the caller's
# transaction (set-based where it can be: one UPDATE for all, one multi-row INSERT)
BatchHandler = Callable[[AsyncSession, list[Envelope[EventT]]], Awaitable[None]]
# run after the job's transaction committed, with the dispatcher's sessionmaker
AfterCommit = Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]
JobRunner = Callable[[AsyncSession, JobT], Awaitable[AfterCommit | None]]

# Handlers and runners are stored without their type parameter; the dispatcher parses each
# payload with the model the handler or runner was registered for.
_subscribers: dict[str, list[tuple[str, Handler[Any]]]] = {}
_job_runners: dict[str, tuple[type[JobPayload], JobRunner[Any]]] = {}
# (event name, handler name) -> the handler's batch form
_batch_forms: dict[tuple[str, str], BatchHandler[Any]] = {}


def subscribe(
    event: type[EventT], name: str, *, batch_safe: bool = False
) -> Callable[[Handler[EventT]], Handler[EventT]]:
    """Register `handler` for `event` under a stable name (the idempotency scope); it
    receives an `Envelope[event]`. `batch_safe`: it may run once per event of a batch in one
    shared transaction (its effects on one event do not depend on another's being committed
    first); its batch form is then the handler run on each envelope in turn."""

    def register(handler: Handler[EventT]) -> Handler[EventT]:
        handlers = _subscribers.setdefault(event.event_name, [])
        if any(existing == name for existing, _ in handlers):
            raise ValueError(f"handler {name!r} already subscribed to {event.event_name}")
        handlers.append((name, handler))
        if batch_safe:
            _batch_forms[(event.event_name, name)] = one_by_one(handler)
        return handler

    return register


def batch_form(
    event: type[EventT], name: str
) -> Callable[[BatchHandler[EventT]], BatchHandler[EventT]]:
    """Register the batch form of the handler subscribed to `event` as `name`: it receives
    the envelopes of a batch whose (handler, event) rows this transaction inserted and must
    have, in the caller's transaction, the effects the handler has on each of them."""

    def register(batch: BatchHandler[EventT]) -> BatchHandler[EventT]:
        if not any(existing == name for existing, _ in _subscribers.get(event.event_name, [])):
            raise ValueError(f"no handler {name!r} subscribed to {event.event_name}")
        _batch_forms[(event.event_name, name)] = batch
        return batch

    return register


def one_by_one(handler: Handler[EventT]) -> BatchHandler[EventT]:
    """The batch form of a handler that runs it on each envelope in turn."""

    async def each(session: AsyncSession, envelopes: list[Envelope[EventT]]) -> None:
        for envelope in envelopes:
            await handler(session, envelope)

    return each


def batched(event_name: str) -> list[tuple[str, BatchHandler[Any]]] | None:
    """The batch forms of every handler of `event_name`, in subscription order; None unless
    each has one (a batch of the event is then handled in one transaction)."""
    handlers = _subscribers.get(event_name, [])
    forms = [(name, _batch_forms.get((event_name, name))) for name, _ in handlers]
    if not forms or any(form is None for _, form in forms):
        return None
    return [(name, form) for name, form in forms if form is not None]


def unsubscribe(event: type[DomainEvent], name: str) -> None:
    handlers = _subscribers.get(event.event_name, [])
    handlers[:] = [(n, h) for n, h in handlers if n != name]
    _batch_forms.pop((event.event_name, name), None)


def _declared(kind: type[JobPayload]) -> bool:
    name = getattr(kind, "job_kind", None)
    return name is not None and JOB_KINDS.get(name) is kind


def job(kind: type[JobT]) -> Callable[[JobRunner[JobT]], JobRunner[JobT]]:
    """Register the runner of a job kind declared in `linli.jobs`; it receives the payload
    as that model."""
    if not _declared(kind):
        raise TypeError(f"{kind.__name__} is not a declared job kind")

    def register(runner: JobRunner[JobT]) -> JobRunner[JobT]:
        if kind.job_kind in _job_runners:
            raise ValueError(f"job kind {kind.job_kind!r} registered twice")
        _job_runners[kind.job_kind] = (kind, runner)
        return runner

    return register


def subscribers(event_name: str) -> list[tuple[str, Handler[Any]]]:
    return list(_subscribers.get(event_name, []))


def _event_row(session: AsyncSession, event: DomainEvent) -> dict[str, Any]:
    if EVENT_TYPES.get(event.event_name) is not type(event):
        raise TypeError(f"{type(event).__name__} is not a declared event type")
    now = clock.now()
    session.info[OUTBOX_PUBLISHED] = True
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event.event_name,
        "payload": event.model_dump(mode="json"),
        "created_at": now,
        "available_at": now,
        "status": PENDING,
        "attempts": 0,
    }


def publish(session: AsyncSession, event: DomainEvent) -> str:
    """Record `event` in the caller's transaction; returns its event id."""
    row = _event_row(session, event)
    session.add(OutboxEvent(**row))
    return str(row["event_id"])


_INSERT_EVENT = insert(OutboxEvent)


async def publish_many(session: AsyncSession, events: list[DomainEvent]) -> list[str]:
    """`publish_now` for several events: one Core INSERT executed for all their rows."""
    if not events:
        return []
    rows = [_event_row(session, event) for event in events]
    await (await session.connection()).execute(_INSERT_EVENT, rows)
    return [str(row["event_id"]) for row in rows]


async def publish_now(session: AsyncSession, event: DomainEvent) -> str:
    """`publish` as one Core INSERT on the session's connection, written at once: for paths
    that run on every event, where the ORM's unit of work costs more than the row."""
    row = _event_row(session, event)
    await (await session.connection()).execute(_INSERT_EVENT, row)
    return str(row["event_id"])


async def schedule(
    session: AsyncSession,
    job: JobPayload,
    due_at: datetime,
    *,
    dedupe_key: str | None = None,
) -> DueJob | None:
    """Store `job` (a payload of a kind declared in `linli.jobs`) to run at `due_at`. With a
    dedupe key, a pending job with it is kept."""
    if not _declared(type(job)):
        raise TypeError(f"{type(job).__name__} is not a declared job kind")
    kind = job.job_kind
    if kind not in _job_runners:
        raise ValueError(f"no runner registered for job kind {kind!r}")
    if dedupe_key is not None:
        existing = await session.scalar(
            select(DueJob).where(DueJob.dedupe_key == dedupe_key, DueJob.status == PENDING)
        )
        if existing is not None:
            return None
    row = DueJob(
        kind=kind,
        dedupe_key=dedupe_key,
        payload=job.model_dump(mode="json"),
        due_at=due_at,
        created_at=clock.now(),
        status=PENDING,
        attempts=0,
    )
    session.add(row)
    if due_at <= clock.now():
        session.info[OUTBOX_PUBLISHED] = True
    return row


def publish_from(
    event: type[DomainEvent],
    source: FromClause,
    payload: Mapping[str, ColumnElement[Any]],
    *,
    name: str,
) -> CTE:
    """`publish` as a data-modifying CTE of one statement (PostgreSQL): one `event` row per
    row of `source` (a CTE of that statement), each with its own event id (a version 4 UUID
    drawn by PostgreSQL, `gen_random_uuid()`, in the form `str(uuid.uuid4())` gives), its
    payload built from `source`'s columns (every field of the event's model, nothing else).
    RETURNING seq. The caller calls `note_published` when a row came
    back."""
    if EVENT_TYPES.get(event.event_name) is not event:
        raise TypeError(f"{event.__name__} is not a declared event type")
    if set(payload) != set(event.model_fields):
        raise TypeError(f"{event.__name__}'s payload takes {sorted(event.model_fields)}")
    now = bindparam(f"{name}_now", callable_=lambda: clock.now(), type_=UTCDateTime)
    event_id = cast(func.gen_random_uuid(), String)
    rows = select(
        event_id.label("event_id"),
        literal(event.event_name).label("event_type"),
        type_coerce(_json_object(payload), JSONData).label("payload"),
        now.label("created_at"),
        now.label("available_at"),
        literal(PENDING.value).label("status"),
        literal(0).label("attempts"),
    ).select_from(source)
    return (
        pg_insert(OutboxEvent)
        .from_select([c.name for c in rows.selected_columns], rows)
        .returning(OutboxEvent.seq)
        .cte(name)
    )


def note_published(session: AsyncSession) -> None:
    """A row stored by `publish_from` wakes the dispatcher after the commit, as `publish`'s
    do."""
    session.info[OUTBOX_PUBLISHED] = True


def _json_object(payload: Mapping[str, ColumnElement[Any]]) -> ColumnElement[Any]:
    return func.jsonb_build_object(
        *(part for key in sorted(payload) for part in (literal(key), payload[key]))
    )


def schedule_from(
    job: type[JobPayload],
    source: FromClause,
    payload: Mapping[str, ColumnElement[Any]],
    due_at: ColumnElement[datetime],
    *,
    name: str,
) -> CTE:
    """`schedule` as a data-modifying CTE for one statement that does a whole unit of work
    (PostgreSQL; it may be built once: the time is evaluated at each execution): one pending
    `job` row per row of `source` (a CTE of that statement), its
    payload built from `source`'s columns (every field of the job's model, nothing else) and
    due at `due_at`. RETURNING id and due_at. The caller calls `note_due` with the due time it
    finds, as `schedule` does for itself."""
    if not _declared(job):
        raise TypeError(f"{job.__name__} is not a declared job kind")
    if job.job_kind not in _job_runners:
        raise ValueError(f"no runner registered for job kind {job.job_kind!r}")
    if set(payload) != set(job.model_fields):
        raise TypeError(f"{job.__name__}'s payload takes {sorted(job.model_fields)}")
    built = _json_object(payload)
    rows = select(
        literal(job.job_kind).label("kind"),
        type_coerce(built, JSONData).label("payload"),
        due_at.label("due_at"),
        bindparam(f"{name}_now", callable_=lambda: clock.now(), type_=UTCDateTime).label(
            "created_at"
        ),
        literal(PENDING.value).label("status"),
        literal(0).label("attempts"),
    ).select_from(source)
    return (
        pg_insert(DueJob)
        .from_select(["kind", "payload", "due_at", "created_at", "status", "attempts"], rows)
        .returning(DueJob.id, DueJob.due_at)
        .cte(name)
    )


def note_due(session: AsyncSession, due_at: datetime) -> None:
    """A job stored by `schedule_from` that is due already wakes the dispatcher after the
    commit, as one stored by `schedule` does."""
    if due_at <= clock.now():
        session.info[OUTBOX_PUBLISHED] = True


def backoff(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... capped at 10 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 600))


def _short_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000]


class _HandlerFailed(Exception):
    """A handler failed in a delivery run without savepoints: its transaction rolls back whole.
    `alone`: it was the only handler to run, so there is nothing to save of the others."""

    def __init__(self, error: str, *, alone: bool) -> None:
        super().__init__(error)
        self.error = error
        self.alone = alone


# The most events of a kind handled in one transaction: bounds the parameters of its
# statements (handlers x events rows of handled_events) whatever the claim's batch size.
MAX_BATCH = 200


def _groups(events: list[OutboxEvent]) -> list[list[OutboxEvent]]:
    """A claimed batch in delivery units, in the order of each unit's first event: the events
    of a kind whose handlers all have batch forms together (at most `MAX_BATCH` in a unit),
    any other event alone."""
    groups: list[list[OutboxEvent]] = []
    by_kind: dict[str, list[OutboxEvent]] = {}
    for row in events:
        if batched(row.event_type) is None:
            groups.append([row])
        elif len(by_kind.get(row.event_type, ())) in range(1, MAX_BATCH):
            by_kind[row.event_type].append(row)
        else:
            by_kind[row.event_type] = [row]
            groups.append(by_kind[row.event_type])
    return groups


# One statement per dialect, executed for many rows: SQLAlchemy's "insertmanyvalues" sends
# them as one multi-row INSERT without compiling a statement per batch size (a `.values([...])`
# list was compiled anew for every number of rows: 5 % of a flash sale's server CPU).
_INSERT_HANDLED = {
    "postgresql": pg_insert(HandledEvent)
    .on_conflict_do_nothing(index_elements=["handler", "event_id"])
    .returning(HandledEvent.handler, HandledEvent.event_id),
    "sqlite": sqlite_insert(HandledEvent)
    .on_conflict_do_nothing(index_elements=["handler", "event_id"])
    .returning(HandledEvent.handler, HandledEvent.event_id),
}


async def _insert_handled(
    session: AsyncSession, rows: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    """Insert the `handled_events` rows that do not exist yet; the (handler, event id) pairs
    inserted (a row another transaction holds waits for it, then is left out)."""
    connection = await session.connection()
    inserted = await connection.execute(_INSERT_HANDLED[connection.dialect.name], rows)
    return {(str(handler), str(event_id)) for handler, event_id in inserted}


class Dispatcher:
    """Claims and runs due outbox events and jobs. Safe to run in many processes at once."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 50,
        lease_seconds: int = 60,
        max_attempts: int = 8,
        poll_seconds: float = 0.5,
        coalesce_seconds: float = 0.0,
        worker_id: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self.coalesce_seconds = coalesce_seconds
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._wake: asyncio.Event | None = None

    async def run_once(self, *, jobs: bool = True) -> int:
        """Deliver every event and run every job that is due now (only events with
        `jobs=False`); returns how many were handled."""
        handled = 0
        while True:
            events = await self._claim_events()
            delivered: list[int] = []
            for group in _groups(events):
                if len(group) > 1 and await self._deliver_batch(group):
                    delivered += [row.seq for row in group]
                    continue
                # One at a time: a lone event, a kind without batch forms, or a batch that
                # failed (each event then retries or is parked on its own, as ever).
                for row in group:
                    errors = await self._deliver(row)
                    if errors:
                        await self._settle_failed(row, errors)
                    else:
                        delivered.append(row.seq)
            await self._settle_delivered(delivered)
            claimed = await self._claim_jobs() if jobs else []
            for due in claimed:
                await self._run_job(due)
            handled += len(events) + len(claimed)
            if not events and not claimed:
                return handled

    def wake(self) -> None:
        """Work was just committed in this process: look now rather than at the next poll."""
        if self._wake is not None:
            self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Passes until `stop`. Wake-ups coalesce: those that arrive during a pass are one
        flag, answered by one more pass; after a wake-up the pass starts `coalesce_seconds`
        later, so the commits of that moment's other requests join its batch."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()  # a wake-up from now on asks for another pass
            try:
                await self.run_once()
            except Exception:
                log.exception("dispatcher pass failed; retrying after the poll interval")
            if stop.is_set():
                break
            # A pass ends when a claim finds nothing due: wait for a wake-up (or, for other
            # processes' work, the poll).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            if self._wake.is_set() and self.coalesce_seconds > 0:
                await asyncio.sleep(self.coalesce_seconds)

    async def _deliver_batch(self, rows: list[OutboxEvent]) -> bool:
        """The events of one kind whose every handler has a batch form, in ONE transaction:
        their (handler, event) rows in one INSERT (a row that exists already: that handler
        applied that event and skips it, exactly as one at a time), then each handler's batch
        form on the events whose rows this transaction inserted. True when it committed;
        False (everything rolled back) sends the caller back to one event at a time."""
        forms = batched(rows[0].event_type)
        model = EVENT_TYPES.get(rows[0].event_type)
        if forms is None or model is None:
            return False
        try:
            envelopes: list[Envelope[DomainEvent]] = [
                Envelope(
                    event_id=row.event_id,
                    event_type=row.event_type,
                    payload=model.model_validate(row.payload),
                    created_at=row.created_at,
                )
                for row in rows
            ]
            async with self.sessionmaker() as session, session.begin():
                fresh = await self._claim_handler_rows(
                    session, [name for name, _ in forms], [e.event_id for e in envelopes]
                )
                for name, form in forms:
                    mine = [e for e in envelopes if (name, e.event_id) in fresh]
                    if mine:
                        await form(session, mine)
        except Exception as exc:
            log.warning(
                "batch of %d %s failed (%s); delivering them one at a time",
                len(rows),
                rows[0].event_type,
                _short_error(exc),
            )
            return False
        return True

    @staticmethod
    async def _claim_handler_rows(
        session: AsyncSession, names: list[str], event_ids: list[str]
    ) -> set[tuple[str, str]]:
        """`_claim_handlers` for a batch: every (handler, event) row not there yet, in one
        INSERT, in a fixed order (two transactions inserting the same keys wait for each other
        rather than deadlock); the (handler, event id) pairs inserted."""
        now = clock.now()
        return await _insert_handled(
            session,
            [
                {"handler": name, "event_id": event_id, "handled_at": now}
                for event_id in sorted(event_ids)
                for name in sorted(names)
            ],
        )

    async def _claim_events(self) -> list[OutboxEvent]:
        """Lease up to a batch of due events: one UPDATE ... WHERE seq IN (SELECT ... FOR
        UPDATE SKIP LOCKED) RETURNING (on SQLite, BEGIN IMMEDIATE serialises claimers)."""
        now = clock.now()
        due = (
            select(OutboxEvent.seq)
            .where(
                OutboxEvent.status == PENDING,
                OutboxEvent.available_at <= now,
                (OutboxEvent.locked_until.is_(None)) | (OutboxEvent.locked_until < now),
            )
            .order_by(OutboxEvent.seq)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.sessionmaker() as session, session.begin():
            rows = await session.scalars(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_(due))
                .values(locked_by=self.worker_id, locked_until=now + self.lease)
                .returning(OutboxEvent)
                .execution_options(synchronize_session=False)
            )
            return sorted(rows, key=lambda row: row.seq)

    async def _deliver(self, row: OutboxEvent) -> list[str]:
        """Run every subscribed handler on the event; the errors (none: delivered)."""
        model = EVENT_TYPES.get(row.event_type)
        if model is None:
            return [f"unknown event type {row.event_type!r}"]
        handlers = subscribers(row.event_type)
        if not handlers:
            return []
        try:
            payload = model.model_validate(row.payload)
        except ValidationError as exc:
            # A stored payload that no longer fits its model fails this event alone (retried,
            # then parked like any failure), never the rest of the pass.
            return [f"payload does not fit {row.event_type}: {_short_error(exc)}"]
        envelope: Envelope[DomainEvent] = Envelope(
            event_id=row.event_id,
            event_type=row.event_type,
            payload=payload,
            created_at=row.created_at,
        )
        try:
            try:
                return await self._apply(handlers, envelope)
            except _HandlerFailed as failed:
                if failed.alone:
                    return [failed.error]
            # Rolled back whole: again, each handler in a savepoint of its own, so the others'
            # effects commit and only the failed ones retry.
            return await self._apply_isolated(handlers, envelope)
        except Exception as exc:  # the transaction itself: its claim, a flush, the commit
            log.warning("handlers of %s failed together: %s", envelope.event_id, exc)
            return [f"{name}: {_short_error(exc)}" for name, _ in handlers]

    async def _apply(
        self, handlers: list[tuple[str, Handler[Any]]], envelope: Envelope[DomainEvent]
    ) -> list[str]:
        """The handlers not yet applied to the event, in one transaction (one commit per event,
        not per handler) without savepoints: the usual case, where none fails, pays for none.
        A failure rolls everything back (`_HandlerFailed`)."""
        async with self.sessionmaker() as session, session.begin():
            pending = await self._pending(session, handlers, envelope)
            for name, handler in pending:
                try:
                    await handler(session, envelope)
                except Exception as exc:
                    log.warning("handler %s failed on %s: %s", name, envelope.event_id, exc)
                    error = f"{name}: {_short_error(exc)}"
                    raise _HandlerFailed(error, alone=len(pending) == 1) from exc
            return []

    async def _apply_isolated(
        self, handlers: list[tuple[str, Handler[Any]]], envelope: Envelope[DomainEvent]
    ) -> list[str]:
        """The handlers not yet applied, in one transaction, each in a savepoint: a failed
        handler's savepoint is rolled back and its row deleted so it alone retries; its errors."""
        async with self.sessionmaker() as session, session.begin():
            pending = await self._pending(session, handlers, envelope)
            errors: list[str] = []
            failed: list[str] = []
            for name, handler in pending:
                try:
                    async with session.begin_nested():
                        await handler(session, envelope)
                except Exception as exc:
                    log.warning("handler %s failed on %s: %s", name, envelope.event_id, exc)
                    errors.append(f"{name}: {_short_error(exc)}")
                    failed.append(name)
            if failed:  # their rows go, so the retry runs them; the others' effects commit
                await session.execute(
                    delete(HandledEvent).where(
                        HandledEvent.event_id == envelope.event_id,
                        HandledEvent.handler.in_(failed),
                    )
                )
            return errors

    async def _pending(
        self,
        session: AsyncSession,
        handlers: list[tuple[str, Handler[Any]]],
        envelope: Envelope[DomainEvent],
    ) -> list[tuple[str, Handler[Any]]]:
        """The handlers whose (handler, event) row this transaction inserted, in one statement:
        a handler whose row exists already applied this event (a redelivery) and is skipped; a
        concurrent delivery waits here for this transaction and then finds every row taken."""
        fresh = await self._claim_handlers(session, [name for name, _ in handlers], envelope)
        return [(name, handler) for name, handler in handlers if name in fresh]

    @staticmethod
    async def _claim_handlers(
        session: AsyncSession, names: list[str], envelope: Envelope[DomainEvent]
    ) -> set[str]:
        """Insert the (handler, event) rows that do not exist yet; the handlers inserted."""
        now, event_id = clock.now(), envelope.event_id
        rows = [{"handler": name, "event_id": event_id, "handled_at": now} for name in names]
        return {handler for handler, _ in await _insert_handled(session, rows)}

    async def _settle_delivered(self, seqs: list[int]) -> None:
        """Mark the delivered events of a batch in one UPDATE (only those still leased here:
        a redelivery after a lost lease is harmless, handlers being idempotent)."""
        if not seqs:
            return
        now = clock.now()
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq.in_(seqs), OutboxEvent.locked_by == self.worker_id)
                .values(
                    status=DELIVERED,
                    delivered_at=now,
                    last_error=None,
                    locked_by=None,
                    locked_until=None,
                )
                .execution_options(synchronize_session=False)
            )

    async def _settle_failed(self, row: OutboxEvent, errors: list[str]) -> None:
        now = clock.now()
        attempts = row.attempts + 1
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.seq == row.seq, OutboxEvent.locked_by == self.worker_id)
                .values(
                    attempts=attempts,
                    last_error="\n".join(errors)[:4000],
                    status=DEAD if attempts >= self.max_attempts else PENDING,
                    available_at=now + backoff(attempts),
                    locked_by=None,
                    locked_until=None,
                )
                .execution_options(synchronize_session=False)
            )

    async def _claim_jobs(self) -> list[DueJob]:
        """Lease up to a batch of due jobs, in one statement as `_claim_events` does."""
        now = clock.now()
        due = (
            select(DueJob.id)
            .where(
                DueJob.status == PENDING,
                DueJob.due_at <= now,
                (DueJob.locked_until.is_(None)) | (DueJob.locked_until < now),
            )
            .order_by(DueJob.due_at, DueJob.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self.sessionmaker() as session, session.begin():
            rows = await session.scalars(
                update(DueJob)
                .where(DueJob.id.in_(due))
                .values(locked_by=self.worker_id, locked_until=now + self.lease)
                .returning(DueJob)
                .execution_options(synchronize_session=False)
            )
            return sorted(rows, key=lambda row: (row.due_at, row.id))

    async def _run_job(self, due: DueJob) -> None:
        registered = _job_runners.get(due.kind)
        try:
            if registered is None:
                raise LookupError(f"no runner registered for job kind {due.kind!r}")
            model, runner = registered
            payload = model.model_validate(due.payload)
            async with self.sessionmaker() as session, session.begin():
                # Completion commits with the job's effects, or neither does. Marking it done
                # first lets the runner schedule its own successor under the same dedupe key.
                result = await session.execute(
                    update(DueJob)
                    .where(DueJob.id == due.id, DueJob.locked_by == self.worker_id)
                    .values(status=DONE, done_at=clock.now(), locked_by=None, locked_until=None)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise RuntimeError("lease lost before the job ran")
                after = await runner(session, payload)
        except Exception as exc:
            log.warning("job %s (%s) failed: %s", due.id, due.kind, exc)
            attempts = due.attempts + 1
            async with self.sessionmaker() as session, session.begin():
                await session.execute(
                    update(DueJob)
                    .where(DueJob.id == due.id, DueJob.locked_by == self.worker_id)
                    .values(
                        attempts=attempts,
                        last_error=_short_error(exc),
                        status=DEAD if attempts >= self.max_attempts else PENDING,
                        due_at=clock.now() + backoff(attempts),
                        locked_by=None,
                        locked_until=None,
                    )
                )
            return
        if after is not None:
            try:
                await after(self.sessionmaker)
            except Exception:  # its own bookkeeping failed: the runner's successor retries
                log.exception("job %s (%s): the step after commit failed", due.id, due.kind)
