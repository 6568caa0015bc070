"""The "HTTP floor" of the flash-sale benchmark: the least an HTTP sale can cost here.

A bare ASGI app (no framework) served exactly as `linli serve` serves Linli: uvicorn, the
same options and worker count, the engine `linli.db.engine_from_settings` builds from
`linli.config.Settings` (so the same pool size, overflow and pre-ping), on the database of
`LINLI_DATABASE_URL`. Its one endpoint, `POST /take`, runs the benchmark's bare conditional
UPDATE in its own transaction and answers 200 with the stock left (409 when none is left).
Whatever the app spends above this floor is Linli's own work; whatever this floor spends
above pgbench is the price of HTTP, uvicorn, SQLAlchemy and the pool.

Bench only, never part of the product. Started by bench/flash_sale.py as

    python bench/floor_app.py --host 127.0.0.1 --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import text

from linli.cli import uvicorn_options
from linli.config import Settings
from linli.db import engine_from_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FLOOR_TABLE = os.environ.get("BENCH_FLOOR_TABLE", "bench_raw_stock")
TAKE = text(
    f"UPDATE {FLOOR_TABLE} SET stock = stock - 1 WHERE id = 1 AND stock >= 1 RETURNING stock"
)
JSON_HEADERS = [(b"content-type", b"application/json")]


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    settings = Settings()
    engine = engine_from_settings(settings)

    async def answer(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def take(send: Send) -> None:
        async with engine.begin() as connection:
            left = (await connection.execute(TAKE)).scalar_one_or_none()
        if left is None:
            await answer(send, 409, b'{"error":{"code":"sold_out"}}')
        else:
            await answer(send, 200, b'{"stock":%d}' % left)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await engine.dispose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/take" and scope["method"] == "POST":
            await take(send)
        elif scope["path"] == "/healthz":
            await answer(send, 200, b'{"status":"ok","database":"postgresql"}')
        else:
            await answer(send, 404, b'{"error":{"code":"not_found"}}')

    return app


def serve(host: str, port: int, workers: int) -> None:
    serve_like_linli("floor_app:create_app", create_app, host, port, workers)


def serve_like_linli(
    target: str, factory: Callable[[], Any], host: str, port: int, workers: int
) -> None:
    """As `linli serve` does (src/linli/cli.py): the same uvicorn options and process model,
    `factory` building the app (`target` names it for uvicorn's worker processes)."""
    options = uvicorn_options(Settings(), host, port)
    if workers == 1:
        uvicorn.run(factory(), **options)
    else:
        # Spawned workers import the module by name: bench/ must be on their path.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        uvicorn.run(target, factory=True, workers=workers, **options)


def server_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = server_arguments("The HTTP floor of the flash-sale benchmark")
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
