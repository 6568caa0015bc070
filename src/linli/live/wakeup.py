"""Waking every process's live hubs at once on PostgreSQL (LISTEN/NOTIFY).

A transaction that published room events (`channel.publish`) also runs `pg_notify` on CHANNEL
in that transaction: PostgreSQL delivers the notification when the transaction commits, once
however many events it published, and never for a rollback. Each hub holds one dedicated
asyncpg connection that LISTENs (`Listener`) and wakes the hub's poll at once; notifications
arriving while a poll runs make one more poll, not one each. The notification carries nothing:
the rows of `live_room_events` stay the only source, so a missed notification (the listener
reconnecting, a process starting) costs only the wait for the hub's regular poll, which goes on
as before. SQLite needs none of this: one process serves it, and its commits wake its hubs
directly (`channel._wake_hubs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
CHANNEL = "linli_live"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")
CONNECT_TIMEOUT = 10.0  # seconds, also for the liveness check
RECONNECT_FIRST = 0.5  # seconds before the first retry; doubled on each failure up to
RECONNECT_MAX = 30.0
# A LISTEN connection only ever receives; a peer gone without a FIN (a NAT or firewall dropping
# the flow, a host powered off) would never be noticed, so it is checked this often (seconds).
CHECK_EVERY = 30.0
# Options of SQLAlchemy's asyncpg dialect that are not asyncpg.connect's.
_DIALECT_ONLY = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"}
)


def notify_on_commit(session: Session) -> None:
    """A `before_commit` hook: on PostgreSQL, NOTIFY the hubs of every process in the
    transaction about to commit (delivered at the commit, dropped with a rollback)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_NOTIFY)


def connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """asyncpg.connect's arguments for the engine's database, made by the engine's own dialect
    from its URL (host, port, user, password, database and the URL's query, e.g. `ssl`)."""
    _args, options = engine.dialect.create_connect_args(engine.url)
    return {name: value for name, value in options.items() if name not in _DIALECT_ONLY}


@dataclass(eq=False)
class Listener:
    """One asyncpg connection LISTENing on CHANNEL, calling `wake` for each notification;
    reconnected with backoff when lost (the hub polls at its interval meanwhile)."""

    connect_args: dict[str, Any]
    wake: Callable[[], None]
    listening: asyncio.Event = field(default_factory=asyncio.Event)  # set while connected
    server_pid: int | None = None  # the LISTENing backend's, while connected
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Close the connection (UNLISTEN with it) and stop reconnecting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = RECONNECT_FIRST
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self._listen()
                reason = "the connection was closed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, timed out, authentication, killed
                reason = f"{type(exc).__name__}: {exc}"
            if asyncio.get_running_loop().time() - started > RECONNECT_MAX:
                delay = RECONNECT_FIRST  # it had been working: a fresh loss, a short wait
            log.warning(
                "live: LISTEN %s lost or refused (%s); polling only, retrying in %.1f s",
                CHANNEL,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _listen(self) -> None:
        """Listen until the connection is lost (returns or raises); closes it when cancelled."""
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL deployments need it

        connection = await asyncpg.connect(**self.connect_args, timeout=CONNECT_TIMEOUT)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        try:
            await connection.add_listener(CHANNEL, self._notified)
            self.server_pid = int(connection.get_server_pid())
            self.listening.set()
            log.info("live: LISTEN %s (backend %s)", CHANNEL, self.server_pid)
            self.wake()  # what committed while nobody listened is read now, not at the next poll
            while True:
                try:
                    await asyncio.wait_for(lost.wait(), CHECK_EVERY)
                    return
                except TimeoutError:
                    await connection.execute("SELECT 1", timeout=CONNECT_TIMEOUT)
        finally:
            self.listening.clear()
            self.server_pid = None
            try:
                await connection.close(timeout=CONNECT_TIMEOUT)
            except Exception:  # gone already, or not answering: drop the socket
                connection.terminate()

    def _notified(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.wake()
