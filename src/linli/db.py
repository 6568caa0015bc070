"""Declarative base, column types, engine and session factory, and the request session.

The request owns the transaction: `request_session` commits when the handler returns and rolls
back when it raises. Services only flush.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends
from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    event,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator
from starlette.requests import Request

from linli.errors import DomainError

if TYPE_CHECKING:
    from linli.config import Settings

# The outbox marks a session whose transaction added work due now; after the commit the
# request wakes the in-process dispatcher instead of leaving it to the next poll.
OUTBOX_PUBLISHED = "linli_outbox_published"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")
JSONData = JSON().with_variant(JSONB(), "postgresql")


# --- the content generation ---------------------------------------------------------------


class ContentGeneration(Base):
    """A few counter rows (shards) whose sum is the content generation: every committed
    transaction writing to any table but the bookkeeping ones (UNTRACKED_TABLES) adds one to a
    shard, in that transaction, so the sum moves on exactly when the write becomes visible. The
    rendered-page cache (middleware.ResponseCacheMiddleware) keeps pages of the generation it
    read, so a page is never served from a generation older than the last committed write, in
    any process. On PostgreSQL the shard is the backend's pid modulo GENERATION_SHARDS: writers
    on different connections lock different rows (one row made every write of the platform,
    a flash sale's orders included, commit one after another)."""

    __tablename__ = "content_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False)


# Writes that change nothing an anonymous visitor sees: sessions, tokens, counters, the outbox
# and due jobs, audit records (written with the change they record), notifications, and the
# personal records of buying (carts, quotas, orders and their lines, payments, refunds, the
# ledger). What a purchase changes on public pages (the stock left) is written to tracked
# tables in the same transaction.
UNTRACKED_TABLES = frozenset(
    {
        "content_generation",
        "alembic_version",
        "rate_counters",
        "audit_log",
        "user_sessions",
        "api_tokens",
        "login_failures",
        "outbox_events",
        "handled_events",
        "due_jobs",
        "notifications",
        "groupbuy_cart_lines",
        "groupbuy_resident_quotas",
        "groupbuy_orders",
        "groupbuy_order_lines",
        "payment_intents",
        "payment_refunds",
        "payment_callbacks",
        "ledger_entries",
        "ledger_postings",
        # a live room's traffic (several writes a second while it streams), shown over its
        # WebSocket and on personal pages only
        "live_chat_messages",
        "live_room_events",
        "live_presence",
        "live_mutes",
        "live_orders",
        "live_buyer_quotas",
        # an online session room's signalling and its connections (personal pages only)
        "services_room_signals",
        "services_room_attendance",
    }
)
_WRITE = re.compile(
    r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE|COPY)"
    r"\s+(?:TABLE\s+|ONLY\s+)?\"?(\w+)",
    re.IGNORECASE,
)
# (not the "DO UPDATE SET" of an upsert)
_WITH_WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|(?<!DO )UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE
)
_WROTE_CONTENT = "linli_wrote_content"
_MIGRATING = "linli_migrating"
_HAS_TABLE = "linli_has_generation_table"
_MOVED = "linli_generation_moved"  # by the transaction's own statement (generation_move)
_SCHEMA_EPOCH = [0]  # moved on by each migration this process runs
GENERATION_SHARDS = 16
READ_GENERATION = "SELECT coalesce(sum(generation), 0) FROM content_generation"
_BUMP_GENERATION = (
    "INSERT INTO content_generation (id, generation) VALUES ({shard}, 1) "
    "ON CONFLICT (id) DO UPDATE SET generation = content_generation.generation + 1"
)
# SQLite has one writer at a time: one shard is enough.
_SHARD = {"postgresql": f"pg_backend_pid() % {GENERATION_SHARDS}", "sqlite": "1"}


def written_table(statement: str) -> str | None:
    """The table a writing statement writes to (the first one), or None for a read."""
    found = _WRITE.match(statement)
    if found is None and statement.lstrip()[:4].upper() == "WITH":
        found = _WITH_WRITE.search(statement)
    return found.group(1).lower() if found else None


def written_tables(statement: str) -> list[str]:
    """Every table a writing statement writes to: one, or for a statement with
    data-modifying CTEs (WITH ... INSERT/UPDATE/DELETE) each of them; [] for a read."""
    found = _WRITE.match(statement)
    if found is not None:
        return [found.group(1).lower()]
    if statement.lstrip()[:4].upper() != "WITH":
        return []
    return [each.group(1).lower() for each in _WITH_WRITE.finditer(statement)]


def _has_generation_table(conn: Any) -> bool:
    """Whether the connection's database has the table, looked up once per connection and
    migration (on the driver's cursor: bookkeeping, not a statement of the work)."""
    known = conn.info.get(_HAS_TABLE)
    if known is not None and known[0] == _SCHEMA_EPOCH[0]:
        return bool(known[1])
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name = 'content_generation'"
            )
        else:
            cursor.execute("SELECT to_regclass('content_generation')::text")
        row = cursor.fetchone()
    finally:
        cursor.close()
    exists = row is not None and row[0] is not None
    conn.info[_HAS_TABLE] = (_SCHEMA_EPOCH[0], exists)
    return exists


def track_content_writes(engine: AsyncEngine) -> None:
    """Every transaction on `engine` that writes to a tracked table moves the content
    generation on as its last statement, just before it commits (the upsert also creates a
    missing shard). The shard's row is locked from then to the commit: on PostgreSQL writers
    on the same shard commit one after the other (the lock is held for the commit only). A
    migration's own transaction (it writes alembic_version) moves nothing, and a database
    whose schema has no content_generation table yet (a migration still to run) is written as
    before."""

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        for table in written_tables(statement):
            if table == "alembic_version":
                conn.info[_MIGRATING] = True
            elif table not in UNTRACKED_TABLES:
                conn.info[_WROTE_CONTENT] = True

    def bump(conn: Any) -> None:
        wrote = conn.info.pop(_WROTE_CONTENT, False)
        moved = conn.info.pop(_MOVED, False)
        if conn.info.pop(_MIGRATING, False):
            _SCHEMA_EPOCH[0] += 1  # every connection looks for the table again
            return
        if wrote and not moved and _has_generation_table(conn):
            conn.exec_driver_sql(_BUMP_GENERATION.format(shard=_SHARD[conn.dialect.name]))

    def forget(conn: Any) -> None:
        conn.info.pop(_WROTE_CONTENT, None)
        conn.info.pop(_MIGRATING, None)
        conn.info.pop(_MOVED, None)

    def forget_move(conn: Any, *_args: Any) -> None:
        conn.info.pop(_MOVED, None)  # it may have been undone: move it again at the commit

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", note)
    event.listen(sync_engine, "commit", bump)
    event.listen(sync_engine, "rollback", forget)
    event.listen(sync_engine, "rollback_savepoint", forget_move)


async def has_generation_table(session: AsyncSession) -> bool:
    """Whether the session's database has the content_generation table yet (looked up once
    per connection and migration)."""
    connection = await session.connection()
    return bool(await connection.run_sync(_has_generation_table))


def generation_move(when: ColumnElement[bool], *, name: str = "content_moved") -> CTE:
    """The content generation's move as a data-modifying CTE (PostgreSQL; only where
    `has_generation_table`), for a statement that does a whole unit of work, so that its
    commit follows it at once (no separate move in between): attempted only `when` holds (the
    statement's own tracked write happened). The caller selects whether it returned a row and
    if so calls `generation_moved`."""
    shard = literal_column(f"pg_backend_pid() % {GENERATION_SHARDS}", Integer)
    return (
        pg_insert(ContentGeneration)
        .from_select(["id", "generation"], select(shard, literal(1)).where(when))
        .on_conflict_do_update(
            index_elements=[ContentGeneration.id],
            set_={"generation": ContentGeneration.generation + 1},
        )
        .returning(ContentGeneration.id)
        .cte(name)
    )


async def generation_moved(session: AsyncSession) -> None:
    """The transaction's statement moved the content generation itself (`generation_move`):
    its commit moves it no further, unless a savepoint is rolled back meanwhile."""
    (await session.connection()).sync_connection.info[_MOVED] = True  # type: ignore[union-attr]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on databases that keep time zones and those that don't."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


DEADLOCK_DETECTED = "40P01"


def is_deadlock(exc: BaseException) -> bool:
    """PostgreSQL chose this transaction as a deadlock's victim: the other one went on, so
    the same work run again (after a rollback) succeeds."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == DEADLOCK_DETECTED


def escape_like(term: str) -> str:
    r"""`term` with LIKE's wildcards made literal (for `ESCAPE '\'`)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


DEFAULT_PRE_PING_IDLE_SECONDS = 5.0


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int = 0,
    pre_ping_idle_seconds: float = DEFAULT_PRE_PING_IDLE_SECONDS,
) -> AsyncEngine:
    """The engine for `url`; `pool_size`, `max_overflow` and `pre_ping_idle_seconds` apply to
    PostgreSQL (see `ping_when_idle`)."""
    if url.startswith("sqlite"):
        engine = _make_sqlite_engine(url, echo=echo)
    else:
        engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
        ping_when_idle(engine, pre_ping_idle_seconds)
    track_content_writes(engine)
    return engine


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The engine a serving process uses (the app, the worker, the benchmark's floor): the
    database, echo and pool settings of `settings`."""
    return make_engine(
        settings.resolved_database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pre_ping_idle_seconds=settings.db_pre_ping_idle_seconds,
    )


# connection_record.info key: when the connection went back to the pool (time.monotonic()).
# The pool clears `info` when it replaces a connection, so a new one is never pinged.
CHECKED_IN_AT = "linli_checked_in_at"


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle longer than `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` pings at every checkout: with asyncpg three round trips
    (BEGIN, `;`, ROLLBACK), about a quarter of a flash sale's round trips, although a
    connection used a moment ago is almost never dead. A connection the server or a firewall
    dropped while it sat idle is caught here: the failed ping raises `DisconnectionError`, on
    which the pool discards the connection and checks out a new one. What is given up: a
    connection dropped within the last `idle_seconds` fails the statement that uses it (the
    engine then invalidates the pool, so one request fails, not every pooled connection).
    0 pings every reused connection, as `pool_pre_ping` did.
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:  # None: invalidated, nothing to keep
            record.info[CHECKED_IN_AT] = monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.pop(CHECKED_IN_AT, None)
        if checked_in_at is None or monotonic() - checked_in_at <= idle_seconds:
            return
        try:
            ping_connection(sync_engine.dialect, dbapi_connection)
        except Exception as exc:  # a dead connection fails in the driver's own way
            raise DisconnectionError("the pooled connection failed its ping") from exc


def ping_connection(dialect: Dialect, dbapi_connection: Any) -> None:
    """The dialect's own ping (asyncpg: BEGIN, `;`, ROLLBACK); raises when it fails.

    Runs inside the pool's checkout, in the greenlet of the awaiting coroutine. A module
    function so that bench/statement_count.py can count the pings."""
    dialect.do_ping(dbapi_connection)


def _make_sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    database = url.split("///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver: writing transactions start with BEGIN IMMEDIATE,
        # so writers queue on the busy timeout instead of failing with "database is locked"
        # when a read lock cannot be upgraded; reading requests use BEGIN DEFERRED, which
        # under WAL never blocks anyone.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        deferred = connection.get_execution_options().get(DEFERRED_OPTION, False)
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")

    return engine


DEFERRED_OPTION = "linli_sqlite_deferred"


READING_REQUEST = "linli.reading_request"
_MEMO = "linli.memo"


def request_memo(session: AsyncSession) -> dict[Hashable, Any] | None:
    """Reference data a reading request (GET) reads more than once, kept for that request: a
    dict on its session, or None in any other session. A reading request never writes (the
    test suite fails one that does), so nothing it read can change under it by its own hand;
    what other transactions commit meanwhile it sees no later than its first read."""
    if not session.info.get(READING_REQUEST):
        return None
    memo: dict[Hashable, Any] = session.info.setdefault(_MEMO, {})
    return memo


def make_sessionmaker(
    engine: AsyncEngine, *, reading: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions for writing work, or (reading=True) for requests that mostly read.

    The distinction only matters on SQLite (BEGIN DEFERRED instead of BEGIN IMMEDIATE).
    """
    bind = engine.execution_options(**{DEFERRED_OPTION: True}) if reading else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session and one transaction per request."""
    async with request_transaction(request) as session:
        yield session


@asynccontextmanager
async def request_transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """A request's session and transaction: committed when the work ends (and the dispatcher
    woken if it published events); a domain refusal commits what it asks to keep, anything
    else rolls back. The dependency above and the lean routes (linli.lean) share it."""
    reading = request.method in ("GET", "HEAD", "OPTIONS")
    factory: async_sessionmaker[AsyncSession] = (
        request.app.state.reading_sessionmaker if reading else request.app.state.sessionmaker
    )
    async with factory() as session:
        if reading:
            session.info[READING_REQUEST] = True
        try:
            yield session
            await session.commit()
            if session.info.pop(OUTBOX_PUBLISHED, False):
                request.app.state.dispatcher.wake()
        except DomainError as exc:
            await (session.commit() if exc.keep_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise


# scope="function": commit before the response is sent, so a client never sees success for
# work that then fails to commit. One alias everywhere, so every dependency shares the session.
DbSession = Annotated[AsyncSession, Depends(request_session, scope="function")]
