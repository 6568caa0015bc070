"""Trace benchmark: EPCIS capture throughput over real HTTP, and hash-chain verification
throughput against raw hashlib over the same bytes.

A `linli serve` process (as in bench/flash_sale.py) on a fresh PostgreSQL database; a merchant
with one GTIN-bearing SKU and `--lots` batches. `--clients` concurrent clients POST
`/epcis/capture` documents of `--per-doc` events until `--events` events are stored; each event
names one lot (round robin), so it is appended to that batch's hash chain.

Then verification (bench/trace_verify.py): links seeded in bulk on new organisation chains top
the captured ones up to `--verify-links` (100,000); on one warm connection,
`trace.verification.verify_chains` (in the database on PostgreSQL) checks every chain in
`--verify-rounds` rounds interleaved with a bare hashlib loop over the same bytes (every stored
event document and link): the ratio of the medians is the figure to watch (what verification
costs beyond the hashing itself). The independent and deep Python walks are timed once each.
`--verify-only` skips the server and capture; `--sqlite` does that on a SQLite file.

    .venv/bin/python bench/trace.py [--events 5000] [--per-doc 50] [--clients 8] [--lots 20]
                                    [--verify-links 100000] [--verify-chains 20]
                                    [--verify-rounds 5] [--verify-only] [--sqlite]
                                    [--json] [--keep-db]

Progress goes to stderr; the result table (or, with --json, one JSON object) to stdout.
Exit status: 0 when every chain verified, 1 when one did not, 2 when the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trace_verify
from flash_sale import (
    DEFAULT_SERVER,
    OWNER_PHONE,
    PASSWORD,
    BenchError,
    Instance,
    _created_id,
    create_database,
    drop_database,
    free_port,
)

GTIN = "4012345123456"  # GTIN-14 04012345123456
CAPTURE = "/epcis/capture"
BATCHES = "/api/v1/trace/batches"


def log(message: str) -> None:
    print(f"[trace] {message}", file=sys.stderr, flush=True)


def seed(instance: Instance, lots: int) -> tuple[str, list[str]]:
    """Schema, a merchant and its owner's capture token, a SKU with a GTIN, `lots` batches."""
    instance.cli("init")
    instance.cli(
        "user", "create", "--phone", OWNER_PHONE, "--name", "溯源店主", "--password", PASSWORD
    )
    region = ["--province", "310000", "--city", "310100", "--district", "310115"]
    merchant = _created_id(
        instance.cli("org", "create", "--kind", "merchant", "--name", "溯源果园", *region)
    )
    instance.cli("user", "grant", "--phone", OWNER_PHONE, "--org", str(merchant), "--role", "owner")
    scopes = ["--scope", "org:read", "--scope", "org:write", "--scope", "trace:capture"]
    printed = instance.cli(
        "token",
        "create",
        "--phone",
        OWNER_PHONE,
        "--org",
        str(merchant),
        "--name",
        "bench",
        *scopes,
    )
    token = printed.strip().splitlines()[-1].strip()
    asyncio.run(_insert_sku(instance.database_url, merchant))
    return token, [_lot(i) for i in range(lots)]


def _lot(index: int) -> str:
    return f"L{index:04d}"


async def _insert_sku(database_url: str, organisation_id: int) -> int:
    """A product and SKU rows for the merchant (the catalogue API wants a verified profile,
    which only the onboarding flow makes; the benchmark is not about the catalogue)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            category = await connection.scalar(text("SELECT min(id) FROM categories"))
            product = await connection.scalar(
                text(
                    "INSERT INTO products (organisation_id, category_id, name, description, unit,"
                    " storage_class, origin, gtin, status, created_at, updated_at) VALUES"
                    " (:org, :cat, '苹果', '', '箱', 'chilled', '山东', :gtin, 'draft',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {"org": organisation_id, "cat": category, "gtin": GTIN},
            )
            sku: int = await connection.scalar(
                text(
                    "INSERT INTO skus (product_id, code, specs, price_fen, stock, created_at)"
                    " VALUES (:product, 'STD', '{}', 5990, 0, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {"product": product},
            )
    finally:
        await engine.dispose()
    return sku


async def make_batches(client: httpx.AsyncClient, database_url: str, lots: list[str]) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        sku_id = await connection.scalar(text("SELECT max(id) FROM skus"))
    await engine.dispose()
    for lot in lots:
        body = {"sku_id": sku_id, "lot": lot, "production_date": "2024-05-01"}
        response = await client.post(BATCHES, json=body)
        if response.status_code != 201:
            raise BenchError(f"batch {lot}: {response.status_code} {response.text[:300]}")


def document(serial: itertools.count[int], per_doc: int, lots: list[str]) -> dict[str, Any]:
    events = []
    for _ in range(per_doc):
        n = next(serial)
        events.append(
            {
                "type": "ObjectEvent",
                "eventTime": f"2024-05-02T08:{(n // 60) % 60:02d}:{n % 60:02d}.000+08:00",
                "eventTimeZoneOffset": "+08:00",
                "eventID": f"urn:uuid:{uuid.uuid4()}",
                "action": "OBSERVE",
                "epcList": [],
                "quantityList": [
                    {
                        "epcClass": f"urn:epc:class:lgtin:4012345.012345.{lots[n % len(lots)]}",
                        "quantity": 20,
                        "uom": "KGM",
                    }
                ],
                "bizStep": "shipping",
                "disposition": "in_transit",
                "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            }
        )
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T08:00:00Z",
        "epcisBody": {"eventList": events},
    }


async def capture_all(
    client: httpx.AsyncClient, *, events: int, per_doc: int, clients: int, lots: list[str]
) -> tuple[int, float]:
    serial = itertools.count()
    documents = [document(serial, per_doc, lots) for _ in range(max(1, events // per_doc))]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for doc in documents:
        queue.put_nowait(doc)

    async def worker() -> int:
        done = 0
        while not queue.empty():
            doc = queue.get_nowait()
            response = await client.post(CAPTURE, json=doc)
            if response.status_code != 202:
                raise BenchError(f"capture: {response.status_code} {response.text[:300]}")
            done += len(doc["epcisBody"]["eventList"])
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker() for _ in range(clients)))
    return sum(counts), time.perf_counter() - started


def report(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:32} {value}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-doc", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument(
        "--verify-links",
        type=int,
        default=100_000,
        help="verify at least this many links: seeded in bulk on new chains beside the captured",
    )
    parser.add_argument("--verify-chains", type=int, default=20, help="chains of the seeded links")
    parser.add_argument("--verify-rounds", type=int, default=5, help="timed rounds (median)")
    parser.add_argument(
        "--verify-only", action="store_true", help="no server and no capture: verification alone"
    )
    parser.add_argument(
        "--sqlite", action="store_true", help="verification alone, on a SQLite file"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


async def drive(instance: Instance, token: str, lots: list[str], args: argparse.Namespace) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.clients)
    async with httpx.AsyncClient(
        base_url=instance.url, headers=headers, timeout=120.0, limits=limits
    ) as client:
        await make_batches(client, instance.database_url, lots)
        log(f"capturing {args.events} events, {args.per_doc} per document, {args.clients} clients")
        return await capture_all(
            client, events=args.events, per_doc=args.per_doc, clients=args.clients, lots=lots
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.verify_only or args.sqlite:
        return verify_only(args)
    server = make_url(args.server)
    name = f"linli_bench_trace_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    log(f"fresh database {name}")
    with tempfile.TemporaryDirectory(prefix="linli-trace-bench-") as workdir:
        instance = Instance(
            url.render_as_string(hide_password=False), Path(workdir), free_port(), "unused"
        )
        try:
            token, lots = seed(instance, args.lots)
            instance.start()
            captured, seconds = asyncio.run(drive(instance, token, lots, args))
            instance.stop()
            verified, cli_ok = verify(instance, args, captured)
        except BenchError as error:
            log(f"failed: {error}")
            return 2
        finally:
            instance.stop()
            if not args.keep_db:
                drop_database(server, name)
    result = {
        "database": "postgresql",
        "events_captured": captured,
        "events_per_document": args.per_doc,
        "clients": args.clients,
        "lots": len(lots),
        "capture_seconds": round(seconds, 3),
        "capture_events_per_s": round(captured / seconds, 1),
        **verified.as_dict(),
        "chains_ok": verified.ok and cli_ok,
    }
    report(result, args.json)
    return 0 if result["chains_ok"] else 1


def verify(
    instance: Instance, args: argparse.Namespace, captured: int
) -> tuple[trace_verify.VerifyFigures, bool]:
    """Top the captured links up to --verify-links with seeded ones, time verification against
    bare hashlib, and have `linli trace verify` check every chain too."""
    extra = max(0, args.verify_links - captured)
    if extra:
        asyncio.run(
            trace_verify.seed_chains(instance.database_url, links=extra, chains=args.verify_chains)
        )
    log("verifying the chains in-process, then hashing the same bytes with bare hashlib")
    figures = asyncio.run(trace_verify.measure(instance.database_url, repeat=args.verify_rounds))
    return figures, "OK:" in instance.cli("trace", "verify")


def verify_only(args: argparse.Namespace) -> int:
    """Verification alone: a fresh database (PostgreSQL, or a SQLite file with --sqlite),
    migrated, --verify-links seeded links, the timed rounds."""
    with tempfile.TemporaryDirectory(prefix="linli-trace-bench-") as workdir:
        if args.sqlite:
            database_url, drop = f"sqlite+aiosqlite:///{workdir}/verify.sqlite3", None
        else:
            server = make_url(args.server)
            name = f"linli_bench_verify_{uuid.uuid4().hex[:8]}"
            url = create_database(server, name)
            database_url = url.render_as_string(hide_password=False)
            drop = None if args.keep_db else (server, name)
        log(f"fresh database {database_url.rsplit('/', 1)[-1]}")
        try:
            asyncio.run(trace_verify.migrate(database_url))
            asyncio.run(
                trace_verify.seed_chains(
                    database_url, links=args.verify_links, chains=args.verify_chains
                )
            )
            log(f"timing {args.verify_rounds} rounds of verification and of bare hashlib")
            figures = asyncio.run(trace_verify.measure(database_url, repeat=args.verify_rounds))
        finally:
            if drop is not None:
                drop_database(*drop)
    result = {
        "database": "sqlite" if args.sqlite else "postgresql",
        **figures.as_dict(),
        "chains_ok": figures.ok,
    }
    report(result, args.json)
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
