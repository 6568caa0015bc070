"""The sandbox provider's signed callback: forged, tampered, replayed, duplicated, unknown and
wrong-amount notifications, concurrency, and the statement count of one confirmation."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.events import PaymentSucceeded
from linli.outbox import OutboxEvent
from linli.payments import handlers as payment_handlers
from linli.payments import ledger, providers, service
from linli.payments.models import LedgerEntry, LedgerPosting, PaymentCallback, PaymentIntent
from tests.conftest import DATABASE_KIND
from tests.payments.helpers import (
    a_merchant,
    balances,
    count,
    fetch,
    intent_row,
    new_intent,
    notification,
    outcomes,
    pay,
    post_callback,
    secret,
)

SIG = providers.SIGNATURE_HEADER


async def succeeded_events(app: FastAPI) -> list[dict[str, Any]]:
    return await fetch(
        app,
        select(OutboxEvent.payload).where(OutboxEvent.event_type == PaymentSucceeded.event_name),
    )


async def test_a_valid_callback_pays_the_intent_once_and_books_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 2599, reference="42")
    headers, body = notification(settings, intent, txn="sbxTXN1")

    response = await post_callback(client, headers, body)

    assert response.status_code == 200, response.text
    assert response.json() == {"code": "SUCCESS", "message": "OK"}
    row = await intent_row(app, intent.id)
    assert (row.status, row.provider_txn_id) == ("succeeded", "sbxTXN1")
    assert row.succeeded_at is not None
    assert await balances(app) == {
        "cash:sandbox": 2599,
        "clearing:orders": -2599,
        f"resident:{payer.id}": 0,
    }
    assert await succeeded_events(app) == [
        {
            "intent_id": intent.id,
            "public_id": intent.public_id,
            "purpose": "order",
            "reference": "42",
            "amount_fen": 2599,
            "payer_user_id": payer.id,
            "payee_organisation_id": shop.id,
        }
    ]
    (callback,) = await fetch(app, select(PaymentCallback))
    assert (callback.outcome, callback.signature_valid) == ("applied", True)
    assert (callback.intent_public_id, callback.amount_fen) == (intent.public_id, 2599)
    assert callback.provider_txn_id == "sbxTXN1"
    assert callback.body == body.decode()


async def test_forged_and_tampered_callbacks_change_nothing_but_are_recorded(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 1000)
    headers, body = notification(settings, intent)

    unsigned = await client.post(
        providers.CALLBACK_PATH, content=body, headers={"Content-Type": "application/json"}
    )
    wrong_key = await post_callback(client, *notification(settings, intent, key="guessed"))
    tampered = await post_callback(
        client, headers, body.replace(b'"amount_fen":1000', b'"amount_fen":1')
    )
    swapped = dict(headers, **{providers.NONCE_HEADER: "0" * 32})
    other_nonce = await post_callback(client, swapped, body)
    short = dict(headers, **{providers.SIGNATURE_HEADER: "abc"})
    short_sig = await post_callback(client, short, body)
    non_ascii = await client.post(
        providers.CALLBACK_PATH,
        content=body,
        headers=[
            *((k.encode(), v.encode()) for k, v in headers.items() if k != SIG),
            (SIG.encode(), "é".encode() * 32),
        ],
    )

    for response in (unsigned, wrong_key, tampered, other_nonce, short_sig, non_ascii):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "bad_signature"
    assert (await intent_row(app, intent.id)).status == "created"
    # Forgeries are counted, not stored: posting them cannot fill the database.
    assert await outcomes(app) == []
    async with app.state.sessionmaker() as s:
        assert await service.unsigned_callbacks(s, providers.SANDBOX) == 6
    assert await count(app, LedgerEntry) == 0
    assert await succeeded_events(app) == []

    # The genuine notification still works afterwards.
    assert (await post_callback(client, headers, body)).status_code == 200
    assert (await intent_row(app, intent.id)).status == "succeeded"


async def test_replayed_and_duplicated_callbacks_are_acknowledged_and_not_applied_twice(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 500)
    headers, body = notification(settings, intent, txn="sbxSAME", notification_id="n-1")
    assert (await post_callback(client, headers, body)).status_code == 200

    replay = await post_callback(client, headers, body)
    again = await post_callback(client, *notification(settings, intent, txn="sbxSAME"))
    second_txn = await post_callback(client, *notification(settings, intent, txn="sbxOTHER"))

    for response in (replay, again, second_txn):
        assert response.status_code == 200, response.text
        assert response.json() == providers.ACKNOWLEDGEMENT
    assert await outcomes(app) == ["applied", "replay", "duplicate", "conflicting_transaction"]
    row = await intent_row(app, intent.id)
    assert (row.status, row.provider_txn_id) == ("succeeded", "sbxSAME")
    assert len(await succeeded_events(app)) == 1
    assert await count(app, LedgerEntry) == 1
    assert (await balances(app))["cash:sandbox"] == 500


async def test_unknown_intent_wrong_amount_and_unreadable_notifications_are_refused(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 800)

    unknown = await post_callback(
        client, *notification(settings, intent, public_id="00000000-0000-4000-8000-000000000000")
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_intent"

    wrong = await post_callback(client, *notification(settings, intent, amount_fen=1))
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "amount_mismatch"

    key = settings.payment_sandbox_secret.get_secret_value()
    for junk in (
        b"not json",
        b"{}",
        json.dumps({"id": "x", "resource": {"amount_fen": "1"}}).encode(),
        b"\xff\xfe",
    ):
        headers = {
            providers.TIMESTAMP_HEADER: "1",
            providers.NONCE_HEADER: "n",
            providers.SIGNATURE_HEADER: providers.signature(key, "1", "n", junk),
        }
        response = await post_callback(client, headers, junk)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "malformed"

    assert (await intent_row(app, intent.id)).status == "created"
    assert await outcomes(app) == ["unknown_intent", "amount_mismatch"] + ["malformed"] * 4
    assert await count(app, LedgerEntry) == 0
    # A wrong amount does not poison the intent: the right one is still accepted.
    await pay(client, app.state.settings, intent)
    assert await balances(app) == {
        "cash:sandbox": 800,
        "clearing:orders": -800,
        f"resident:{payer.id}": 0,
    }


async def test_payment_of_a_cancelled_intent_is_returned_to_the_payer_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    from linli.payments.models import PaymentRefund
    from tests.payments.helpers import resident_actor

    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 300)
    async with app.state.sessionmaker() as s, s.begin():
        await service.cancel_intent(s, resident_actor(payer), intent.id)
    headers, body = notification(settings, intent)
    response = await post_callback(client, headers, body)
    assert response.status_code == 200
    assert (await post_callback(client, headers, body)).status_code == 200  # a replay
    assert await outcomes(app) == ["intent_closed", "intent_closed"]
    closed = await intent_row(app, intent.id)
    assert (closed.status, closed.refunded_fen) == ("cancelled", 300)
    (refund,) = await fetch(app, select(PaymentRefund))
    assert (refund.amount_fen, refund.status) == (300, "succeeded")
    # The money came in and went straight back out: nobody holds any of it.
    assert {code: v for code, v in (await balances(app)).items() if v} == {}
    assert await count(app, LedgerEntry) == 2
    assert await succeeded_events(app) == []  # the order never learns of it as a payment


async def test_concurrent_identical_callbacks_apply_once(
    app: FastAPI, session: AsyncSession, settings: Settings
) -> None:
    payer, shop = await a_merchant(session)
    intents = [await new_intent(app, payer, shop, 100 + n) for n in range(3)]
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as one,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as two,
    ):
        for intent in intents:
            headers, body = notification(settings, intent)
            other = notification(settings, intent)  # a different notification, other txn
            first, second, third = await asyncio.gather(
                post_callback(one, headers, body),
                post_callback(two, headers, body),
                post_callback(two, *other),
            )
            assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert len(await succeeded_events(app)) == 3
    assert await count(app, LedgerEntry) == 3
    applied = await fetch(
        app, select(PaymentCallback.outcome).where(PaymentCallback.outcome == "applied")
    )
    assert len(applied) == 3
    assert (await balances(app))["cash:sandbox"] == 303
    statuses = await fetch(app, select(PaymentIntent.status))
    assert statuses == ["succeeded"] * 3


async def test_one_confirmation_takes_few_statements(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """The callback's statements, counted at the driver (BEGIN included, COMMIT is not a
    statement to the driver). Reported in docs/payments.md."""
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 4200)
    headers, body = notification(settings, intent)
    statements: list[str] = []

    def count_statement(*args: Any) -> None:
        statements.append(str(args[2]).split()[0].upper())

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        response = await post_callback(client, headers, body)
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    assert response.status_code == 200
    assert (await intent_row(app, intent.id)).status == "succeeded"
    # PostgreSQL: one statement (WITH the UPDATE, the ledger entry and postings, the outbox
    # event and the callback row); SQLite: the same in steps.
    expected = ["WITH"]
    if DATABASE_KIND == "sqlite":
        expected = ["BEGIN", "UPDATE", "INSERT", "INSERT", "INSERT", "INSERT"]
    assert statements == expected, statements
    assert len(statements) <= 6
    async with app.state.sessionmaker() as s:
        assert await ledger.balance(s, "cash:sandbox") == 4200


async def test_unsigned_junk_is_pruned_after_thirty_days_signed_notifications_stay(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    payer, shop = await a_merchant(session)
    intent = await new_intent(app, payer, shop, 1000)
    headers, body = notification(settings, intent)
    junk = await client.post(
        providers.CALLBACK_PATH, content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert junk.status_code == 401  # unsigned: counted, never stored
    signed_junk = dict(
        headers,
        **{
            providers.SIGNATURE_HEADER: providers.signature(
                secret(settings),
                headers[providers.TIMESTAMP_HEADER],
                headers[providers.NONCE_HEADER],
                b"{}",
            )
        },
    )
    malformed = await post_callback(client, signed_junk, b"{}")
    assert malformed.status_code == 400
    assert (await post_callback(client, headers, body)).status_code == 200
    async with app.state.sessionmaker() as s, s.begin():
        await payment_handlers.ensure_prune_scheduled(s)

    frozen_clock.advance(timedelta(days=10))
    await app.state.dispatcher.run_once()
    assert sorted(await outcomes(app)) == ["applied", "malformed"]
    frozen_clock.advance(timedelta(days=21))
    await app.state.dispatcher.run_once()
    assert await outcomes(app) == ["applied"]


@pytest.mark.skipif(DATABASE_KIND != "postgresql", reason="the one-statement path is PostgreSQL's")
async def test_a_payment_applied_in_one_statement_is_booked_as_the_steps_book_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    frozen_clock: FrozenClock,
) -> None:
    """The same notification, applied in one statement and in steps (the reference), to two
    intents alike: the same intent, ledger entry and postings, event and callback row; then
    the same notifications again (replays) and a second transaction for each (refused alike)."""
    payer, shop = await a_merchant(session)
    fast = await new_intent(app, payer, shop, 777, reference="7")
    steps = await new_intent(app, payer, shop, 777, reference="7")

    async def apply(intent: PaymentIntent, one_statement: bool, **kwargs: Any) -> Any:
        monkeypatch.setattr(service, "ONE_STATEMENT", one_statement)
        headers, body = notification(settings, intent, **kwargs)
        response = await post_callback(client, headers, body)
        return response.status_code, response.json()

    for kwargs in ({"txn": "T1", "notification_id": "N1"},) * 2 + ({"txn": "T2"},):
        assert await apply(fast, True, **{**kwargs, "txn": f"{kwargs['txn']}f"}) == await apply(
            steps, False, **{**kwargs, "txn": f"{kwargs['txn']}s"}
        )

    async def booked(intent: PaymentIntent) -> Any:
        row = await intent_row(app, intent.id)
        async with app.state.sessionmaker() as s:
            entries = (
                await s.execute(
                    select(LedgerEntry.kind, LedgerPosting.account, LedgerPosting.amount_fen)
                    .join(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
                    .where(LedgerEntry.reference == intent.public_id)
                    .order_by(LedgerPosting.id)
                )
            ).all()
            calls = (
                await s.execute(
                    select(
                        PaymentCallback.outcome,
                        PaymentCallback.signature_valid,
                        PaymentCallback.amount_fen,
                        PaymentCallback.remote_addr,
                        PaymentCallback.received_at,
                        PaymentCallback.provider,
                    )
                    .where(PaymentCallback.intent_public_id == intent.public_id)
                    .order_by(PaymentCallback.id)
                )
            ).all()
        events = [
            {**e, "intent_id": "x", "public_id": "x"}
            for e in await succeeded_events(app)
            if e["intent_id"] == intent.id and e["public_id"] == intent.public_id
        ]
        return (
            (row.status, (row.provider_txn_id or "")[:2], row.succeeded_at, row.refunded_fen),
            [tuple(e) for e in entries],
            [tuple(c) for c in calls],
            events,
        )

    assert await booked(fast) == await booked(steps)
    assert (await booked(fast))[2][0][0] == "applied"
    assert len((await booked(fast))[1]) == 4
    assert (await balances(app))["cash:sandbox"] == 2 * 777
