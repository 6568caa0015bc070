"""Group commit of payment notifications (PostgreSQL): successful notifications of one provider
that arrive while a batch is running are applied together, by one statement and one commit,
each booked as alone (its intent, its ledger entry and postings, its event, its callback row);
a second notification of an intent starts the next batch and is answered as a replay; one
that matches no open intent writes nothing and is answered as alone; a failing batch is rerun
notification by notification; and a server killed in the middle loses no acknowledged
payment and books none twice."""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.config import Settings
from linli.events import PaymentSucceeded
from linli.outbox import OutboxEvent
from linli.payments import service
from linli.payments.models import LedgerEntry, LedgerPosting, PaymentCallback, PaymentIntent
from linli.payments.providers import SANDBOX
from tests.conftest import DATABASE_KIND
from tests.crash import kill, kill_mid_batch, serve, slow_batches
from tests.live import free_port
from tests.payments.helpers import (
    CALLBACK,
    a_merchant,
    balances,
    fetch,
    intent_row,
    new_intent,
    notification,
    post_callback,
)
from tests.queues import Request, released_together
from tests.statements import counting

pytestmark = pytest.mark.skipif(
    DATABASE_KIND != "postgresql", reason="group commit is PostgreSQL's"
)


async def in_batches(
    app: FastAPI, requests: Sequence[Request]
) -> tuple[list[httpx.Response], list[int]]:
    """Let the callbacks queue up for the sandbox in this order, then go. The answers and the
    size of each batch that ran."""
    queue = service._CALLBACKS.queue_of(app.state.engine.sync_engine, SANDBOX)
    return await released_together(queue, list(requests), service, "_apply_batch")


async def booked(app: FastAPI, intent: PaymentIntent) -> tuple[int, list[int], int, list[str]]:
    """An intent's ledger entries, its postings' amounts, its PaymentSucceeded events and the
    outcomes of its callback rows."""
    entries = await fetch(
        app, select(LedgerEntry.id).where(LedgerEntry.reference == intent.public_id)
    )
    postings = await fetch(
        app,
        select(LedgerPosting.amount_fen)
        .where(LedgerPosting.entry_id.in_(entries))
        .order_by(LedgerPosting.id),
    )
    events = await fetch(
        app,
        select(OutboxEvent.event_id).where(
            OutboxEvent.event_type == PaymentSucceeded.event_name,
            OutboxEvent.payload["intent_id"].as_integer() == intent.id,
        ),
    )
    outcomes = await fetch(
        app,
        select(PaymentCallback.outcome)
        .where(PaymentCallback.intent_public_id == intent.public_id)
        .order_by(PaymentCallback.id),
    )
    return len(entries), postings, len(events), outcomes


async def test_waiting_notifications_are_applied_together_each_booked_as_alone(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Five callbacks queue: A, B, A again, C with a wrong amount, D. A and B are applied by
    one statement; A's second notification starts the next batch, where it is a replay, C
    matches nothing (amount_mismatch, nothing written) and D is applied. Each applied intent
    has its own entry (postings of its own amount), its own event and callback row."""
    payer, shop = await a_merchant(session)
    a, b, c, d = [await new_intent(app, payer, shop, 1000 + n) for n in range(4)]
    sent = [
        notification(settings, a),
        notification(settings, b),
        notification(settings, a),  # a second notification of A: another transaction
        notification(settings, c, amount_fen=1),
        notification(settings, d),
    ]
    with counting(app) as statements:
        answers, sizes = await in_batches(
            app, [functools.partial(post_callback, client, *note) for note in sent]
        )
    assert sizes == [2, 3]
    assert [r.status_code for r in answers] == [200, 200, 200, 400, 200], [r.text for r in answers]
    # Two batch statements; the second notification of A and C's then answered alone.
    assert sum(s.startswith("WITH") for s in statements) == 2, statements
    for intent in (a, b, d):
        assert (await intent_row(app, intent.id)).status == "succeeded"
        entries, postings, events, _ = await booked(app, intent)
        assert (entries, events) == (1, 1)
        assert sum(postings) == 0
        assert sorted(abs(p) for p in postings) == [intent.amount_fen] * len(postings)
    assert (await intent_row(app, c.id)).status == "created"
    assert await booked(app, c) == (0, [], 0, ["amount_mismatch"])
    assert (await booked(app, a))[3] == ["applied", "conflicting_transaction"]
    assert (await booked(app, b))[3] == ["applied"]
    assert (await booked(app, d))[3] == ["applied"]
    event_ids = await fetch(
        app,
        select(OutboxEvent.event_id).where(OutboxEvent.event_type == PaymentSucceeded.event_name),
    )
    assert len(event_ids) == len(set(event_ids)) == 3
    assert (await balances(app))["cash:sandbox"] == a.amount_fen + b.amount_fen + d.amount_fen


async def test_one_failing_notification_does_not_fail_the_others(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """One notification's callback row cannot be written (a trigger refuses it): the batch's
    statement fails and is rolled back, and each notification is applied on its own: the
    others are, the bad one fails alone and leaves its intent open."""
    payer, shop = await a_merchant(session)
    intents = [await new_intent(app, payer, shop, 500 + n) for n in range(4)]
    bad = intents[1]
    await session.execute(
        text(
            "CREATE FUNCTION refuse_one_callback() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.intent_public_id = '{bad.public_id}' THEN "
            "RAISE EXCEPTION 'refused for the test'; END IF; RETURN NEW; END $$"
        )
    )
    await session.execute(
        text(
            "CREATE TRIGGER refuse_one_callback BEFORE INSERT ON payment_callbacks "
            "FOR EACH ROW EXECUTE FUNCTION refuse_one_callback()"
        )
    )
    await session.commit()
    try:

        async def paying(intent: PaymentIntent) -> httpx.Response:
            try:
                return await post_callback(client, *notification(settings, intent))
            except Exception as exc:  # the test client re-raises the server's error
                return httpx.Response(500, text=repr(exc))

        answers, sizes = await in_batches(
            app, [functools.partial(paying, intent) for intent in intents]
        )
    finally:
        await session.execute(text("DROP TRIGGER refuse_one_callback ON payment_callbacks"))
        await session.execute(text("DROP FUNCTION refuse_one_callback()"))
        await session.commit()
    assert sizes == [4]
    assert [r.status_code for r in answers] == [200, 500, 200, 200]
    for intent in intents:
        status = (await intent_row(app, intent.id)).status
        assert status == ("created" if intent is bad else "succeeded")
    assert await booked(app, bad) == (0, [], 0, [])


async def test_a_lone_notification_goes_straight_through(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 777)
    response = await post_callback(client, *notification(settings, intent))
    assert response.status_code == 200, response.text
    queue = service._CALLBACKS.queue_of(app.state.engine.sync_engine, SANDBOX)
    assert not queue.busy
    assert not queue.waiting
    assert (await intent_row(app, intent.id)).status == "succeeded"


PAYERS = 120


async def test_a_killed_server_loses_no_acknowledged_payment_and_books_none_twice(
    app: FastAPI, session: AsyncSession, settings: Settings, tmp_path: Path
) -> None:
    """A real server (two workers) is killed by SIGKILL while a batch of notifications is in
    its statement: every acknowledged notification's intent is paid, every paid intent is
    booked once, whole; after a restart the provider sends every notification again: all are
    acknowledged and every intent is paid exactly once."""
    payer, shop = await a_merchant(session)
    intents = [await new_intent(app, payer, shop, 100 + n) for n in range(PAYERS)]
    notes = [notification(settings, intent) for intent in intents]
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def send(http: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> int:
        try:
            return (await http.post(CALLBACK, content=body, headers=headers)).status_code
        except httpx.HTTPError:  # the server died under the request
            return 0

    async with slow_batches(session, "payment_callbacks"):
        server = serve(settings, port, tmp_path)
        try:
            limits = httpx.Limits(max_connections=48)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
                racing = [asyncio.create_task(send(http, *note)) for note in notes]
                first = await kill_mid_batch(app, server, racing, "WITH notes AS")
        finally:
            kill(server, signal.SIGKILL)
    acknowledged = [n for n, status in enumerate(first) if status == 200]
    assert acknowledged
    assert 0 in first, "the server was killed after every answer: nothing was in flight"
    assert set(first) <= {0, 200}, first
    print(f"\nkilled: {len(acknowledged)} acknowledged, {first.count(0)} unanswered")

    async def paid_once() -> set[int]:
        """The paid intents, each booked once and whole; the books balance."""
        paid = set()
        for n, intent in enumerate(intents):
            entries, postings, events, outcomes = await booked(app, intent)
            if (await intent_row(app, intent.id)).status == "succeeded":
                paid.add(n)
                assert (entries, events, outcomes.count("applied")) == (1, 1, 1), n
                assert sum(postings) == 0
            else:
                assert (entries, events, outcomes) == (0, 0, []), n
        async with app.state.sessionmaker() as s:
            assert await s.scalar(select(func.sum(LedgerPosting.amount_fen))) in (0, None)
        return paid

    assert set(acknowledged) <= await paid_once()  # no acknowledged payment lost

    server = serve(settings, port, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            again = await asyncio.gather(*(send(http, *note) for note in notes))
    finally:
        kill(server, signal.SIGTERM)
    assert set(again) == {200}
    assert await paid_once() == set(range(PAYERS))
