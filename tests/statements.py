"""Counting the SQL statements a request sends, at the driver (every statement the database
receives, BEGIN included where the dialect sends one), for pinning the cost of pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event


@contextmanager
def counting(app: FastAPI) -> Iterator[list[str]]:
    """The statements sent while the block runs, each on one line."""
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def statements_of(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> tuple[httpx.Response, list[str]]:
    """GET `path` with `client`, and the statements it sent."""
    with counting(app) as statements:
        response = await client.get(path)
    return response, list(statements)
