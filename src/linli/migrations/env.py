"""Alembic environment: one history for SQLite and PostgreSQL, run on a given connection."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from linli.db import make_engine
from linli.models import Base

config = context.config
target_metadata = Base.metadata


# Tables created with raw SQL per database (full-text search) and not mapped as models.
UNMAPPED_PREFIXES = ("product_search",)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(UNMAPPED_PREFIXES))


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return

    async def run() -> None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        async with engine.begin() as conn:
            await conn.run_sync(run_on)
        await engine.dispose()

    asyncio.run(run())


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `linli init`.")
run_online()
