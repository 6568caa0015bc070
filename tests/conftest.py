"""Fixtures: one migrated database per run, isolated per test, on SQLite or PostgreSQL.

Set LINLI_TEST_DATABASE_URL=postgresql+asyncpg://... to run the suite on PostgreSQL; without
it every test gets its own SQLite file copied from a migrated template.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from linli import clock as clock_module
from linli.app import create_app
from linli.config import Settings
from linli.db import DEFERRED_OPTION, make_engine
from linli.migrate import upgrade
from linli.models import Base
from linli.outbox import DEAD, DueJob, OutboxEvent
from linli.security import use_fast_password_hashing

use_fast_password_hashing()

PG_URL = os.environ.get("LINLI_TEST_DATABASE_URL", "")
DATABASE_KIND = "postgresql" if PG_URL.startswith("postgresql") else "sqlite"
# The app starts in well under a second; on a 2-core machine running both suites side by side
# (and more) the 5 s default of asgi-lifespan was seen to run out.
STARTUP_TIMEOUT = 60.0
MIGRATED_SUFFIX = "_migrated"  # PostgreSQL: `<testdb>_migrated`, the pristine migrated copy


def pytest_report_header(config: pytest.Config) -> str:
    shown = PG_URL.rsplit("@", 1)[-1] if PG_URL else "a fresh SQLite file per test"
    return f"linli test database: {DATABASE_KIND} ({shown})"


async def reset_postgres_schema(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
        await connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    await engine.dispose()
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()


def quoted_name(name: str) -> str:
    """A PostgreSQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


async def _postgres_maintenance(url: str, *statements: str) -> None:
    """Statements run on the server's `postgres` database (CREATE/DROP DATABASE)."""
    engine = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class MigratedTemplate:
    """The session's database migrated from scratch, made once (`migrated_once`).

    `working`: what the in-process tests start from: a SQLite file each test copies, or the
    PostgreSQL test database itself (emptied after each test, `truncate_all`, so not a copy of
    a fresh migration for long: it loses the rows migrations insert). `pristine`: the URL of a
    database that stays as the migration left it, which the served instances of tests/live.py
    copy (SQLite: the same file; PostgreSQL: `<testdb>_migrated`, made by CREATE DATABASE ...
    TEMPLATE right after the migration)."""

    working: str
    pristine: str
    directory: Path | None = None  # SQLite: the temporary directory holding the file


_MIGRATED: list[MigratedTemplate] = []


def migrated_once() -> MigratedTemplate:
    """The session's migrated template, built on first use. Migrating an empty database takes
    seconds; the in-process tests and every served instance (tests/live.py) copy this one."""
    if _MIGRATED:
        return _MIGRATED[0]
    if DATABASE_KIND == "postgresql":
        asyncio.run(reset_postgres_schema(PG_URL))
        base = make_url(PG_URL)
        pristine = base.set(database=f"{base.database}{MIGRATED_SUFFIX}")
        name, source = quoted_name(str(pristine.database)), quoted_name(str(base.database))
        asyncio.run(
            _postgres_maintenance(
                PG_URL,
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                f"CREATE DATABASE {name} TEMPLATE {source}",
            )
        )
        template = MigratedTemplate(PG_URL, pristine.render_as_string(hide_password=False))
    else:
        directory = Path(tempfile.mkdtemp(prefix="linli-migrated-"))
        path = directory / "template.sqlite3"

        async def build() -> None:
            engine = make_engine(f"sqlite+aiosqlite:///{path}")
            await upgrade(engine)
            await engine.dispose()  # the last connection to close checkpoints the WAL

        asyncio.run(build())
        template = MigratedTemplate(str(path), f"sqlite+aiosqlite:///{path.as_posix()}", directory)
    _MIGRATED.append(template)
    return template


# How many templates existed when each running session started: a session run inside another
# (tests/test_dispatch_guard.py runs pytest in-process with this conftest) shares _MIGRATED
# and must not drop the outer session's template when it finishes.
_TEMPLATES_AT_START: list[int] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _TEMPLATES_AT_START.append(len(_MIGRATED))


def drop_migrated_template() -> None:
    """At the end of a session: the templates it built (the pristine PostgreSQL copy, or the
    SQLite file) go; an enclosing session's stay."""
    first = _TEMPLATES_AT_START.pop() if _TEMPLATES_AT_START else 0
    for template in _MIGRATED[first:]:
        if DATABASE_KIND == "postgresql":
            name = quoted_name(str(make_url(template.pristine).database))
            asyncio.run(
                _postgres_maintenance(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            )
        if template.directory is not None:
            shutil.rmtree(template.directory, ignore_errors=True)
    del _MIGRATED[first:]


@pytest.fixture(scope="session")
def migrated_template() -> str:
    """The migrated database: a SQLite template file, or the PostgreSQL test database."""
    return migrated_once().working


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> Iterator[str]:
    if DATABASE_KIND == "postgresql":
        yield migrated_template
        asyncio.run(truncate_all(migrated_template))
        return
    copy = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_template, copy)
    yield f"sqlite+aiosqlite:///{copy}"


# One round trip empties every table the test filled and restarts every sequence it drew from,
# as `TRUNCATE ... RESTART IDENTITY` of every table would (TRUNCATE gives each table and index
# a new file: for all ~90 tables that took 1-4 s per test on a busy machine). As the replication
# role, no trigger fires: foreign keys need no order, and the append-only records' guards
# (which refuse DELETE) stand aside. The test database's user is a superuser.
RESET_TABLES = """
DO $reset$
DECLARE
    name text;
    filled boolean;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOREACH name IN ARRAY string_to_array(:tables, ',') LOOP
        EXECUTE format('SELECT EXISTS (SELECT FROM %I)', name) INTO filled;
        IF filled THEN
            EXECUTE format('DELETE FROM %I', name);
        END IF;
    END LOOP;
    FOR name IN
        SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences
        WHERE last_value IS NOT NULL
    LOOP
        EXECUTE 'ALTER SEQUENCE ' || name || ' RESTART';
    END LOOP;
END
$reset$
"""


async def truncate_all(url: str) -> None:
    """Every table of the models empty and every sequence restarted (RESET_TABLES)."""
    names = ",".join(table.name for table in Base.metadata.sorted_tables)
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(RESET_TABLES.replace(":tables", f"'{names}'")))
    await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-not-for-production",
        run_dispatcher=False,
        default_locale="en",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Seeded-city templates (tests/live.py) and the migrated template are dropped once every
    test has finished."""
    live = sys.modules.get("tests.live")  # imported only by the modules that serve live
    if live is not None:
        live.drop_seeded_templates()
    drop_migrated_template()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dispatch_errors_expected: the test makes an event handler or a due job fail on "
        "purpose, so outbox rows and due jobs may end it with a recorded error",
    )
    config.addinivalue_line(
        "markers",
        "database_free: the test touches no database, so only the SQLite run of the suite runs "
        "it (the PostgreSQL run, the slower of the two, would repeat the same work)",
    )


# Fixtures through which a test reaches a database (tests/live.py's servers take theirs from
# LINLI_TEST_DATABASE_URL: modules serving live are never marked database_free).
DATABASE_FIXTURES = frozenset({"database_url", "migrated_template", "settings", "app", "session"})


def _serves_live(item: pytest.Item) -> bool:
    """Whether the test's module uses tests/live.py (a served instance with its own database)."""
    module = getattr(item, "module", None)
    if module is None:
        return False
    for value in vars(module).values():
        if getattr(value, "__module__", None) == "tests.live":
            return True
        if getattr(value, "__name__", None) == "tests.live":
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    free = [item for item in items if item.get_closest_marker("database_free")]
    for item in free:
        reached = DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if reached or _serves_live(item):
            raise pytest.UsageError(f"{item.nodeid} is marked database_free but reaches one")
    if DATABASE_KIND == "postgresql" and free:
        config.hook.pytest_deselected(items=free)
        dropped = {id(item) for item in free}
        items[:] = [item for item in items if id(item) not in dropped]


async def dispatch_errors(application: FastAPI) -> list[str]:
    """Outbox events and due jobs that recorded an error (or died): a handler or job failed."""
    found: list[str] = []
    async with application.state.sessionmaker() as s:
        events = await s.execute(
            select(
                OutboxEvent.seq, OutboxEvent.event_type, OutboxEvent.status, OutboxEvent.last_error
            )
            .where(or_(OutboxEvent.last_error.is_not(None), OutboxEvent.status == DEAD))
            .order_by(OutboxEvent.seq)
        )
        for seq, kind, status, error in events.all():
            found.append(f"outbox event #{seq} {kind} ({status}): {error}")
        jobs = await s.execute(
            select(DueJob.id, DueJob.kind, DueJob.status, DueJob.last_error)
            .where(or_(DueJob.last_error.is_not(None), DueJob.status == DEAD))
            .order_by(DueJob.id)
        )
        for job_id, kind, status, error in jobs.all():
            found.append(f"due job #{job_id} {kind} ({status}): {error}")
    return found


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
ARRANGING = "linli_test_arranging"  # the test's own session, which may write


@pytest.fixture
async def app(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    """The application on the test's database. At the end of the test, the events still
    pending are delivered, then every outbox event and due job must be free of errors: a
    failing handler or job fails the test that triggered it (unless marked
    `dispatch_errors_expected`)."""
    application = create_app(settings)
    written: list[str] = []

    # A reading request (GET) runs in a deferred transaction; a write in it can fail at once
    # when another writer got in first, so no reading request may write. Recorded here for
    # every test; the test session below is exempt (it arranges data).
    def note_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        options = conn.get_execution_options()
        reading = options.get(DEFERRED_OPTION) and not options.get(ARRANGING)
        if reading and statement.lstrip().upper().startswith(WRITES):
            written.append(statement)

    engine = application.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note_write)
    async with LifespanManager(application, startup_timeout=STARTUP_TIMEOUT):
        yield application
        failed: list[str] = []
        if not request.node.get_closest_marker("dispatch_errors_expected"):
            # Events the test left undelivered go to their handlers now, so that every
            # handler meets the data of every test.
            await application.state.dispatcher.run_once(jobs=False)
            failed = await dispatch_errors(application)
    event.remove(engine, "before_cursor_execute", note_write)
    assert not written, f"a reading request wrote: {written}"
    assert not failed, "event handlers or due jobs failed:\n" + "\n".join(failed)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking rows directly; commit what you arrange.

    On SQLite it begins transactions DEFERRED, so reading here never blocks the app's writers;
    like any snapshot it must end (commit or rollback) before it can see what a request wrote.
    """
    arranging = app.state.engine.execution_options(**{DEFERRED_OPTION: True, ARRANGING: True})
    async with async_sessionmaker(arranging, expire_on_commit=False, autoflush=False)() as s:
        yield s


@pytest.fixture
def frozen_clock() -> Iterator[clock_module.FrozenClock]:
    with clock_module.frozen(datetime(2026, 11, 26, 2, 0, tzinfo=UTC)) as fixed:
        yield fixed
