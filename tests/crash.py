"""A real server (`linli serve`, two uvicorn workers) to kill in the middle of its work: the
group commit's crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

import linli
from linli.config import Settings

SOURCE = Path(linli.__file__).resolve().parent.parent
T = TypeVar("T")


def serve(settings: Settings, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        {
            "PYTHONPATH": str(SOURCE),
            "LINLI_DATABASE_URL": settings.database_url,
            "LINLI_VAR_DIR": str(tmp / "var"),
            "LINLI_SECRET_KEY": settings.resolved_secret_key(),
            "LINLI_RUN_DISPATCHER": "false",
            "LINLI_DEFAULT_LOCALE": "en",
            "LINLI_ACCESS_LOG": "false",
        }
    )
    command = [sys.executable, "-c", "from linli.cli import app; app(prog_name='linli')"]
    served = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with (tmp / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, *served],
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches every worker
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


def kill(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if process.poll() is None:
        os.killpg(process.pid, how)
    process.wait(timeout=30)


@asynccontextmanager
async def slow_batches(session: AsyncSession, table: str) -> AsyncIterator[None]:
    """Every statement inserting into `table` takes 0.3 s longer while the block runs (a
    trigger): batches grow, and one is always running when the server is killed."""
    await session.execute(
        text(
            "CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$"
        )
    )
    await session.execute(
        text(
            f"CREATE TRIGGER slow_batch AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION slow_batch()"
        )
    )
    await session.commit()
    try:
        yield
    finally:
        await session.execute(text(f"DROP TRIGGER slow_batch ON {table}"))
        await session.execute(text("DROP FUNCTION slow_batch()"))
        await session.commit()


async def kill_mid_batch(
    app: FastAPI,
    server: subprocess.Popen[bytes],
    racing: list[asyncio.Task[T]],
    statement_start: str,
) -> list[T]:
    """Once 8 of the racing requests are answered and a batch's statement (its text starting
    with `statement_start`) is running, SIGKILL the server; every request's outcome."""
    for answered, done in enumerate(asyncio.as_completed(racing, timeout=60), 1):
        await done
        if answered == 8:
            break

    async def batch_running() -> bool:
        async with app.state.sessionmaker() as s:
            running = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                    "AND query LIKE :start"
                ),
                {"start": statement_start + "%"},
            )
        return bool(running)

    for _ in range(200):
        if await batch_running():
            break
        await asyncio.sleep(0.01)
    assert await batch_running()
    kill(server, signal.SIGKILL)
    return list(await asyncio.gather(*racing))
