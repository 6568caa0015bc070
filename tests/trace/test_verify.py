"""Tampering with stored events (changed or deleted in SQL) is found by `linli trace verify`
and by GET /api/v1/trace/verify, which name the first broken link."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from linli.cli import app as cli
from linli.config import Settings
from linli.trace import generated
from linli.trace.models import TraceEvent
from tests.trace.helpers import CAPTURE, a_batch, a_shop, document, lot_event

VERIFY = "/api/v1/trace/verify"


async def run_verify(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setenv("LINLI_DATABASE_URL", settings.resolved_database_url)
    # The CLI runs its own event loop: give it a thread of its own.
    return await asyncio.to_thread(
        CliRunner().invoke, cli, ["trace", "verify", *args], prog_name="linli"
    )


async def a_chain(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, dict[str, Any]]:
    """A batch with commissioning + three captured events (links 1..4)."""
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop)
    events = [lot_event(eventTime=f"2024-05-0{d}T08:00:00+08:00") for d in (2, 3, 4)]
    assert (
        await client.post(CAPTURE, json=document(*events), headers=shop.headers)
    ).status_code == 202
    return shop, batch


async def event_pk(session: AsyncSession, seq: int, batch_id: int) -> int:
    pk = await session.scalar(
        text("SELECT event_pk FROM trace_chain_links WHERE chain = :chain AND seq = :seq"),
        {"chain": f"batch:{batch_id}", "seq": seq},
    )
    assert isinstance(pk, int)
    return pk


async def sql(session: AsyncSession, statement: str, **params: Any) -> None:
    await session.execute(text(statement), params)
    await session.commit()


async def test_an_intact_chain_verifies(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop, batch = await a_chain(client, session)
    result = await run_verify(settings, monkeypatch)
    assert result.exit_code == 0, result.output
    assert "OK: 1 chains, 4 links intact." in result.output
    by_code = await run_verify(settings, monkeypatch, "--batch", batch["code"])
    assert by_code.exit_code == 0
    for walk in ("--independent", "--deep"):
        python = await run_verify(settings, monkeypatch, walk)
        assert "OK: 1 chains, 4 links intact." in python.output, walk
    api = await client.get(VERIFY, params={"batch_id": batch["id"]}, headers=shop.headers)
    assert api.json() == {"ok": True, "chains": 1, "links": 4, "broken": None}
    unknown = await run_verify(settings, monkeypatch, "--batch", "NOPE")
    assert unknown.exit_code == 2


async def test_an_event_changed_in_sql_is_reported(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop, batch = await a_chain(client, session)
    pk = await event_pk(session, 3, batch["id"])
    await sql(
        session,
        "UPDATE trace_events SET document = replace(document, 'KGM', 'LBR') WHERE id = :pk",
        pk=pk,
    )
    row = await session.get(TraceEvent, pk)
    assert row is not None
    assert "LBR" in row.document

    result = await run_verify(settings, monkeypatch)
    assert result.exit_code == 1
    assert f"BROKEN batch:{batch['id']} link 3" in result.output
    assert "the event's document was changed" in result.output
    api = await client.get(VERIFY, headers=shop.headers)
    assert api.json()["ok"] is False
    assert api.json()["broken"] == {
        "chain": f"batch:{batch['id']}",
        "seq": 3,
        "event_id": row.event_id,
        "problem": "the event's document was changed",
    }


async def test_a_column_changed_in_sql_is_reported_by_deep_verification(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The derived columns are not in the link hash: the chain check leaves them to deep
    verification, which the CLI, the API and the trace page offer (docs/decisions.md)."""
    shop, batch = await a_chain(client, session)
    pk = await event_pk(session, 2, batch["id"])
    await sql(
        session,
        "UPDATE trace_events SET disposition = 'https://ref.gs1.org/cbv/Disp-"
        "sellable_accessible' WHERE id = :pk",
        pk=pk,
    )
    chain_only = await client.get(VERIFY, headers=shop.headers)
    assert chain_only.json()["ok"] is True
    api = await client.get(VERIFY, params={"deep": "true"}, headers=shop.headers)
    assert api.json()["broken"]["seq"] == 2
    assert api.json()["broken"]["problem"] == "the event's columns differ from its document"
    result = await run_verify(settings, monkeypatch, "--deep")
    assert result.exit_code == 1
    assert f"BROKEN batch:{batch['id']} link 2" in result.output
    assert "the event's columns differ from its document" in result.output
    page = await generated.verify_batch_chain(session, batch["id"])
    assert (page.ok, page.problem) == (
        False,
        "link 2: the event's columns differ from its document",
    )


async def test_a_deleted_event_is_reported(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop, batch = await a_chain(client, session)
    pk = await event_pk(session, 2, batch["id"])
    # Its chain link goes with it (ON DELETE CASCADE), as a careful forger would do.
    await sql(session, "DELETE FROM trace_event_epcs WHERE event_pk = :pk", pk=pk)
    await sql(session, "DELETE FROM trace_event_batches WHERE event_pk = :pk", pk=pk)
    await sql(session, "DELETE FROM trace_chain_links WHERE event_pk = :pk", pk=pk)
    await sql(session, "DELETE FROM trace_events WHERE id = :pk", pk=pk)

    result = await run_verify(settings, monkeypatch, "--batch", batch["code"])
    assert result.exit_code == 1
    assert f"BROKEN batch:{batch['id']} link 2" in result.output
    api = await client.get(VERIFY, params={"batch_id": batch["id"]}, headers=shop.headers)
    assert api.json()["broken"]["seq"] == 2
    assert api.json()["broken"]["problem"] == "a link is missing before this one"


async def test_deleting_the_newest_event_is_reported(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _shop, batch = await a_chain(client, session)
    pk = await event_pk(session, 4, batch["id"])
    for table, column in (
        ("trace_event_epcs", "event_pk"),
        ("trace_event_batches", "event_pk"),
        ("trace_chain_links", "event_pk"),
        ("trace_events", "id"),
    ):
        await sql(session, f"DELETE FROM {table} WHERE {column} = :pk", pk=pk)  # noqa: S608
    result = await run_verify(settings, monkeypatch)
    assert result.exit_code == 1
    assert f"BROKEN batch:{batch['id']} link 4" in result.output
    assert "the newest link is missing" in result.output


async def test_the_orm_refuses_to_change_events(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await a_chain(client, session)
    row = await session.get(TraceEvent, 1)
    assert row is not None
    row.biz_step = "changed"
    with pytest.raises(RuntimeError, match="append-only"):
        await session.flush()
