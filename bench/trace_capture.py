"""EPCIS capture throughput alone, on PostgreSQL or SQLite: the capture half of
bench/trace.py (same server, seed, documents and clients) without chain verification, so that
the SQLite figure can be taken too.

    .venv/bin/python bench/trace_capture.py [--database sqlite|postgresql] [--events 5000]
                                            [--per-doc 50] [--clients 8] [--lots 20] [--workers 1]
                                            [--json]

Progress goes to stderr; the result (or, with --json, one JSON object) to stdout.
Exit status: 0 when every event was captured, 2 when the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace import drive, log, report, seed

from flash_sale import (
    DEFAULT_SERVER,
    BenchError,
    Instance,
    create_database,
    drop_database,
    free_port,
)


class AnyDatabaseInstance(Instance):
    """flash_sale's Instance insists on PostgreSQL once the server answers; here SQLite is
    what we ask for."""

    def start(self) -> None:
        try:
            super().start()
        except BenchError as error:
            if "served on sqlite" not in str(error):
                raise


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="sqlite")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--per-doc", type=int, default=50)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server URL")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, workdir: Path) -> tuple[int, float, float]:
    """(events captured, seconds, server CPU seconds during the capture)"""
    server = make_url(args.server)
    name = f"linli_bench_capture_{uuid.uuid4().hex[:8]}"
    if args.database == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        url = create_database(server, name).render_as_string(hide_password=False)
    instance = AnyDatabaseInstance(url, workdir, free_port(), "unused", workers=args.workers)
    try:
        token, lots = seed(instance, args.lots)
        instance.start()
        cpu = instance.cpu_seconds()
        captured, seconds = asyncio.run(drive(instance, token, lots, args))
        return captured, seconds, instance.cpu_seconds() - cpu
    finally:
        instance.stop()
        if args.database == "postgresql":
            drop_database(server, name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log(f"capture only, on {args.database}")
    with tempfile.TemporaryDirectory(prefix="linli-capture-bench-") as workdir:
        try:
            captured, seconds, cpu = run(args, Path(workdir))
        except BenchError as error:
            log(f"failed: {error}")
            return 2
    result = {
        "database": args.database,
        "events_captured": captured,
        "events_per_document": args.per_doc,
        "clients": args.clients,
        "lots": args.lots,
        "workers": args.workers,
        "capture_seconds": round(seconds, 3),
        "capture_events_per_s": round(captured / seconds, 1),
        # the server's CPU per event: what a quiet machine's rate would follow
        "server_cpu_us_per_event": round(cpu / captured * 1e6, 1),
    }
    report(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
