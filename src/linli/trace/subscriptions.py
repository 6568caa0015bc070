"""Subscriptions to named queries (`/epcis/queries/{name}/subscriptions` of the EPCIS REST
binding), delivered to a webhook on each capture.

- Creating one checks the destination: http or https only, and (unless the deployment allows
  it: `trace_webhook_allow_private`) no address of the host may be private, loopback,
  link-local, multicast, reserved or unspecified (SSRF); the check is repeated before every
  delivery, so a name that later resolves inside is refused then.
- Every successful capture job schedules, for each active subscription of its organisation,
  one due job `trace.subscription.deliver` (subscription, capture): a row inserted in the
  capture's own transaction (`_schedule_deliveries`, an ORM hook on the capture job row, so
  every way of capturing is covered and a rolled-back capture delivers nothing).
- The job posts the capture's events that the named query matches (none: nothing is posted)
  as an EPCISQueryDocument, each event declared in error with its `errorDeclaration` (as
  queries return it), with `Linli-Signature: sha256=<hex HMAC-SHA256 of the body with the
  subscription's secret>` and `Linli-Delivery-ID` (the same on every retry of the same
  delivery, for the receiver to drop a duplicate).
- Claim, commit, post, record: the job's transaction builds the document and claims the
  delivery (the same delivery scheduled again after `claim_window`), and commits; the post
  happens after that, holding no transaction and no lock (a slow webhook blocks nobody); its
  outcome is recorded in a short transaction of its own. A 2xx cancels the claim; anything
  else counts a failure and moves the claim to `outbox.backoff`; after
  `trace_webhook_max_failures` consecutive failures the subscription is deactivated (audited)
  and the claim cancelled. So each matching event is posted once per subscription, across
  restarts: a crash before the post leaves the claim to deliver it, and only a crash between
  the receiver's 2xx and the record posts it again, under the same delivery id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import event as sa_event
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapper, object_session

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import TRACE_MANAGE, TRACE_READ, Actor, Permission, acting_organisation
from linli.db import OUTBOX_PUBLISHED
from linli.errors import BadRequest, NotFound
from linli.i18n import N_
from linli.jobs import DeliverSubscription, RunScheduledSubscription
from linli.outbox import DONE, PENDING, DueJob
from linli.trace import named_queries, queries, schedules
from linli.trace.epcis_headers import epcis_headers
from linli.trace.models import CAPTURE_SUCCEEDED, TraceCapture, TraceEvent
from linli.trace.query_models import TraceNamedQuery, TraceSubscription

MAX_URL = 2000
SIGNATURE_HEADER = "Linli-Signature"
DELIVERY_HEADER = "Linli-Delivery-ID"


@dataclass(frozen=True)
class Policy:
    """The deployment's webhook settings (config: trace_webhook_*)."""

    allow_private: bool = False
    max_failures: int = 5
    timeout_seconds: float = 5.0


_policy = Policy()


def configure(policy: Policy) -> None:
    """Set at application start from the settings (`app.create_app`)."""
    global _policy
    _policy = policy


def policy() -> Policy:
    return _policy


def _refuse_destination(message: str) -> BadRequest:
    return BadRequest(
        message,
        code="bad_destination",
        fields={"dest": N_("Give an http or https URL of a public address.")},
    )


async def check_destination(url: str, allow_private: bool) -> None:
    """400 unless `url` is http(s) with a host, and (unless `allow_private`) every address
    the host resolves to is a public one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise _refuse_destination(N_("A webhook URL is an http or https URL with a host."))
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except (OSError, ValueError):
        raise _refuse_destination(N_("The webhook URL's host does not resolve.")) from None
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise _refuse_destination(N_("The webhook URL points to a private or local address."))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def create(
    session: AsyncSession,
    actor: Actor,
    query_name: str,
    destination: str,
    *,
    schedule: dict[str, str | int | None] | None = None,
    report_if_empty: bool = False,
    initial_record_time: datetime | None = None,
) -> TraceSubscription:
    """A stream subscription (`schedule` None: delivered on each capture) or a scheduled one
    (delivered at the schedule's times; the first run is scheduled here)."""
    named = await named_queries.access(session, actor, query_name, TRACE_MANAGE)
    parsed = schedules.parse(schedule) if schedule is not None else None
    await check_destination(destination, _policy.allow_private)
    now = clock.now()
    subscription = TraceSubscription(
        public_id=str(uuid.uuid4()),
        organisation_id=named.organisation_id,
        query_id=named.id,
        destination=destination,
        secret=secrets.token_urlsafe(32),
        active=True,
        failures=0,
        delivered=0,
        created_by_user_id=actor.user_id,
        created_at=now,
        stream=parsed is None,
        schedule=(
            {k: str(v) for k, v in schedule.items() if v not in (None, "")}
            if schedule is not None
            else None
        ),
        report_if_empty=report_if_empty,
        initial_record_time=initial_record_time,
    )
    session.add(subscription)
    await session.flush()
    if parsed is not None:
        first = schedules.next_run(parsed, now)
        assert first is not None  # parse refuses a schedule that never runs
        since = initial_record_time.astimezone(UTC) if initial_record_time else now
        await _schedule_run(session, subscription.id, since, first)
    audit.record(
        session,
        actor,
        "trace.subscription.create",
        target_type="trace_subscription",
        target_id=subscription.id,
        query=named.name,
        destination=destination,
    )
    return subscription


async def listed(
    session: AsyncSession, actor: Actor, query_name: str
) -> Sequence[TraceSubscription]:
    named = await named_queries.access(session, actor, query_name)
    rows = await session.scalars(
        select(TraceSubscription)
        .where(TraceSubscription.query_id == named.id)
        .order_by(TraceSubscription.id)
    )
    return rows.all()


async def access(
    session: AsyncSession,
    actor: Actor,
    query_name: str,
    public_id: str,
    permission: Permission = TRACE_READ,
) -> TraceSubscription:
    named = await named_queries.access(session, actor, query_name, permission)
    found = await session.scalar(
        select(TraceSubscription).where(
            TraceSubscription.query_id == named.id, TraceSubscription.public_id == public_id
        )
    )
    if found is None:
        raise NotFound(N_("No such subscription."))
    return found


async def delete(session: AsyncSession, actor: Actor, query_name: str, public_id: str) -> None:
    acting_organisation(actor, TRACE_MANAGE)
    subscription = await access(session, actor, query_name, public_id, TRACE_MANAGE)
    audit.record(
        session,
        actor,
        "trace.subscription.delete",
        target_type="trace_subscription",
        target_id=subscription.id,
        destination=subscription.destination,
    )
    await session.delete(subscription)
    await session.flush()


def _schedule_deliveries(_mapper: Mapper[Any], connection: Connection, job: TraceCapture) -> None:
    """A succeeded capture job was inserted: one delivery job per active subscription of its
    organisation, in the capture's transaction."""
    if job.status != CAPTURE_SUCCEEDED:
        return
    subscription_ids = connection.scalars(
        select(TraceSubscription.id).where(
            TraceSubscription.organisation_id == job.organisation_id,
            TraceSubscription.active.is_(True),
            TraceSubscription.stream.is_(True),
        )
    ).all()
    if not subscription_ids:
        return
    now = clock.now()
    rows = [
        {
            "kind": DeliverSubscription.job_kind,
            "dedupe_key": f"trace.subscription:{sid}:{job.id}",
            "payload": {"subscription_id": sid, "capture_id": job.id},
            "due_at": now,
            "created_at": now,
            "status": PENDING,
            "attempts": 0,
        }
        for sid in subscription_ids
    ]
    connection.execute(insert(DueJob), rows)
    session = object_session(job)
    if session is not None:
        session.info[OUTBOX_PUBLISHED] = True


def _document(
    named: TraceNamedQuery,
    subscription: TraceSubscription,
    rows: Sequence[TraceEvent],
    declared: dict[tuple[int, str], dict[str, Any]],
) -> bytes:
    document = queries.query_document(rows, declared)
    results = document["epcisBody"]["queryResults"]
    results["queryName"] = named.name
    results["subscriptionID"] = subscription.public_id
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _delivered(rows: Sequence[TraceEvent]) -> list[TraceEvent]:
    """The rows to post: an error declaration whose event is posted with it is carried by that
    event (`errorDeclaration`, as queries return it), not posted a second time."""
    originals = {(r.organisation_id, r.event_id) for r in rows if not r.is_correction}
    return [
        r for r in rows if not (r.is_correction and (r.organisation_id, r.event_id) in originals)
    ]


Delivery = DeliverSubscription | RunScheduledSubscription


def _dedupe_key(job: Delivery) -> str:
    if isinstance(job, RunScheduledSubscription):
        return _run_key(job.subscription_id, job.run_at)
    return f"trace.subscription:{job.subscription_id}:{job.capture_id}"


def _run_key(subscription_id: int, run_at: str) -> str:
    return f"trace.subscription.run:{subscription_id}:{run_at}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def _schedule_run(
    session: AsyncSession, subscription_id: int, since: datetime, run_at: datetime
) -> None:
    """A scheduled subscription's run at `run_at`, over the events recorded since `since`
    (once: the key is the subscription and the run time)."""
    job = RunScheduledSubscription(
        subscription_id=subscription_id, since=_iso(since), run_at=_iso(run_at)
    )
    await outbox.schedule(session, job, run_at, dedupe_key=_dedupe_key(job))


def claim_window() -> timedelta:
    """How long a delivery is claimed: its successor runs after that if the outcome was never
    recorded (the process died between the claim and the record)."""
    return timedelta(seconds=max(30.0, 4 * _policy.timeout_seconds))


@outbox.job(DeliverSubscription)
async def deliver(session: AsyncSession, job: DeliverSubscription) -> outbox.AfterCommit | None:
    """Claim, commit, post, record: in the job's transaction the document is built and the same
    delivery scheduled again after `claim_window` (the claim); the webhook is posted after that
    commits, holding no transaction or lock; its outcome is then recorded in a short
    transaction of its own (`_record`), which settles or reschedules the claim."""
    subscription = await session.get(TraceSubscription, job.subscription_id)
    if subscription is None or not subscription.active:
        return None  # deleted or deactivated since: nothing to deliver
    named = await session.get(TraceNamedQuery, subscription.query_id)
    if named is None:
        return None
    rows = await queries.captured_matching(
        session, subscription.organisation_id, job.capture_id, named_queries.event_query(named)
    )
    if not rows:
        return None
    declared = await queries.declarations(session, rows)
    body = _document(named, subscription, _delivered(rows), declared)
    await _retry(session, job, claim_window())
    destination, secret = subscription.destination, subscription.secret
    delivery_id = f"{subscription.public_id}:{job.capture_id}"

    async def post_and_record(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        error = await _post(destination, secret, body, delivery_id)
        async with sessionmaker() as recording, recording.begin():
            await _record(recording, job, error)

    return post_and_record


@outbox.job(RunScheduledSubscription)
async def run_scheduled(
    session: AsyncSession, job: RunScheduledSubscription
) -> outbox.AfterCommit | None:
    """A scheduled run: the first time it runs, the run is recorded (`last_run_at`) and the
    next run scheduled, in this transaction (so exactly once, across restarts); then, as a
    capture's delivery, the document of the events recorded in [since, run_at) is claimed,
    committed, posted and recorded. A retry of the claim rebuilds the same document."""
    subscription = await session.get(TraceSubscription, job.subscription_id, with_for_update=True)
    if subscription is None or not subscription.active or subscription.schedule is None:
        return None
    named = await session.get(TraceNamedQuery, subscription.query_id)
    if named is None:
        return None
    since, run_at = datetime.fromisoformat(job.since), datetime.fromisoformat(job.run_at)
    if subscription.last_run_at is None or subscription.last_run_at < run_at:
        subscription.last_run_at = run_at
        following = schedules.next_run(schedules.parse(subscription.schedule), run_at)
        if following is not None:
            await _schedule_run(session, subscription.id, run_at, following)
    rows = await queries.recorded_matching(
        session, subscription.organisation_id, since, run_at, named_queries.event_query(named)
    )
    if not rows and not subscription.report_if_empty:
        return None
    declared = await queries.declarations(session, rows) if rows else {}
    body = _document(named, subscription, _delivered(rows), declared)
    await _retry(session, job, claim_window())
    destination, secret = subscription.destination, subscription.secret
    delivery_id = f"{subscription.public_id}:{job.run_at}"

    async def post_and_record(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        error = await _post(destination, secret, body, delivery_id)
        async with sessionmaker() as recording, recording.begin():
            await _record(recording, job, error)

    return post_and_record


async def _record(session: AsyncSession, job: Delivery, error: str | None) -> None:
    """A delivery's outcome: a 2xx settles it (the claim is cancelled); a failure counts, and
    the claim is moved to the backoff time, or the subscription is deactivated."""
    subscription = await session.get(TraceSubscription, job.subscription_id, with_for_update=True)
    if subscription is None or not subscription.active:
        await _cancel_claim(session, job)
        return
    if error is None:
        subscription.failures = 0
        subscription.last_error = None
        subscription.delivered += 1
        await _cancel_claim(session, job)
        return
    subscription.failures += 1
    subscription.last_error = error[:500]
    if subscription.failures >= _policy.max_failures:
        subscription.active = False
        subscription.deactivated_at = clock.now()
        audit.record(
            session,
            Actor(system=True),
            "trace.subscription.deactivate",
            target_type="trace_subscription",
            target_id=subscription.id,
            organisation_id=subscription.organisation_id,
            failures=subscription.failures,
            last_error=subscription.last_error,
        )
        await _cancel_claim(session, job)
        return
    await _claimed(session, job, clock.now() + outbox.backoff(subscription.failures))


def _claim(job: Delivery) -> Any:
    """The claim's row while no dispatcher holds it (a leased one is left to run)."""
    now = clock.now()
    return update(DueJob).where(
        DueJob.dedupe_key == _dedupe_key(job),
        DueJob.status == PENDING,
        or_(DueJob.locked_until.is_(None), DueJob.locked_until < now),
    )


async def _cancel_claim(session: AsyncSession, job: Delivery) -> None:
    await session.execute(_claim(job).values(status=DONE, done_at=clock.now()))


async def _claimed(session: AsyncSession, job: Delivery, due_at: datetime) -> None:
    await session.execute(_claim(job).values(due_at=due_at))


async def _retry(session: AsyncSession, job: Delivery, after: timedelta) -> None:
    """The same delivery again later (this job is already marked done, so the key is free)."""
    await outbox.schedule(session, job, clock.now() + after, dedupe_key=_dedupe_key(job))


async def _post(destination: str, secret: str, body: bytes, delivery_id: str) -> str | None:
    """None when the webhook took the delivery (2xx), else why not."""
    try:
        await check_destination(destination, _policy.allow_private)
    except BadRequest as refused:
        return refused.message.render()
    headers = {
        "Content-Type": "application/ld+json",
        SIGNATURE_HEADER: sign(secret, body),
        DELIVERY_HEADER: delivery_id,
        **epcis_headers(),
    }
    try:
        async with httpx.AsyncClient(
            timeout=_policy.timeout_seconds, trust_env=False, follow_redirects=False
        ) as client:
            response = await client.post(destination, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


sa_event.listen(TraceCapture, "after_insert", _schedule_deliveries)
