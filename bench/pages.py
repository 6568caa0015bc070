"""Public pages under load on the demo city: requests/s, p50/p95/p99, server CPU and bytes sent.

Seeds the demo city (`linli demo --no-serve`) into a fresh database, serves it with
`linli serve --workers N`, and sends each page `--requests` times from `--clients` keep-alive
connections of the lean client (bench/lean_http.py), as phones with a warm browser do: with
`Accept-Encoding: gzip, br` and the CSRF cookie a first visit got (so public pages answer with
their ETag). The baseline runs in the same process against the same server: `/healthz` (one
`SELECT 1`, no page), the floor of a request through the middleware stack. Also measured: a
conditional GET of the product page answered 304 (what a returning visitor costs).

    python bench/pages.py                          # SQLite, one process
    python bench/pages.py --database-url postgresql+asyncpg://postgres@127.0.0.1/linli_bench \\
        --workers 2                                # PostgreSQL (the database is recreated)
    python bench/pages.py --workdir /tmp/city      # seed once, reuse the city on later runs
    python bench/pages.py --no-page-cache          # what rendering each page costs

Anonymous public pages are answered from the server's rendered-page cache once warm (each
connection's first request renders or fills it, outside the measurement), which is what a
crowd of phones meets; `--no-page-cache` measures the rendering itself.

Not a timed test: it prints its figures; on a shared machine run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cpu_usage
import httpx
import lean_http
from flash_sale import free_port, linli_command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

CSRF_COOKIE = "linli_csrf"
STARTUP_TIMEOUT = 60.0
SEED_TIMEOUT = 1800.0


def environment(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        {
            "LINLI_DATABASE_URL": database_url,
            "LINLI_VAR_DIR": str(workdir / "var"),
            "LINLI_SECRET_KEY": secret_key(workdir),
            "LINLI_DEFAULT_LOCALE": "zh_Hans",
            "LINLI_ACCESS_LOG": "false",
            # One address sends every request here: the anonymous trace page limit would
            # answer 429 long before the run ends.
            "LINLI_TRACE_PAGE_RATE": "100000000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def secret_key(workdir: Path) -> str:
    """The city's secret, kept beside it: a reused city is served with the key it was seeded
    with."""
    kept = workdir / "secret_key"
    if not kept.exists():
        kept.write_text(secrets.token_urlsafe(32))
    return kept.read_text()


async def recreate_postgres(url: str) -> None:
    parsed = make_url(url)
    engine = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            name = '"' + str(parsed.database).replace('"', '""') + '"'
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()


async def targets(database_url: str) -> dict[str, str]:
    """The pages to ask, with ids and codes read from the seeded city."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            product = await connection.scalar(
                text("SELECT id FROM products WHERE status = 'listed' ORDER BY id LIMIT 1")
            )
            merchant = await connection.scalar(
                text("SELECT organisation_id FROM merchant_profiles ORDER BY organisation_id")
            )
            batch = await connection.scalar(
                text(
                    "SELECT b.code FROM trace_batches b JOIN trace_event_batches e "
                    "ON e.batch_id = b.id GROUP BY b.code ORDER BY count(*) DESC, b.code LIMIT 1"
                )
            )
            if batch is None:  # no batch with trace records: any batch
                batch = await connection.scalar(
                    text("SELECT code FROM trace_batches ORDER BY id LIMIT 1")
                )
    finally:
        await engine.dispose()
    pages = {
        "/": "/",
        "/catalog": "/catalog",
        "/catalog?q=苹果": "/catalog?q=%E8%8B%B9%E6%9E%9C",
        "/export": "/export",
        "/groupbuy": "/groupbuy",
        "/p/{id}": f"/p/{product}",
        "/m/{id}": f"/m/{merchant}",
        "/t/{code}": f"/t/{batch}",
    }
    if batch is None:
        print("the seeded city has no trace batch: /t/{code} is left out")
        del pages["/t/{code}"]
    return pages


@dataclass
class Figures:
    page: str
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    failures: int
    identity_bytes: int
    sent_bytes: int

    def row(self) -> str:
        ordered = sorted(self.latencies)

        def at(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        rate = self.requests / self.seconds
        cpu = self.server_cpu / self.requests * 1000
        size = f"{self.identity_bytes / 1024:.1f} → {self.sent_bytes / 1024:.1f} KB"
        return (
            f"| `{self.page}` | {rate:,.0f} | {statistics.median(ordered) * 1000:.0f} ms "
            f"| {at(0.95):.0f} ms | {at(0.99):.0f} ms | {cpu:.1f} ms | {size} "
            f"| {self.failures} |"
        )


async def measure(
    host: str, port: int, server_pid: int, page: str, path: str, args: argparse.Namespace
) -> Figures:
    cookie = f"{CSRF_COOKIE}={'b' * 43}"
    headers = [("Accept-Encoding", "gzip, br"), ("Cookie", cookie)]
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=60) as probe:
        plain = await probe.get(path, headers={"Accept-Encoding": "identity", "Cookie": cookie})
        plain.raise_for_status()
        async with probe.stream("GET", path, headers=dict(headers)) as encoded:
            sent = b"".join([chunk async for chunk in encoded.aiter_raw()])
        etag = plain.headers.get("etag")
    if args.conditional:
        assert etag, f"{path} has no ETag"
        headers.append(("If-None-Match", etag))
    raw = lean_http.build_request("GET", path, f"{host}:{port}", headers)
    expected = 304 if args.conditional else 200
    connections = await lean_http.open_connections(host, port, args.clients)
    for connection in connections:  # warm: templates compiled, caches filled
        await connection.request(raw)
    remaining = args.requests
    latencies: list[float] = []
    failures = 0

    async def client(connection: lean_http.LeanConnection) -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status, _body = await connection.request(raw)
            latencies.append(time.perf_counter() - started)
            if status != expected:
                failures += 1

    cpu_before = cpu_usage.tree_cpu(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    seconds = time.perf_counter() - started
    server_cpu = cpu_usage.tree_cpu(server_pid) - cpu_before
    lean_http.close_connections(connections)
    return Figures(
        page, args.requests, seconds, latencies, server_cpu, failures, len(plain.content), len(sent)
    )


async def run_pages(host: str, port: int, server_pid: int, args: argparse.Namespace) -> None:
    pages = {"/healthz (baseline)": "/healthz", **await targets(args.database_url)}
    print(
        "| page | requests/s | p50 | p95 | p99 | server CPU per request | identity → sent "
        "| failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for page, path in pages.items():
        args.conditional = False
        print((await measure(host, port, server_pid, page, path, args)).row(), flush=True)
    args.conditional = True
    product = pages["/p/{id}"]
    print((await measure(host, port, server_pid, "/p/{id} (304)", product, args)).row())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--residents", type=int, default=600)
    parser.add_argument("--history-days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep the seeded city here and reuse it on later runs with the same arguments "
        "(default: a fresh temporary directory)",
    )
    parser.add_argument(
        "--no-page-cache",
        action="store_true",
        help="serve with LINLI_PAGE_CACHE_SECONDS=0: what rendering each page costs",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="linli-pages-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "seeded").exists():
        (workdir / "secret_key").unlink(missing_ok=True)
    if not args.database_url:
        args.database_url = f"sqlite+aiosqlite:///{(workdir / 'pages.sqlite3').as_posix()}"
    env = environment(args.database_url, workdir)
    seed = [
        "demo", "--no-serve", "--seed", str(args.seed), "--residents", str(args.residents),
        "--history-days", str(args.history_days),
    ]  # fmt: skip
    marker = workdir / "seeded"
    seeded_as = f"{args.database_url} {' '.join(seed)}"
    if marker.exists() and marker.read_text() == seeded_as:
        print(f"reusing the demo city seeded in {workdir}", flush=True)
    else:
        if args.database_url.startswith("postgresql"):
            asyncio.run(recreate_postgres(args.database_url))
        print(f"seeding the demo city ({args.residents} residents) in {workdir} ...", flush=True)
        subprocess.run(
            [*linli_command(), *seed], env=env, cwd=workdir, check=True, timeout=SEED_TIMEOUT,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        marker.write_text(seeded_as)
    if args.no_page_cache:
        env["LINLI_PAGE_CACHE_SECONDS"] = "0"
    host, port = "127.0.0.1", free_port()
    serve = ["serve", "--host", host, "--port", str(port), "--workers", str(args.workers)]
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*linli_command(), *serve], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if httpx.get(f"http://{host}:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {workdir / 'server.log'}")
            time.sleep(0.2)
        kind = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
        cache = "no page cache" if args.no_page_cache else "page cache on"
        print(
            f"\n{kind}, {args.workers} process(es), {args.clients} clients, "
            f"{args.requests} requests per page, {cache}\n"
        )
        loop = lean_http.new_event_loop()
        try:
            loop.run_until_complete(run_pages(host, port, server.pid, args))
        finally:
            loop.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
