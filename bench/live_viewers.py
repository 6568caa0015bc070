"""Live-room fan-out benchmark: V WebSocket viewers (default 1,000) in one room of a served
demo city; the streamer pins and unpins goods and a resident chats, and every viewer's
receipt of each event is timed.

The demo city (`linli demo`, small) has a foreign-trade supplier's room on air with its goods
pinned (demo/live.py). The server is `linli serve --workers N`; the viewers are asyncio
clients of the `websockets` package in this process, each holding one connection. For each
of `--events` rounds the streamer's token unpins or pins the goods over the REST API (one
`pin` event each), then the resident's connection sends a chat message (one `chat` event);
the latency of a delivery is the time from just before the request (or the chat frame) was
sent to the viewer's receipt of the frame. Reported: connect time of all viewers, deliveries
(expected V per event; a lost one is counted), median, p99 and max latency, and the CPU of
the server processes and of this client per event.

    .venv/bin/python bench/live_viewers.py [--viewers 1000] [--events 20] [--workers 1]
        [--database-url postgresql+asyncpg://...] [--workdir DIR]

Baseline in the same run: the bare loopback round trip of one WebSocket frame to a minimal
echo server in this process (the `websockets` package's own server), V clients at once: what
delivering one frame to V connections costs before any of Linli's work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpu_usage
import httpx
from flash_sale import free_port, linli_command
from pages import environment, recreate_postgres
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

EXPORTER_PHONE = "13800000006"
RESIDENT_PHONE = "13800000005"
STARTUP_TIMEOUT = 60.0
SEED_TIMEOUT = 900.0
EVENT_TIMEOUT = 30.0
TARGET_P99_MS = 200.0


@dataclass
class Round:
    kind: str
    sent_at: float
    received: list[float] = field(default_factory=list)


@dataclass
class Viewer:
    connection: ClientConnection
    current: Round | None = None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _follow(viewer: Viewer, kinds: set[str], done: asyncio.Event, expected: int) -> None:
    async for raw in viewer.connection:
        now = time.perf_counter()
        message = json.loads(raw)
        current = viewer.current
        if current is not None and message.get("type") == current.kind and message["type"] in kinds:
            current.received.append(now)
            if len(current.received) >= expected:
                done.set()


def cli(env: dict[str, str], workdir: Path, *args: str) -> str:
    return subprocess.run(
        [*linli_command(), *args],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def token(env: dict[str, str], workdir: Path, phone: str, *extra: str) -> str:
    printed = cli(env, workdir, "token", "create", "--phone", phone, "--name", "bench", *extra)
    return printed.strip().splitlines()[-1].strip()


async def run_rounds(
    base: str, ws_base: str, viewers_n: int, events: int, streamer: str, resident: str
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        rooms = (await http.get("/api/v1/live/rooms")).json()
        room = next(r for r in rooms if r["status"] == "live" and r["goods"])
        goods_id = room["goods"][0]["id"]
        url = f"{ws_base}/api/v1/live/rooms/{room['id']}/ws"
        started = time.perf_counter()
        connections = []
        for _ in range(viewers_n):  # one by one: each connect counts the viewer
            connections.append(await connect(url, max_queue=None, open_timeout=60))
        connect_seconds = time.perf_counter() - started
        for c in connections:
            await c.recv()  # hello
        # Never read after hello: an unbounded queue, or websockets stops reading the socket
        # at 16 frames and the keepalive's pong goes unread (closed 1011 mid-run).
        chatter = await connect(
            url,
            additional_headers={"Authorization": f"Bearer {resident}"},
            open_timeout=60,
            max_queue=None,
        )
        await chatter.recv()
        viewers = [Viewer(c) for c in connections]
        rounds: list[Round] = []
        headers = {"Authorization": f"Bearer {streamer}"}
        pinned = room["pinned_goods_id"] is not None
        for n in range(events * 2):
            kind = "pin" if n % 2 == 0 else "chat"
            current = Round(kind, 0.0)
            done = asyncio.Event()
            for viewer in viewers:
                viewer.current = current
            tasks = [asyncio.create_task(_follow(v, {kind}, done, viewers_n)) for v in viewers]
            current.sent_at = time.perf_counter()
            if kind == "pin":
                path = f"/api/v1/live/merchant/rooms/{room['id']}/" + ("unpin" if pinned else "pin")
                body = None if pinned else {"goods_id": goods_id}
                answer = await http.post(path, json=body, headers=headers)
                answer.raise_for_status()
                pinned = not pinned
            else:
                await chatter.send(json.dumps({"type": "chat", "text": f"第{n}条：还有货吗"}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), EVENT_TIMEOUT)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            rounds.append(current)
            await asyncio.sleep(2.1)  # chat's rate limit: 10 a minute per viewer (rule data)
        for c in [*connections, chatter]:
            await c.close()
    latencies = [(t - r.sent_at) * 1000 for r in rounds for t in r.received]
    lost = sum(viewers_n - len(r.received) for r in rounds)
    return {
        "connect_seconds": connect_seconds,
        "events": len(rounds),
        "deliveries": len(latencies),
        "lost": lost,
        "median_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


async def echo_baseline(viewers_n: int, rounds: int) -> dict[str, Any]:
    """One frame from a minimal `websockets` server to V clients at once, timed at each
    client: the floor under any fan-out on this machine, in this client."""
    clients: set[ServerConnection] = set()
    everyone = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        clients.add(connection)
        if len(clients) >= viewers_n:
            everyone.set()
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    port = free_port()
    latencies: list[float] = []
    async with serve(handler, "127.0.0.1", port):
        connections = [
            await connect(f"ws://127.0.0.1:{port}", max_queue=None) for _ in range(viewers_n)
        ]
        await everyone.wait()
        for n in range(rounds):
            frame = json.dumps({"type": "pin", "n": n})
            sent = time.perf_counter()
            for client in list(clients):
                await client.send(frame)
            for c in connections:
                await c.recv()
                latencies.append((time.perf_counter() - sent) * 1000)
        for c in connections:
            await c.close()
    return {
        "median_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20, help="pins, and as many chats")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="linli-live-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'live.sqlite3'}"
    env = environment(database_url, workdir)
    if database_url.startswith("postgresql"):
        asyncio.run(recreate_postgres(database_url))
    print(f"seeding a small demo city in {workdir} ...", file=sys.stderr, flush=True)
    subprocess.run(
        [*linli_command(), "demo", "--no-serve", "--residents", "60", "--history-days", "0"],
        env=env, cwd=workdir, check=True, timeout=SEED_TIMEOUT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    host, port = "127.0.0.1", free_port()
    base, ws_base = f"http://{host}:{port}", f"ws://{host}:{port}"
    serve_args = ["serve", "--host", host, "--port", str(port), "--workers", str(args.workers)]
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [*linli_command(), *serve_args], env=env, cwd=workdir, stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start; see {workdir / 'server.log'}")
            time.sleep(0.2)
        live = httpx.get(f"{base}/api/v1/live/rooms", timeout=10).json()
        organisation = next(r["organisation_id"] for r in live if r["status"] == "live")
        streamer = token(
            env, workdir, EXPORTER_PHONE, "--org", str(organisation),
            "--scope", "org:read", "--scope", "org:write",
        )  # fmt: skip
        resident = token(env, workdir, RESIDENT_PHONE, "--scope", "resident")
        baseline = asyncio.run(echo_baseline(args.viewers, args.events))
        tree = cpu_usage.process_tree(server.pid)
        server_before = sum(cpu_usage.process_cpu(p) or 0.0 for p in tree)
        client_before = time.process_time()
        result = asyncio.run(
            run_rounds(base, ws_base, args.viewers, args.events, streamer, resident)
        )
        server_cpu = sum(cpu_usage.process_cpu(p) or 0.0 for p in tree) - server_before
        client_cpu = time.process_time() - client_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    kind = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    events = result["events"]
    print(
        f"\n{kind}, {args.workers} server process(es), {args.viewers} viewers, "
        f"{events} events ({events // 2} pins/unpins, {events // 2} chats)\n"
    )
    print(f"{'':28} {'median':>9} {'p99':>9} {'max':>9}")
    print(
        f"{'Linli, event to viewer (ms)':28} {result['median_ms']:9.1f} "
        f"{result['p99_ms']:9.1f} {result['max_ms']:9.1f}"
    )
    print(
        f"{'baseline: bare echo (ms)':28} {baseline['median_ms']:9.1f} "
        f"{baseline['p99_ms']:9.1f} {baseline['max_ms']:9.1f}"
    )
    print(
        f"\nconnecting {args.viewers} viewers: {result['connect_seconds']:.1f} s; deliveries "
        f"{result['deliveries']} of {events * args.viewers} ({result['lost']} lost)"
    )
    print(
        f"CPU per event: server {server_cpu / events * 1000:.0f} ms, this client "
        f"{client_cpu / events * 1000:.0f} ms (connecting included)"
    )
    verdict = "met" if result["p99_ms"] < TARGET_P99_MS else "missed"
    print(f"target p99 < {TARGET_P99_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
