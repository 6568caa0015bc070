"""Storing a captured document costs a fixed handful of statements whatever its size: its
batches found in one query, the chain heads locked in one statement in chain order and moved
in one, events and their rows inserted in one multi-row INSERT each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.errors import Conflict
from linli.trace import chains, verification
from linli.trace.hashing import GENESIS
from linli.trace.models import TraceChainHead, TraceChainLink
from tests.trace.helpers import CAPTURE, a_batch, a_shop, document, lot_event

Statement = tuple[str, list[Any]]  # (SQL on one line, its parameters)


@contextmanager
def recorded(app: FastAPI) -> Iterator[list[Statement]]:
    statements: list[Statement] = []

    def note(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any) -> None:
        flat = list(parameters) if isinstance(parameters, tuple | list) else [parameters]
        statements.append((" ".join(sql.split()), flat))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def flat(parameters: list[Any]) -> list[Any]:
    """Parameters with arrays (PostgreSQL) and JSON arrays (SQLite) spread out."""
    found: list[Any] = []
    for value in parameters:
        if isinstance(value, str) and value.startswith("["):
            value = json.loads(value)
        found += flat(value) if isinstance(value, list) else [value]
    return found


def touching(statements: list[Statement], verb: str, table: str) -> list[Statement]:
    return [
        (sql, params)
        for sql, params in statements
        if sql.upper().startswith(verb) and f" {table}" in sql.split(" WHERE ")[0]
    ]


def events_naming(lots: list[str], n: int, start: int) -> list[dict[str, Any]]:
    """`n` events naming the lots round robin, the last naming the first two lots at once."""
    found = [
        lot_event(
            lots[i % len(lots)],
            eventTime=f"2024-05-02T{(start + i) // 60:02d}:{(start + i) % 60:02d}:00Z",
        )
        for i in range(n)
    ]
    found[-1]["quantityList"].append(
        {"epcClass": f"urn:epc:class:lgtin:4012345.012345.{lots[1]}", "quantity": 1}
    )
    return found


async def capture(
    app: FastAPI,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    lots: list[str],
    n: int,
    start: int,
) -> list[Statement]:
    with recorded(app) as statements:
        response = await client.post(
            CAPTURE, json=document(*events_naming(lots, n, start)), headers=headers
        )
    assert response.status_code == 202, response.text
    return statements


async def test_a_multi_lot_document_locks_its_heads_once_in_chain_order(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    # Made in this order, the batch ids do not sort as their chain names do (batch:10 < batch:9
    # once ids pass 9), nor as the lots the events name first.
    lots = ["C3", "A1", "B2"]
    batch_chains = sorted(
        [chains.batch_chain((await a_batch(client, shop, lot))["id"]) for lot in lots]
    )
    await capture(app, client, shop.headers, list(reversed(lots)), 6, 0)
    statements = await capture(app, client, shop.headers, list(reversed(lots)), 30, 6)
    (lock,) = touching(statements, "SELECT", "trace_chain_heads")
    assert "ORDER BY trace_chain_heads.chain" in lock[0]
    if app.state.engine.dialect.name == "postgresql":
        assert lock[0].endswith("FOR UPDATE")
    assert [p for p in lock[1] if isinstance(p, str)] == batch_chains
    (move,) = touching(statements, "UPDATE", "trace_chain_heads")
    assert [p for p in flat(move[1]) if p in batch_chains] == batch_chains
    assert touching(statements, "INSERT", "trace_chain_heads") == []
    assert len(touching(statements, "SELECT", "trace_batches")) == 1  # every lot at once
    for table in ("trace_events", "trace_event_epcs", "trace_event_batches", "trace_chain_links"):
        assert len(touching(statements, "INSERT", table)) == 1, table

    await session.rollback()
    heads = {h.chain: h.length for h in await session.scalars(select(TraceChainHead))}
    # Each batch's production event, then 36 events: 12 per lot, the last of each document
    # also on the second lot's chain.
    assert sorted(heads.values()) == [13, 13, 15]
    links = (await session.execute(select(TraceChainLink.chain, TraceChainLink.seq))).all()
    for chain, length in heads.items():
        assert sorted(seq for c, seq in links if c == chain) == list(range(1, length + 1))
    result = await verification.verify_chains(session)
    assert (result.chains, result.links, result.broken) == (3, 41, None)


async def test_missing_heads_are_made_in_one_statement_in_chain_order(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    new = {"batch:900010", "batch:90009", "batch:900011"}
    async with app.state.sessionmaker() as s:
        with recorded(app) as statements:
            heads = await chains._lock_heads(s, shop.organisation.id, new)
        await s.rollback()
    assert heads == dict.fromkeys(new, (0, GENESIS))
    verbs = [sql.split()[0] for sql, _ in statements if not sql.startswith("BEGIN")]
    assert verbs == ["SELECT", "INSERT", "SELECT"]
    (made,) = touching(statements, "INSERT", "trace_chain_heads")
    assert [p for p in made[1] if p in new] == sorted(new)


async def test_the_statements_of_a_capture_do_not_grow_with_its_events(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    lots = ["A1", "B2"]
    for lot in lots:
        await a_batch(client, shop, lot)
    await capture(app, client, shop.headers, lots, 2, 0)  # the heads exist from here on
    small = await capture(app, client, shop.headers, lots, 3, 2)
    large = await capture(app, client, shop.headers, lots, 120, 5)
    assert len(large) == len(small) <= 16


async def test_a_head_moved_by_another_writer_is_a_conflict_not_a_fork(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop, "A1")
    await capture(app, client, shop.headers, ["A1", "A1"], 2, 0)
    chain = chains.batch_chain(batch["id"])
    async with app.state.sessionmaker() as s:
        locked = await chains._lock_heads(s, shop.organisation.id, {chain})
        await s.execute(
            update(TraceChainHead).where(TraceChainHead.chain == chain).values(length=99)
        )
        with pytest.raises(Conflict):
            await chains._move_heads(s, locked, {chain: (locked[chain][0] + 1, "f" * 64)})
        await s.rollback()


async def test_a_document_without_events_is_captured_with_no_statement_for_them(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    with recorded(app) as statements:
        response = await client.post(CAPTURE, json=document(), headers=shop.headers)
    assert response.status_code == 202, response.text
    assert touching(statements, "INSERT", "trace_events") == []
    assert touching(statements, "SELECT", "trace_chain_heads") == []
