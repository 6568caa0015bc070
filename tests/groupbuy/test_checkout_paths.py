"""The one-statement checkout (PostgreSQL) against the checkout in steps, its reference: random
sequences of orders (hypothesis) answered alike, leaving the same stock, quotas, orders,
intents and due jobs; and a concurrent request under the same key answered with the winner's
order. SQLite has only the steps (the behavioural suite runs them there)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor, UserRef
from linli.clock import FrozenClock
from linli.db import READ_GENERATION
from linli.groupbuy import checkout, group_commit, orders
from linli.groupbuy.models import CLOSED, Campaign, Order, ResidentQuota
from linli.groupbuy.schemas import OrderIn
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
    live_in,
    order,
    published_campaign,
    remaining,
    residents,
)

pytestmark = pytest.mark.skipif(
    DATABASE_KIND != "postgresql", reason="the one-statement checkout is PostgreSQL's"
)

RESIDENTS = 3
KEYS = [f"diff-key-{n:02d}" for n in range(6)]


@dataclass(frozen=True)
class Place:
    resident: int
    lines: tuple[tuple[int, int], ...]  # (item index: 0, 1, or 2 = another campaign's, qty)
    key: int
    point: bool  # name the pickup point (else the resident's home point, if any)
    accept: bool


@dataclass(frozen=True)
class Expire:
    nth: int  # the nth order placed in the sequence, if there is one


@dataclass(frozen=True)
class Close:
    pass


mostly = st.sampled_from([True, True, True, False])
places = st.builds(
    Place,
    resident=st.integers(0, RESIDENTS - 1),
    lines=st.lists(
        st.tuples(st.sampled_from([0, 0, 0, 1, 1, 1, 2]), st.integers(1, 3)),
        min_size=1,
        max_size=3,
        unique_by=lambda line: line[0],
    ).map(tuple),
    key=st.integers(0, len(KEYS) - 1),
    point=mostly,
    accept=mostly,
)
steps = st.lists(
    st.one_of(*[places] * 8, st.builds(Expire, st.integers(0, 5)), st.just(Close())),
    min_size=4,
    max_size=14,
)


def generated_sequences() -> list[list[Place | Expire | Close]]:
    """Hypothesis draws the sequences (its bias to edge cases, reproducibly); they run against
    the app below, outside hypothesis, so a failure shows its sequence but is not shrunk."""
    drawn: list[list[Place | Expire | Close]] = []

    @settings(
        max_examples=16,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @example(  # every answer at least once: replay, key reuse, quota, stock, terms, expiry
        [
            Place(0, ((0, 2),), 0, True, True),
            Place(0, ((0, 2),), 0, True, True),
            Place(0, ((0, 1),), 0, True, True),
            Place(0, ((0, 1),), 1, False, True),
            Place(1, ((0, 1),), 0, True, True),
            Place(2, ((0, 1),), 0, True, True),
            Place(2, ((1, 2),), 1, True, False),
            Place(2, ((1, 2), (0, 1)), 2, True, True),
            Expire(0),
            Place(2, ((0, 2), (1, 1)), 3, True, True),
            Place(2, ((2, 1),), 4, True, True),
            Close(),
            Place(1, ((1, 1),), 4, True, True),
        ]
    )
    @given(steps)
    def collect(sequence: list[Place | Expire | Close]) -> None:
        drawn.append(sequence)

    collect()
    return drawn


# For group commits: runs of one-line orders of one item, so that batches of several form.
one_line_places = st.builds(
    Place,
    resident=st.integers(0, RESIDENTS - 1),
    lines=st.tuples(st.tuples(st.sampled_from([0, 0, 0, 1]), st.integers(1, 3))),
    key=st.integers(0, len(KEYS) - 1),
    point=mostly,
    accept=mostly,
)
batch_steps = st.lists(
    st.one_of(*[one_line_places] * 10, places, st.builds(Expire, st.integers(0, 5))),
    min_size=6,
    max_size=16,
)


def batch_sequences() -> list[list[Place | Expire | Close]]:
    """Drawn as `generated_sequences`, mostly one-line orders of the campaign's items."""
    drawn: list[list[Place | Expire | Close]] = []

    @settings(
        max_examples=12, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(batch_steps)
    def collect(sequence: list[Place | Expire | Close]) -> None:
        drawn.append(sequence)

    collect()
    return drawn


@dataclass
class World:
    """One campaign of two items (an ambient one, limit 2 of 3; a chilled one excluded from
    the no-reason return, limit 3 of 2), another campaign's item, three residents (the first
    living at the point), run through one checkout path. `soon`: the cut-off comes before the
    payment window ends (payment is due at the cut-off)."""

    one_statement: bool
    campaign: dict[str, Any]
    items: list[int]
    people: list[Resident]
    point: int
    placed: list[int]
    grouped: bool = False  # group commit (one-line orders through the item's queue)


async def a_world(
    client: httpx.AsyncClient,
    session: AsyncSession,
    one_statement: bool,
    tag: str,
    *,
    soon: bool,
    grouped: bool = False,
) -> World:
    shop = await a_shop(client, session, name=f"店{tag}")
    plain = await listed_sku(client, shop, code=f"A{tag}")
    fresh = await listed_sku(client, shop, code=f"F{tag}", fresh=True)
    other = await listed_sku(client, shop, code=f"O{tag}")
    cutoff = {"cutoff_at": (clock.now() + timedelta(minutes=10)).isoformat()} if soon else {}
    campaign = await published_campaign(
        client,
        shop,
        item(plain, stock=3, per_resident_limit=2, group_price_fen=990),
        item(fresh, stock=2, per_resident_limit=3, group_price_fen=1350),
        **cutoff,
    )
    elsewhere = await published_campaign(client, shop, item(other, stock=5))
    point = await a_pickup_point(session)
    people = await residents(session, RESIDENTS)
    await live_in(session, people[0].user, point)
    items = [i["id"] for i in campaign["items"]] + [elsewhere["items"][0]["id"]]
    return World(one_statement, campaign, items, people, point, [], grouped)


def answer(world: World, response: httpx.Response) -> Any:
    """What the client sees, with the world's own ids replaced by positions."""
    body = response.json()
    if response.status_code >= 400:
        return response.status_code, body["error"]
    placed = body["order"]
    if placed["id"] not in world.placed:
        world.placed.append(placed["id"])
    return (
        response.status_code,
        world.placed.index(placed["id"]),
        placed["status"],
        placed["total_fen"],
        placed["return_terms_accepted"],
        [
            (
                world.items.index(line["item_id"]),
                line["quantity"],
                line["unit_price_fen"],
                line["amount_fen"],
                line["no_reason_return_excluded"],
            )
            for line in placed["lines"]
        ],
        (body["payment"]["amount_fen"], body["payment"]["status"]),
    )


def placing(
    client: httpx.AsyncClient, world: World, step: Place
) -> Callable[[], Coroutine[Any, Any, httpx.Response]]:
    return functools.partial(
        order,
        client,
        world.people[step.resident],
        world.campaign["id"],
        [(world.items[i], q) for i, q in step.lines],
        key=KEYS[step.key],
        point_id=world.point if step.point else None,
        accept=step.accept,
    )


async def run(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    world: World,
    step: Place | Expire | Close,
) -> Any:
    monkeypatch.setattr(checkout, "ONE_STATEMENT", world.one_statement)
    monkeypatch.setattr(group_commit, "ENABLED", world.grouped)
    if isinstance(step, Place):
        return answer(world, await placing(client, world, step)())
    async with app.state.sessionmaker() as s:
        if isinstance(step, Close):
            await s.execute(
                update(Campaign).where(Campaign.id == world.campaign["id"]).values(status=CLOSED)
            )
            await s.commit()
            return "closed"
        if step.nth >= len(world.placed):
            return "nothing to expire"
        expired = await orders.expire_order(s, world.placed[step.nth], None)
        await s.commit()
        return expired


async def state(app: FastAPI, world: World) -> Any:
    """Stock left, quotas held, orders by status, intents, due jobs by kind."""
    users = [p.user.id for p in world.people]
    async with app.state.sessionmaker() as s:
        quota = sorted(
            (users.index(u), world.items.index(i), q)
            for u, i, q in (
                await s.execute(
                    select(
                        ResidentQuota.user_id, ResidentQuota.item_id, ResidentQuota.quantity
                    ).where(ResidentQuota.user_id.in_(users))
                )
            ).all()
        )
        placed = sorted(
            (
                await s.execute(
                    select(Order.status, Order.total_fen).where(Order.user_id.in_(users))
                )
            ).all()
        )
        intents = sorted(
            (
                await s.execute(
                    select(
                        PaymentIntent.status, PaymentIntent.amount_fen, PaymentIntent.purpose
                    ).where(PaymentIntent.payer_user_id.in_(users))
                )
            ).all()
        )
        ids = [str(i) for i in world.placed]
        jobs = (
            await s.execute(
                select(DueJob.kind, DueJob.status, DueJob.due_at, func.count())
                .where(
                    DueJob.payload["order_id"].as_string().in_(ids)
                    | DueJob.payload["intent_id"]
                    .as_string()
                    .in_(
                        select(func.cast(PaymentIntent.id, DueJob.kind.type)).where(
                            PaymentIntent.reference.in_(ids)
                        )
                    )
                )
                .group_by(DueJob.kind, DueJob.status, DueJob.due_at)
                .order_by(DueJob.kind, DueJob.status, DueJob.due_at)
            )
        ).all()
    stock = [await remaining(app, i) for i in world.items]
    return stock, quota, placed, intents, [tuple(j) for j in jobs]


async def test_random_checkouts_answer_alike_in_one_statement_and_in_steps(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    frozen_clock: FrozenClock,
) -> None:
    """The clock stands still, so both paths' times (due dates, expiry) compare exactly."""
    sequences = generated_sequences()
    assert len(sequences) >= 10
    statuses: set[Any] = set()
    for n, sequence in enumerate(sequences):
        fast = await a_world(client, session, True, f"{n}f", soon=n % 2 == 1)
        steps_ = await a_world(client, session, False, f"{n}s", soon=n % 2 == 1)
        for step in sequence:  # one order at a time, group commit off
            got = await run(app, client, monkeypatch, fast, step)
            expected = await run(app, client, monkeypatch, steps_, step)
            assert got == expected, (sequence, step)
            if isinstance(got, tuple) and got[0] >= 400:
                statuses.add(got[1]["code"])
            elif isinstance(got, tuple):
                statuses.add(got[0])
        assert await state(app, fast) == await state(app, steps_), sequence
    # The sequences reached the answers that matter (else the comparison proves little).
    assert {
        201,
        200,
        "sold_out",
        "limit_exceeded",
        "unknown_item",
        "campaign_not_open",
        "idempotency_key_reused",
        "return_terms_not_accepted",
    } <= statuses, statuses


def in_batches(sequence: list[Place | Expire | Close]) -> list[list[Place | Expire | Close]]:
    """The sequence cut into runs: consecutive one-line orders of the same item form one
    run (placed together by a group commit), every other step a run of its own."""
    runs: list[list[Place | Expire | Close]] = []
    for step in sequence:
        last = runs[-1][-1] if runs else None
        if (
            isinstance(step, Place)
            and len(step.lines) == 1
            and isinstance(last, Place)
            and len(last.lines) == 1
            and last.lines[0][0] == step.lines[0][0]
        ):
            runs[-1].append(step)
        else:
            runs.append([step])
    return runs


async def test_random_checkouts_answer_alike_in_group_commits_and_in_steps(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    frozen_clock: FrozenClock,
) -> None:
    """The same sequences, each run of one-line orders of an item placed together (queued
    behind a held batch, then let go: one statement, or one per resident repeat) against the
    steps one order after the other: the same answers in arrival order, the same state."""
    sequences = generated_sequences() + batch_sequences()
    statuses: set[Any] = set()
    grouped = 0
    for n, sequence in enumerate(sequences):
        batched = await a_world(client, session, True, f"{n}g", soon=n % 2 == 1, grouped=True)
        steps_ = await a_world(client, session, False, f"{n}t", soon=n % 2 == 1)
        for run_ in in_batches(sequence):
            expected = [await run(app, client, monkeypatch, steps_, step) for step in run_]
            first = run_[0]
            if isinstance(first, Place) and len(first.lines) == 1:
                monkeypatch.setattr(checkout, "ONE_STATEMENT", True)
                monkeypatch.setattr(group_commit, "ENABLED", True)
                responses, sizes = await in_one_batch(
                    app,
                    batched.items[first.lines[0][0]],
                    [placing(client, batched, step) for step in run_ if isinstance(step, Place)],
                )
                grouped += max(sizes) > 1
                got = [answer(batched, response) for response in responses]
            else:
                got = [await run(app, client, monkeypatch, batched, step) for step in run_]
            assert got == expected, (sequence, run_)
            for each in got:
                if isinstance(each, tuple):
                    statuses.add(each[1]["code"] if each[0] >= 400 else each[0])
        assert await state(app, batched) == await state(app, steps_), sequence
    assert grouped >= 8  # batches of several orders were compared, not only batches of one
    assert {201, 200, "sold_out", "limit_exceeded", "idempotency_key_reused"} <= statuses, statuses


async def test_a_concurrent_order_under_the_same_key_is_the_answer(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
) -> None:
    """Another request under the same key holds its order, not yet committed, when this one's
    statement runs: the statement waits for it on the key (the quota's row first), finds the
    key taken, gives its quota back and answers with the winner's order (200)."""
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku, stock=5, per_resident_limit=3))
    item_id = campaign["items"][0]["id"]
    point = await a_pickup_point(session)
    (resident,) = await residents(session, 1)
    user = resident.user
    actor = Actor(
        user=UserRef.of(user),
        roles=frozenset({"resident"}),
    )
    key = "same-key-race-01"
    data = OrderIn.model_validate(
        {
            "campaign_id": campaign["id"],
            "lines": [{"item_id": item_id, "quantity": 1}],
            "pickup_point_id": point,
        }
    )
    async with app.state.sessionmaker() as other:
        won = await checkout.place_order(other, actor, data, key)
        assert won.created
        racing = asyncio.create_task(
            order(client, resident, campaign["id"], [(item_id, 1)], key=key, point_id=point)
        )
        await asyncio.sleep(1.0)
        assert not racing.done()  # waiting on the winner's uncommitted rows
        await other.commit()
    response = await racing
    assert response.status_code == 200, response.text
    assert response.json()["order"]["id"] == won.order.id
    assert await count(app, Order) == 1
    assert await count(app, PaymentIntent) == 1
    assert await remaining(app, item_id) == 4
    async with app.state.sessionmaker() as s:
        held = await s.scalar(
            select(ResidentQuota.quantity).where(ResidentQuota.user_id == user.id)
        )
    assert held == 1


async def test_an_order_moves_the_content_generation_in_its_own_statement(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The stock left shows on the public group-buy page: a placed order moves the content
    generation once, inside its one statement (no separate move before the commit); a refused
    one moves nothing."""

    async def generation() -> int:
        value = await session.scalar(text(READ_GENERATION))
        await session.commit()
        return int(value or 0)

    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop)
    campaign = await published_campaign(client, shop, item(sku, stock=1, per_resident_limit=1))
    item_id = campaign["items"][0]["id"]
    point = await a_pickup_point(session)
    first, second = await residents(session, 2)
    before = await generation()
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        placed = await order(client, first, campaign["id"], [(item_id, 1)], point_id=point)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert placed.status_code == 201, placed.text
    assert await generation() == before + 1
    assert not any(s.startswith("INSERT INTO content_generation") for s in statements)
    refused = await order(client, second, campaign["id"], [(item_id, 1)], point_id=point)
    assert refused.json()["error"]["code"] == "sold_out"
    assert await generation() == before + 1
