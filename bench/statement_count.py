"""The Linli app served as `linli serve` serves it, with every SQL statement counted.

For the flash-sale benchmark's `--profile` (pg_stat_statements needs
`shared_preload_libraries`, which the shared PostgreSQL server here does not have, and it is
not restarted for a benchmark). In each worker process, SQLAlchemy events count the statements
sent (by their text, whitespace folded), the pool's checkouts, the pre-pings among them
(`linli.db.ping_connection`: only connections idle longer than LINLI_DB_PRE_PING_IDLE_SECONDS
are pinged), and the transactions begun, committed and rolled back; a thread writes
the totals to `$BENCH_STATEMENT_COUNTS/<pid>.json` every 0.25 s, so the benchmark can take the
difference over a rung. Bench only, never part of the product:

    BENCH_STATEMENT_COUNTS=/tmp/counts python bench/statement_count.py --port 8002 --workers 2
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from floor_app import serve_like_linli, server_arguments
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

WRITE_EVERY = 0.25
STATEMENT_CHARS = 160


class Counts:
    def __init__(self) -> None:
        self.statements: dict[str, int] = {}
        self.checkouts = self.pings = self.begin = self.commit = self.rollback = 0
        self.lock = threading.Lock()

    def statement(self, sql: str) -> None:
        key = " ".join(sql.split())[:STATEMENT_CHARS]
        with self.lock:
            self.statements[key] = self.statements.get(key, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "statements": dict(self.statements),
                "checkouts": self.checkouts,
                "pings": self.pings,
                "begin": self.begin,
                "commit": self.commit,
                "rollback": self.rollback,
            }


COUNTS = Counts()


def install() -> None:
    """Listen on every engine and pool of this process; count the pre-pings."""
    import linli.db

    ping = linli.db.ping_connection

    def counted_ping(dialect: Any, dbapi_connection: Any) -> None:
        COUNTS.pings += 1
        ping(dialect, dbapi_connection)

    linli.db.ping_connection = counted_ping

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        COUNTS.statement(statement)

    @event.listens_for(Pool, "checkout")
    def _checkout(*_args: Any) -> None:
        COUNTS.checkouts += 1

    @event.listens_for(Engine, "begin")
    def _begin(_conn: Any) -> None:
        COUNTS.begin += 1

    @event.listens_for(Engine, "commit")
    def _commit(_conn: Any) -> None:
        COUNTS.commit += 1

    @event.listens_for(Engine, "rollback")
    def _rollback(_conn: Any) -> None:
        COUNTS.rollback += 1


def _writer(directory: Path) -> None:
    target = directory / f"{os.getpid()}.json"
    scratch = directory / f"{os.getpid()}.tmp"
    while True:
        scratch.write_text(json.dumps(COUNTS.snapshot()))
        scratch.replace(target)
        threading.Event().wait(WRITE_EVERY)


def create_app() -> Any:
    from linli.app import create_app as create_linli_app

    install()
    directory = Path(os.environ["BENCH_STATEMENT_COUNTS"])
    threading.Thread(target=_writer, args=(directory,), name="counts", daemon=True).start()
    return create_linli_app()


def main() -> None:
    args = server_arguments("The Linli app with its SQL statements counted")
    serve_like_linli("statement_count:create_app", create_app, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
