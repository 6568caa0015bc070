"""Chain verification inside PostgreSQL: the checks of `verification` (1-5 and the head) as
two statements that hash every link with `sha256()` and return only what is broken.

Each link is joined with its event and with the link before it (`seq - 1`, through the
`(chain, seq)` unique key), which is what the window over the chain (`lag()`) would give when
no link is missing and tells a missing one apart just as well; a hash join needs no sort, and
PostgreSQL can share the scan between parallel workers, which it never does for a window (the
window forms measured slower, bench/README.md). Hashes are compared as hex text, so a
stored value that is not hex is reported as a mismatch instead of failing the statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.trace.hashing import GENESIS

# The problems, in the order the checks run (the first that fails is reported).
MISSING_BEFORE, EVENT_MISSING, DOCUMENT_CHANGED, DOES_NOT_FOLLOW, HASH_MISMATCH = 1, 2, 3, 4, 5
COLUMNS_DIFFER, NEWEST_MISSING = 6, 7
PROBLEMS = {
    MISSING_BEFORE: "a link is missing before this one",
    EVENT_MISSING: "the event of this link is missing",
    DOCUMENT_CHANGED: "the event's document was changed",
    DOES_NOT_FOLLOW: "the link does not follow the previous one",
    HASH_MISMATCH: "the link's hash does not match its event",
    COLUMNS_DIFFER: "the event's columns differ from its document",
    NEWEST_MISSING: "the newest link is missing",
}


@dataclass(frozen=True)
class Scope:
    """Which chains: one (`batch:{id}`), an organisation's, or (both None) all of them."""

    chain: str | None = None
    organisation_id: int | None = None

    def condition(self) -> str:
        parts = ["TRUE"]
        if self.chain is not None:
            parts.append("h.chain = :chain")
        if self.organisation_id is not None:
            parts.append("h.organisation_id = :organisation_id")
        return " AND ".join(parts)

    def params(self) -> dict[str, Any]:
        return {"chain": self.chain, "organisation_id": self.organisation_id, "genesis": GENESIS}


_LINKS = """
SELECT chain,
  CASE WHEN problem = {MISSING_BEFORE} THEN 1 + coalesce((
    SELECT max(b.seq) FROM trace_chain_links b
    WHERE b.chain = checked.chain AND b.seq < checked.seq), 0) ELSE seq END,
  event_id, problem
FROM (
  SELECT l.chain, l.seq, e.event_id, CASE
    WHEN l.seq <> 1 AND p.seq IS NULL THEN {MISSING_BEFORE}
    WHEN e.id IS NULL THEN {EVENT_MISSING}
    WHEN encode(sha256(convert_to(e.document, 'UTF8')), 'hex') <> e.content_sha256
      THEN {DOCUMENT_CHANGED}
    WHEN l.prev_hash <> coalesce(p.chain_hash, :genesis) THEN {DOES_NOT_FOLLOW}
    WHEN encode(sha256(convert_to(
        l.prev_hash || '|' || e.hash_id || '|' || e.content_sha256, 'UTF8')), 'hex')
      <> l.chain_hash THEN {HASH_MISMATCH}
  END AS problem
  FROM trace_chain_links l
  LEFT JOIN trace_chain_links p ON p.chain = l.chain AND p.seq = l.seq - 1
  LEFT JOIN trace_events e ON e.id = l.event_pk
  WHERE l.chain IN (SELECT h.chain FROM trace_chain_heads h WHERE {scope})
) checked
WHERE problem IS NOT NULL
"""

# First row: how many chains and (if none is broken) links; then every head that is not
# where its chain's newest link is.
_HEADS = """
SELECT NULL AS chain, count(*) AS n, coalesce(sum(h.length), 0) AS links
FROM trace_chain_heads h WHERE {scope}
UNION ALL
SELECT h.chain, coalesce(newest.seq, 0) + 1, 0
FROM trace_chain_heads h
LEFT JOIN LATERAL (
  SELECT l.seq, l.chain_hash FROM trace_chain_links l
  WHERE l.chain = h.chain ORDER BY l.seq DESC LIMIT 1
) newest ON TRUE
WHERE {scope}
  AND (h.length <> coalesce(newest.seq, 0) OR h.head_hash <> coalesce(newest.chain_hash, :genesis))
"""

_COUNT = """
SELECT count(*) FROM trace_chain_links l
WHERE l.chain IN (SELECT h.chain FROM trace_chain_heads h WHERE {scope})
"""


_CODES = {
    "MISSING_BEFORE": MISSING_BEFORE,
    "EVENT_MISSING": EVENT_MISSING,
    "DOCUMENT_CHANGED": DOCUMENT_CHANGED,
    "DOES_NOT_FOLLOW": DOES_NOT_FOLLOW,
    "HASH_MISMATCH": HASH_MISMATCH,
}


def _settings(scope: Scope) -> dict[str, str]:
    """Planner settings for the hashing statement (local to the transaction, restored after).

    JIT compiling it costs more than it saves (measured: a ratio to bare hashlib of 0.19 with
    JIT, 0.29 without). The planner counts sha256() as cheap as an addition, so over the whole
    database it is told that parallel workers pay (with a core to spare: 378 ms against
    433 ms with its own choice of one worker and 570 ms with none, 100,000 links); a batch's
    or an organisation's chains are left to its own choice, since starting workers would cost
    more than hashing a short chain.
    """
    settings = {"jit": "off"}
    if scope.chain is None and scope.organisation_id is None:
        settings.update(
            parallel_setup_cost="0", parallel_tuple_cost="0", min_parallel_table_scan_size="0"
        )
    return settings


async def _set(session: AsyncSession, settings: dict[str, str]) -> dict[str, str]:
    """Set `settings` for the rest of the transaction; what they were before."""
    names = list(settings)
    read = ", ".join(f"current_setting(:n{i})" for i in range(len(names)))
    write = ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(names)))
    params = {f"n{i}": name for i, name in enumerate(names)}
    before = (await session.execute(text(f"SELECT {read}"), params)).one()
    params.update({f"v{i}": settings[name] for i, name in enumerate(names)})
    await session.execute(text(f"SELECT {write}"), params)
    return {name: str(value) for name, value in zip(names, before, strict=True)}


def _statement(template: str, scope: Scope) -> Any:
    return text(template.format(scope=scope.condition(), **_CODES))


async def broken_links(
    session: AsyncSession, scope: Scope
) -> tuple[int, int, list[tuple[str, int, str | None, int]]]:
    """(chains, links, broken links as (chain, seq, event id, problem)) for `scope`."""
    params = scope.params()
    before = await _set(session, _settings(scope))
    found = [
        (str(chain), int(seq), event_id, int(problem))
        for chain, seq, event_id, problem in await session.execute(
            _statement(_LINKS, scope), params
        )
    ]
    await _set(session, before)
    heads = (await session.execute(_statement(_HEADS, scope), params)).all()
    ((_, chains, links),) = [row for row in heads if row[0] is None]
    found += [(str(c), int(seq), None, NEWEST_MISSING) for c, seq, _ in heads if c is not None]
    if found:  # the heads' lengths add up to the links only when every chain is whole
        links = int(await session.scalar(_statement(_COUNT, scope), params) or 0)
    return int(chains), int(links), found
