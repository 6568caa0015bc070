"""The three walks of `verification` find the same broken links: in the database (PostgreSQL's
default), in Python (`independent=True`, SQLite's default) and deep (`deep=True`, which also
finds edited derived columns). Each kind of tampering is checked against the broken links it
must produce, then random sequences of tamperings against each other."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace import chains, verification
from linli.trace.hashing import sha256_hex
from linli.trace.verification_sql import (
    COLUMNS_DIFFER,
    DOCUMENT_CHANGED,
    DOES_NOT_FOLLOW,
    HASH_MISMATCH,
    MISSING_BEFORE,
    NEWEST_MISSING,
    PROBLEMS,
)
from tests.factories import make_org
from tests.trace.helpers import event

LINKS = 6


async def org_chains(session: AsyncSession, count: int = 2, links: int = LINKS) -> list[str]:
    """`count` organisations' chains (`org:{id}`) of `links` generated events each."""
    names = []
    for n in range(count):
        organisation = await make_org(session, "merchant", name=f"链{n}")
        for i in range(links):
            moment = f"2024-05-02T08:{n:02d}:{i:02d}.000+08:00"
            await chains.record_generated_event(session, organisation.id, event(eventTime=moment))
        names.append(chains.org_chain(organisation.id))
    await session.commit()
    return names


async def sql(session: AsyncSession, statement: str, **params: Any) -> None:
    await session.execute(text(statement), params)
    await session.commit()


async def event_pk(session: AsyncSession, chain: str, seq: int) -> int:
    pk = await session.scalar(
        text("SELECT event_pk FROM trace_chain_links WHERE chain = :chain AND seq = :seq"),
        {"chain": chain, "seq": seq},
    )
    assert isinstance(pk, int)
    return pk


async def edit_document(session: AsyncSession, chain: str, seq: int) -> None:
    pk = await event_pk(session, chain, seq)
    await sql(
        session,
        "UPDATE trace_events SET document = replace(document, 'OBSERVE', 'DELETE') WHERE id = :pk",
        pk=pk,
    )


async def edit_document_and_its_hash(session: AsyncSession, chain: str, seq: int) -> None:
    """A forger who also recomputes the document's SHA-256 (but not the chain)."""
    pk = await event_pk(session, chain, seq)
    document = await session.scalar(
        text("SELECT document FROM trace_events WHERE id = :pk"), {"pk": pk}
    )
    assert isinstance(document, str)
    changed = document.replace("OBSERVE", "DELETE")
    await sql(
        session,
        "UPDATE trace_events SET document = :document, content_sha256 = :sha WHERE id = :pk",
        pk=pk,
        document=changed,
        sha=sha256_hex(changed),
    )


async def set_link(session: AsyncSession, chain: str, seq: int, column: str, value: Any) -> None:
    await sql(
        session,
        f"UPDATE trace_chain_links SET {column} = :value WHERE chain = :chain AND seq = :seq",  # noqa: S608
        value=value,
        chain=chain,
        seq=seq,
    )


async def delete_link(session: AsyncSession, chain: str, seq: int) -> None:
    await sql(
        session, "DELETE FROM trace_chain_links WHERE chain = :c AND seq = :s", c=chain, s=seq
    )


async def delete_event(session: AsyncSession, chain: str, seq: int) -> None:
    pk = await event_pk(session, chain, seq)
    for table, column in (
        ("trace_event_epcs", "event_pk"),
        ("trace_event_batches", "event_pk"),
        ("trace_chain_links", "event_pk"),
        ("trace_events", "id"),
    ):
        await sql(session, f"DELETE FROM {table} WHERE {column} = :pk", pk=pk)  # noqa: S608


async def swap_links(session: AsyncSession, chain: str, seq: int) -> None:
    """Links `seq` and `seq + 1` trade places (through a free position: (chain, seq) is
    unique)."""
    await set_link(session, chain, seq, "seq", 1_000_000)
    await set_link(session, chain, seq + 1, "seq", seq)
    await set_link(session, chain, 1_000_000, "seq", seq + 1)


async def swap_events(session: AsyncSession, chain: str, seq: int) -> None:
    first, second = await event_pk(session, chain, seq), await event_pk(session, chain, seq + 1)
    await set_link(session, chain, seq, "event_pk", second)
    await set_link(session, chain, seq + 1, "event_pk", first)


async def edit_column(session: AsyncSession, chain: str, seq: int) -> None:
    pk = await event_pk(session, chain, seq)
    await sql(
        session,
        "UPDATE trace_events SET disposition = 'https://ref.gs1.org/cbv/Disp-sellable_accessible'"
        " WHERE id = :pk",
        pk=pk,
    )


async def edit_head(session: AsyncSession, chain: str, _seq: int) -> None:
    await sql(
        session,
        "UPDATE trace_chain_heads SET head_hash = :hash WHERE chain = :chain",
        hash="e" * 64,
        chain=chain,
    )


Tamper = Callable[[AsyncSession, str, int], Awaitable[None]]


async def walks(session: AsyncSession, **scope: Any) -> tuple[Any, Any, Any]:
    """The default walk (in the database on PostgreSQL), the independent one and the deep
    one, with the broken links as comparable tuples."""
    found = []
    for options in ({}, {"independent": True}, {"deep": True}):
        result = await verification.verify_chains(session, **scope, **options)
        found.append(
            (
                result.chains,
                result.links,
                [(b.chain, b.seq, b.event_id, b.problem) for b in result.broken_links],
            )
        )
    return found[0], found[1], found[2]


CASES: list[tuple[Tamper, int, list[tuple[int, int]], list[tuple[int, int]]]] = [
    # tampering, at link, then broken (seq, problem) for the chain check and for deep
    (edit_document, 3, [(3, DOCUMENT_CHANGED)], [(3, DOCUMENT_CHANGED)]),
    (edit_document_and_its_hash, 3, [(3, HASH_MISMATCH)], [(3, HASH_MISMATCH)]),
    (
        lambda s, c, n: set_link(s, c, n, "chain_hash", "f" * 64),
        3,
        [(3, HASH_MISMATCH), (4, DOES_NOT_FOLLOW)],
        [(3, HASH_MISMATCH), (4, DOES_NOT_FOLLOW)],
    ),
    (
        lambda s, c, n: set_link(s, c, n, "chain_hash", "not a hash"),  # not hex either
        3,
        [(3, HASH_MISMATCH), (4, DOES_NOT_FOLLOW)],
        [(3, HASH_MISMATCH), (4, DOES_NOT_FOLLOW)],
    ),
    (
        lambda s, c, n: set_link(s, c, n, "prev_hash", "0" * 64),
        2,
        [(2, DOES_NOT_FOLLOW)],
        [(2, DOES_NOT_FOLLOW)],
    ),
    (delete_link, 3, [(3, MISSING_BEFORE)], [(3, MISSING_BEFORE)]),
    (delete_event, 1, [(1, MISSING_BEFORE)], [(1, MISSING_BEFORE)]),
    (delete_event, LINKS, [(LINKS, NEWEST_MISSING)], [(LINKS, NEWEST_MISSING)]),
    (
        swap_links,
        3,
        [(3, DOES_NOT_FOLLOW), (4, DOES_NOT_FOLLOW), (5, DOES_NOT_FOLLOW)],
        [(3, DOES_NOT_FOLLOW), (4, DOES_NOT_FOLLOW), (5, DOES_NOT_FOLLOW)],
    ),
    (
        swap_events,
        2,
        [(2, HASH_MISMATCH), (3, HASH_MISMATCH)],
        [(2, HASH_MISMATCH), (3, HASH_MISMATCH)],
    ),
    (edit_head, 0, [(LINKS + 1, NEWEST_MISSING)], [(LINKS + 1, NEWEST_MISSING)]),
    (edit_column, 2, [], [(2, COLUMNS_DIFFER)]),
]


@pytest.mark.parametrize(("tamper", "at", "chain_check", "deep"), CASES)
async def test_each_tampering_is_found_alike_by_every_walk(
    session: AsyncSession,
    tamper: Tamper,
    at: int,
    chain_check: list[tuple[int, int]],
    deep: list[tuple[int, int]],
) -> None:
    first, second = await org_chains(session)
    intact = await walks(session)
    assert intact[0] == intact[1] == intact[2] == (2, 2 * LINKS, [])

    await tamper(session, first, at)
    default, independent, deep_found = await walks(session)
    assert default == independent
    assert [(seq, p) for _c, seq, _e, p in map(_coded, default[2])] == chain_check
    assert [(seq, p) for _c, seq, _e, p in map(_coded, deep_found[2])] == deep
    assert {b[0] for b in default[2] + deep_found[2]} <= {first}
    # The other chain alone is whole, by every walk.
    organisation_id = int(second.removeprefix("org:"))
    for walk in await walks(session, organisation_id=organisation_id):
        assert walk == (1, LINKS, [])


def _coded(broken: tuple[str, int, str | None, str]) -> tuple[str, int, str | None, int]:
    code = {message: number for number, message in PROBLEMS.items()}
    chain, seq, event_id, problem = broken
    return chain, seq, event_id, code[problem]


RANDOM_TAMPERINGS: list[Tamper] = [
    edit_document,
    edit_document_and_its_hash,
    lambda s, c, n: set_link(s, c, n, "chain_hash", "f" * 64),
    lambda s, c, n: set_link(s, c, n, "prev_hash", "0" * 64),
    delete_link,
    delete_event,
    swap_links,
    swap_events,
    edit_column,
    edit_head,
]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_tamperings_are_found_alike_by_every_walk(
    session: AsyncSession, seed: int
) -> None:
    names = await org_chains(session, count=3, links=8)
    rng = random.Random(seed)
    for _ in range(12):
        chain = rng.choice(names)
        seqs = [
            int(s)
            for s in await session.scalars(
                text("SELECT seq FROM trace_chain_links WHERE chain = :c ORDER BY seq"),
                {"c": chain},
            )
        ]
        tamper = rng.choice(RANDOM_TAMPERINGS)
        pairs = [s for s in seqs if s + 1 in seqs]
        if tamper in (swap_links, swap_events):
            if not pairs:
                continue
            at = rng.choice(pairs)
        elif not seqs:
            continue
        else:
            at = rng.choice(seqs)
        await tamper(session, chain, at)
        default, independent, deep = await walks(session)
        assert default == independent
        # Deep finds the same, and edited columns where nothing else is wrong.
        columns = PROBLEMS[COLUMNS_DIFFER]
        assert [b for b in deep[2] if b[3] != columns] == default[2]
        assert deep[:2] == default[:2]


async def test_the_planner_settings_are_as_before_after_verifying(session: AsyncSession) -> None:
    """The in-database walk changes planner settings for its statement only."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("planner settings are PostgreSQL's")
    await org_chains(session, count=1)
    names = ("jit", "parallel_setup_cost", "min_parallel_table_scan_size")
    show = "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    before = (await session.execute(text(show))).one()
    assert (await verification.verify_chains(session)).links == LINKS
    assert (await session.execute(text(show))).one() == before
