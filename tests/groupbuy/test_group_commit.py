"""Group commit (PostgreSQL): orders of one item waiting behind a running batch are placed by
one statement and one commit; stock in arrival order, never more than remains; the
per-resident limit and idempotency keys hold inside a batch; a failing batch is rerun order
by order, so one bad order never fails the others. SQLite places every order on its own (one
writer: nothing to group), which the behavioural suite covers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor, UserRef
from linli.errors import DomainError
from linli.groupbuy import checkout, group_commit
from linli.groupbuy.models import Order, OrderLine, ResidentQuota
from linli.groupbuy.schemas import OrderIn
from linli.jobs import ExpireIntent, ExpireOrder
from linli.outbox import DueJob
from linli.payments.models import PaymentIntent
from tests.conftest import DATABASE_KIND
from tests.groupbuy.helpers import (
    Resident,
    a_pickup_point,
    a_shop,
    count,
    in_one_batch,
    item,
    listed_sku,
    order,
    published_campaign,
    remaining,
    residents,
)

pytestmark = pytest.mark.skipif(
    DATABASE_KIND != "postgresql", reason="group commit is PostgreSQL's"
)


async def a_sale(
    client: httpx.AsyncClient, session: AsyncSession, *, stock: int, limit: int, people: int
) -> tuple[int, int, int, list[Resident]]:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop, stock=max(stock, 10))
    campaign = await published_campaign(
        client, shop, item(sku, stock=stock, per_resident_limit=limit, group_price_fen=990)
    )
    point = await a_pickup_point(session)
    return campaign["id"], campaign["items"][0]["id"], point, await residents(session, people)


async def test_waiting_orders_are_placed_by_one_statement_in_arrival_order(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Stock 3 for orders of 2, 2, 1, 1 units: the first 2 fit, the second 2 finds one left
    (sold out), the 1 after it takes that one, the last is sold out: as one order after the
    other would; one statement and one commit for all four."""
    campaign, item_id, point, people = await a_sale(client, session, stock=3, limit=2, people=4)
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(" ".join(str(args[2]).split())[:40])

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        answers, sizes = await in_one_batch(
            app,
            item_id,
            [
                functools.partial(order, client, r, campaign, [(item_id, q)], point_id=point)
                for r, q in zip(people, [2, 2, 1, 1], strict=True)
            ],
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert sizes == [4]
    assert [a.status_code for a in answers] == [201, 409, 201, 409]
    assert answers[1].json()["error"]["code"] == "sold_out"
    assert answers[3].json()["error"]["code"] == "sold_out"
    first, third = answers[0].json(), answers[2].json()
    assert first["order"]["id"] < third["order"]["id"]  # ids in arrival order
    assert [line["quantity"] for line in first["order"]["lines"]] == [2]
    assert first["payment"]["amount_fen"] == 2 * 990
    assert first["payment"]["public_id"] != third["payment"]["public_id"]
    assert len(first["payment"]["public_id"]) == 36  # a UUID, drawn per row
    assert await remaining(app, item_id) == 0
    assert await count(app, Order) == 2
    assert await count(app, OrderLine) == 2
    assert await count(app, PaymentIntent) == 2
    kinds = [ExpireOrder.job_kind, ExpireIntent.job_kind]
    assert await count(app, DueJob, DueJob.kind.in_(kinds)) == 4  # each order's and intent's
    # The batch: one statement (after the four token reads) and one commit.
    batch = [s for s in statements if s.startswith("WITH RECURSIVE")]
    assert len(batch) == 1
    async with app.state.sessionmaker() as s:
        held = dict((await s.execute(select(ResidentQuota.user_id, ResidentQuota.quantity))).all())
    assert held == {people[0].user.id: 2, people[2].user.id: 1}


async def test_a_resident_twice_in_a_row_gets_no_more_than_the_limit(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Limit 1: a resident's second order (another key) waits for the next batch and is
    refused there; under the same key it is answered with the first order (200)."""
    campaign, item_id, point, people = await a_sale(client, session, stock=10, limit=1, people=2)
    me, other = people

    def placing(r: Resident, key: str) -> Callable[[], Coroutine[Any, Any, httpx.Response]]:
        return lambda: order(client, r, campaign, [(item_id, 1)], key=key, point_id=point)

    answers, sizes = await in_one_batch(
        app,
        item_id,
        [
            placing(me, "twice-key-01"),
            placing(other, "other-key-01"),
            placing(me, "twice-key-02"),
            placing(me, "twice-key-01"),
        ],
    )
    assert sizes == [2, 1, 1]  # a resident's repeat starts the next batch
    assert [a.status_code for a in answers] == [201, 201, 409, 200]
    assert answers[2].json()["error"]["code"] == "limit_exceeded"
    assert answers[3].json()["order"]["id"] == answers[0].json()["order"]["id"]
    assert await remaining(app, item_id) == 8
    assert await count(app, Order) == 2


async def test_one_failing_order_does_not_fail_the_others(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """One resident's quota row cannot be written (a trigger refuses it): the batch's
    statement fails, is rolled back, and its orders are placed one by one: the others are
    placed, the bad one fails alone and leaves nothing behind."""
    campaign, item_id, point, people = await a_sale(client, session, stock=10, limit=2, people=4)
    bad = people[1].user.id
    await session.execute(
        text(
            "CREATE FUNCTION refuse_one_quota() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.user_id = {bad} THEN RAISE EXCEPTION 'refused for the test'; "
            "END IF; RETURN NEW; END $$"
        )
    )
    await session.execute(
        text(
            "CREATE TRIGGER refuse_one_quota BEFORE INSERT ON groupbuy_resident_quotas "
            "FOR EACH ROW EXECUTE FUNCTION refuse_one_quota()"
        )
    )
    await session.commit()
    try:

        async def placing(r: Resident) -> httpx.Response:
            try:
                return await order(client, r, campaign, [(item_id, 1)], point_id=point)
            except Exception as exc:  # the test client re-raises the server's error
                return httpx.Response(500, text=repr(exc))

        answers, sizes = await in_one_batch(
            app, item_id, [functools.partial(placing, r) for r in people]
        )
    finally:
        await session.execute(text("DROP TRIGGER refuse_one_quota ON groupbuy_resident_quotas"))
        await session.execute(text("DROP FUNCTION refuse_one_quota()"))
        await session.commit()
    assert sizes == [4]
    assert [a.status_code for a in answers] == [201, 500, 201, 201]
    assert await remaining(app, item_id) == 7
    assert await count(app, Order) == 3
    assert await count(app, Order, Order.user_id == bad) == 0
    assert await count(app, PaymentIntent) == 3


async def test_a_lone_order_goes_straight_through(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Nothing running for the item: the order is placed at once (a batch of one), and the
    queue is idle afterwards."""
    campaign, item_id, point, (resident,) = await a_sale(
        client, session, stock=2, limit=1, people=1
    )
    placed = await order(client, resident, campaign, [(item_id, 1)], point_id=point)
    assert placed.status_code == 201, placed.text
    queue = group_commit.queue_of(app.state.engine.sync_engine, item_id)
    assert not queue.busy
    assert not queue.waiting
    assert await remaining(app, item_id) == 1


async def test_a_batch_sees_the_stock_another_transaction_committed_meanwhile(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Another transaction (another process's order) holds the item's row, having taken 2 of
    3 units, when a batch of orders of 2 and 1 starts: the batch waits for its lock, then
    gives the stock as committed by then: the 2 is sold out, the 1 takes the last unit."""
    campaign, item_id, point, people = await a_sale(client, session, stock=3, limit=2, people=3)
    actors = [Actor(user=UserRef.of(p.user), roles=frozenset({"resident"})) for p in people]

    def data(quantity: int) -> OrderIn:
        return OrderIn.model_validate(
            {
                "campaign_id": campaign,
                "lines": [{"item_id": item_id, "quantity": quantity}],
                "pickup_point_id": point,
            }
        )

    async with app.state.sessionmaker() as other, app.state.sessionmaker() as leader:
        won = await checkout.place_order(other, actors[0], data(2), "other-process-01")
        assert won.created
        batch = [
            group_commit._Ticket(people[1].user.id, "batch-key-0001", data(2)),
            group_commit._Ticket(people[2].user.id, "batch-key-0002", data(1)),
        ]
        running = asyncio.create_task(group_commit._run(leader, campaign, batch))
        await asyncio.sleep(1.0)
        assert not running.done()  # waiting for the item's row
        await other.commit()
        answers = await running
    assert isinstance(answers[0], DomainError)
    assert answers[0].code == "sold_out"
    assert isinstance(answers[1], checkout.Checkout)
    assert answers[1].created
    assert await remaining(app, item_id) == 0
    assert await count(app, Order) == 2


async def test_a_batch_holds_at_most_the_batch_size(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LINLI_CHECKOUT_BATCH_SIZE 2: five waiting orders are placed by batches of 2, 2, 1."""
    campaign, item_id, point, people = await a_sale(client, session, stock=10, limit=1, people=5)
    monkeypatch.setattr(app.state.settings, "checkout_batch_size", 2)
    answers, sizes = await in_one_batch(
        app,
        item_id,
        [
            functools.partial(order, client, r, campaign, [(item_id, 1)], point_id=point)
            for r in people
        ],
    )
    assert sizes == [2, 2, 1]
    assert [a.status_code for a in answers] == [201] * 5
    assert await remaining(app, item_id) == 5


async def test_an_order_made_a_deadlocks_victim_is_placed_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The one-order path locks the resident's quota, then the item; a batch the item, then
    the quotas. Played here by a transaction holding the item and then asking for the
    resident's quota while the order waits for the item: PostgreSQL aborts the order (only
    its backend looks for deadlocks soon), and the order, placed again, is answered 201
    instead of a 500."""
    monkeypatch.setattr(app.state.settings, "checkout_batch_size", 1)  # the one-order path
    campaign, item_id, point, (me,) = await a_sale(client, session, stock=10, limit=3, people=1)
    first = await order(client, me, campaign, [(item_id, 1)], point_id=point)
    assert first.status_code == 201, first.text  # the quota row exists: it can be waited on

    async with app.state.engine.connect() as other:
        await other.execute(text("SET deadlock_timeout = '30s'"))
        await other.execute(
            text("SELECT id FROM groupbuy_campaign_items WHERE id = :i FOR UPDATE"), {"i": item_id}
        )
        placing = asyncio.create_task(order(client, me, campaign, [(item_id, 1)], point_id=point))
        async with app.state.engine.connect() as watch:
            for _ in range(200):  # until the order waits for the item's lock
                waiting = await watch.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                )
                if waiting:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the order never waited for the item")
        with caplog.at_level("INFO", logger="linli.groupbuy.group_commit"):
            # Now this transaction wants the quota the waiting order holds: a cycle.
            await other.execute(
                text(
                    "UPDATE groupbuy_resident_quotas SET quantity = quantity"
                    " WHERE user_id = :u AND item_id = :i"
                ),
                {"u": me.user.id, "i": item_id},
            )
            await other.commit()
            answer = await placing
    assert answer.status_code == 201, answer.text
    assert any("deadlock's victim" in r.getMessage() for r in caplog.records)
    assert await remaining(app, item_id) == 8
    async with app.state.sessionmaker() as s:
        held = await s.scalar(
            select(ResidentQuota.quantity).where(
                ResidentQuota.user_id == me.user.id, ResidentQuota.item_id == item_id
            )
        )
    assert held == 2


async def test_a_request_cancelled_while_it_waits_leaves_the_queue_and_places_nothing(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The first of three waiting requests is cancelled (its client went away) before the
    batch runs: it leaves the queue, the next one leads the batch of the other two, nothing
    of it is placed, and the queue is idle for the next order."""
    campaign, item_id, point, people = await a_sale(client, session, stock=10, limit=1, people=4)
    queue = group_commit.queue_of(app.state.engine.sync_engine, item_id)
    queue.busy = True  # as while a batch runs
    tasks: list[asyncio.Task[httpx.Response]] = []
    for resident in people[:3]:
        tasks.append(
            asyncio.create_task(order(client, resident, campaign, [(item_id, 1)], point_id=point))
        )
        for _ in range(500):
            if len(queue.waiting) == len(tasks):
                break
            await asyncio.sleep(0.01)
    assert len(queue.waiting) == 3
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert len(queue.waiting) == 2
    queue.hand_over()
    answers = await asyncio.gather(*tasks[1:])
    assert [a.status_code for a in answers] == [201, 201]
    assert not queue.busy
    assert not queue.waiting
    async with app.state.sessionmaker() as s:
        buyers = set(await s.scalars(select(Order.user_id)))
    assert buyers == {people[1].user.id, people[2].user.id}
    after = await order(client, people[3], campaign, [(item_id, 1)], point_id=point)
    assert after.status_code == 201, after.text
    assert await remaining(app, item_id) == 7
