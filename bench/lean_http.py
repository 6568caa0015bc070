"""A lean HTTP/1.1 load-generating client: pre-built requests over keep-alive connections.

The benchmark's client shares the machine's cores with the server and PostgreSQL, so it must
cost little and say what it costs. Each connection is an asyncio Protocol whose responses
are parsed by `httptools` (llhttp, the parser uvicorn itself uses); a request is bytes built
once (or from a pre-built prefix and suffix), written in one call; one request is in flight
per connection (no pipelining: a buyer waits for its answer, as a browser would).

    connection = LeanConnection("127.0.0.1", 8000)
    await connection.open()
    status, body = await connection.request(build_request("GET", "/healthz", host))
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import cast

import httptools


class TransportFailure(Exception):
    """The request did not get a complete answer (connection closed, timeout, bad HTTP)."""


def build_request(
    method: str,
    path: str,
    host: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """One complete HTTP/1.1 request (keep-alive is HTTP/1.1's default)."""
    return request_head(method, path, host, headers, len(body)) + b"\r\n" + body


def request_head(
    method: str,
    path: str,
    host: str,
    headers: Iterable[tuple[str, str]] = (),
    content_length: int = 0,
) -> bytes:
    """The request line and headers, each ending in CRLF, without the blank line: a prefix
    to which per-request headers (an idempotency key) are appended."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class _ResponseProtocol(asyncio.Protocol):
    """Feeds what arrives to httptools; completes the pending request's future."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []
        self.closed = False
        self.keep_alive = True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but are one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(TransportFailure(f"bad HTTP from the server: {error}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(TransportFailure(f"connection closed ({exc or 'EOF'})"))

    # httptools callbacks

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self.chunks) if len(self.chunks) != 1 else self.chunks[0]
        self.chunks = []
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def _fail(self, error: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class LeanConnection:
    """One keep-alive connection; reopened on demand after the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._protocol: _ResponseProtocol | None = None
        self.opened = 0  # connections opened (1 when keep-alive held throughout)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _transport, protocol = await loop.create_connection(_ResponseProtocol, self.host, self.port)
        self._protocol = protocol
        self.opened += 1

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send `raw` (a complete request), return (status, body) of the answer."""
        protocol = self._protocol
        if protocol is None or protocol.closed or not protocol.keep_alive:
            self.close()
            await self.open()
            protocol = self._protocol
            assert protocol is not None
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        protocol.waiter = waiter
        protocol.transport.write(raw)
        timer = loop.call_later(self.timeout, self._time_out, waiter)
        try:
            return await waiter
        except TransportFailure:
            self.close()
            raise
        finally:
            timer.cancel()

    def _time_out(self, waiter: asyncio.Future[tuple[int, bytes]]) -> None:
        if not waiter.done():
            waiter.set_exception(TransportFailure(f"no answer in {self.timeout:.0f} s"))

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


async def open_connections(host: str, port: int, count: int) -> list[LeanConnection]:
    connections = [LeanConnection(host, port) for _ in range(count)]
    await asyncio.gather(*(connection.open() for connection in connections))
    return connections


def close_connections(connections: Iterable[LeanConnection]) -> None:
    for connection in connections:
        connection.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (uvicorn's standard extra brings it), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
