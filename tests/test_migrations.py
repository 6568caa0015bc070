"""The Alembic history builds exactly the schema the models describe, and unwinds cleanly.

Runs on the per-test database: a SQLite copy of the migrated template, or the shared
PostgreSQL test database (which is upgraded back to head before any test here ends).
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from linli.db import make_engine
from linli.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from linli.models import Base

Snapshot = dict[str, dict[str, Any]]


def _unmapped_prefixes() -> tuple[str, ...]:
    """The raw-SQL tables (full-text search) that env.py keeps out of autogenerate.

    env.py runs migrations when imported, so its constant is read from the source instead.
    """
    tree = ast.parse((MIGRATIONS_DIR / "env.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "UNMAPPED_PREFIXES" for t in node.targets
        ):
            prefixes = ast.literal_eval(node.value)
            assert isinstance(prefixes, tuple)
            return tuple(str(p) for p in prefixes)
    return ()


UNMAPPED_PREFIXES = _unmapped_prefixes()


def unmapped(table: str) -> bool:
    return table.startswith(UNMAPPED_PREFIXES)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Same filter as env.py: autogenerate ignores the unmapped raw-SQL tables."""
    return not (type_ == "table" and name is not None and name.startswith(UNMAPPED_PREFIXES))


EXPECTED_TABLES = {*Base.metadata.tables, "alembic_version"}


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return list(compare_metadata(context, Base.metadata))


def _where(index: Any) -> str:
    """The predicate of a partial index, as text ("" for a plain index)."""
    options = index.get("dialect_options", {})
    predicate = options.get("postgresql_where") or options.get("sqlite_where")
    return "" if predicate is None else str(predicate)


def _snapshot(connection: Connection) -> Snapshot:
    """Tables with their columns, indexes, unique constraints and foreign keys."""
    inspector = inspect(connection)
    tables: Snapshot = {}
    for name in inspector.get_table_names():
        tables[name] = {
            "columns": sorted(
                (c["name"], str(c["type"]), bool(c["nullable"]))
                for c in inspector.get_columns(name)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]), _where(i))
                for i in inspector.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": sorted(
                (
                    f["name"] or "",
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str(f.get("options", {}).get("ondelete")),
                )
                for f in inspector.get_foreign_keys(name)
            ),
        }
    return tables


async def snapshot(engine: AsyncEngine) -> Snapshot:
    async with engine.connect() as connection:
        return await connection.run_sync(_snapshot)


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_every_model_table_exists_after_migration(engine: AsyncEngine) -> None:
    tables = await snapshot(engine)
    assert {t for t in tables if not unmapped(t)} == EXPECTED_TABLES
    assert not any(unmapped(t) for t in Base.metadata.tables)
    # The partial unique index that keeps one pending job per dedupe key is really partial.
    (pending_key,) = [i for i in tables["due_jobs"]["indexes"] if i[0] == "uq_due_jobs_pending_key"]
    assert pending_key[1:3] == (("dedupe_key",), True)
    assert "pending" in pending_key[3]


async def test_current_revision_is_the_head(engine: AsyncEngine) -> None:
    head = head_revision()
    assert head is not None
    assert await current_revision(engine) == head


async def test_downgrade_to_base_then_upgrade_restores_the_same_schema(
    engine: AsyncEngine,
) -> None:
    before = await snapshot(engine)
    assert {t for t in before if not unmapped(t)} == EXPECTED_TABLES
    try:
        await downgrade(engine, "base")
        emptied = await snapshot(engine)
        assert set(emptied) == {"alembic_version"}
        assert await current_revision(engine) is None
    finally:
        # The PostgreSQL test database is shared by the whole run: always put it back.
        await upgrade(engine, "head")
    assert await current_revision(engine) == head_revision()
    assert await snapshot(engine) == before
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


def _refund_reasons_revision() -> tuple[str, str]:
    """(the refund-reasons migration, the revision before it), wherever it sits in history."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for rev in script.walk_revisions():
        if rev.module.__file__ and rev.module.__file__.endswith("_refund_reasons.py"):
            assert isinstance(rev.down_revision, str)
            return rev.revision, rev.down_revision
    raise AssertionError("no refund-reasons migration")


async def test_refund_reasons_are_back_filled_from_the_old_key_prefixes(
    engine: AsyncEngine,
) -> None:
    """Existing refunds get the reason their idempotency key (or who asked) implied; the
    migration unwinds."""
    revision, before = _refund_reasons_revision()
    keys = {
        1: ("group-7", None, "group_failed"),
        2: ("uncollected-7", None, "uncollected"),
        3: ("collected-12-1", 2, "merchant_decision"),
        4: ("recall-3-line-12", None, "recall"),
        5: ("groupbuy-unpayable-9", None, "payment_expired"),
        6: ("closed-9", None, "payment_expired"),
        7: ("my-own-key", 2, "merchant_decision"),
        8: (None, 3, "platform_decision"),
    }
    at = datetime(2026, 11, 1, tzinfo=UTC)
    try:
        await downgrade(engine, before)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, phone, password_hash, display_name, is_active,"
                    " created_at) VALUES (1, '13800000001', 'x', 'Resident', true, :at),"
                    " (2, '13800000002', 'x', 'Owner', true, :at),"
                    " (3, '13800000003', 'x', 'Operator', true, :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO organisations (id, kind, name, foreign_trade, created_at)"
                    " VALUES (1, 'merchant', 'Shop', false, :at),"
                    " (2, 'platform', 'Linli', false, :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO memberships (user_id, organisation_id, role, granted_at)"
                    " VALUES (2, 1, 'owner', :at), (3, 2, 'admin', :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO payment_intents (id, public_id, payer_user_id,"
                    " payee_organisation_id, purpose, reference, amount_fen, refunded_fen,"
                    " status, provider, idempotency_key, created_at, expires_at) VALUES"
                    " (1, 'intent-1', 1, 1, 'groupbuy', '7', 8000, 8000, 'succeeded',"
                    " 'sandbox', 'k1', :at, :at)"
                ),
                {"at": at},
            )
            for refund_id, (key, user_id, _reason) in keys.items():
                await connection.execute(
                    text(
                        "INSERT INTO payment_refunds (id, public_id, intent_id, amount_fen,"
                        " reason, status, idempotency_key, requested_by_user_id, created_at)"
                        " VALUES (:id, :public_id, 1, 1000, 'why', 'succeeded', :key, :user,"
                        " :at)"
                    ),
                    {
                        "id": refund_id,
                        "public_id": f"refund-{refund_id}",
                        "key": key,
                        "user": user_id,
                        "at": at,
                    },
                )
        await upgrade(engine, revision)
        async with engine.connect() as connection:
            found: dict[int, str] = dict(
                (
                    await connection.execute(
                        text("SELECT id, reason_code FROM payment_refunds ORDER BY id")
                    )
                ).all()
            )
        assert found == {refund_id: reason for refund_id, (_k, _u, reason) in keys.items()}
        async with engine.connect() as connection:
            with pytest.raises(IntegrityError):
                await connection.execute(
                    text("UPDATE payment_refunds SET reason_code = 'whim' WHERE id = 1")
                )
        await downgrade(engine, before)
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("payment_refunds")}
            )
        assert "reason_code" not in columns
    finally:
        await upgrade(engine, "head")
    assert await current_revision(engine) == head_revision()


def _revision_named(suffix: str) -> tuple[str, str]:
    """(the migration whose file ends with `suffix`, the revision before it)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    for rev in script.walk_revisions():
        if rev.module.__file__ and rev.module.__file__.endswith(suffix):
            assert isinstance(rev.down_revision, str)
            return rev.revision, rev.down_revision
    raise AssertionError(f"no migration {suffix}")


async def test_services_offerings_get_their_default_categories(engine: AsyncEngine) -> None:
    """Weekly sessions and slots get `consultations` or `courses` by their kind, courses
    `subject_tutoring` when sold as subject training, else `courses`; a database whose
    category tree lacks them gets them; the migration unwinds."""
    revision, before = _revision_named("_services_catalogue_categories.py")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    later = datetime(2026, 11, 2, tzinfo=UTC)
    try:
        await downgrade(engine, before)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, phone, password_hash, display_name, is_active,"
                    " created_at) VALUES (1, '13800000001', 'x', 'Teacher', true, :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO organisations (id, kind, name, foreign_trade, created_at)"
                    " VALUES (1, 'merchant', 'School', false, :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO services_practitioners (id, organisation_id, user_id, real_name,"
                    " credential_kind, credential_number, status, verified_at)"
                    " VALUES (1, 1, 1, 'T', 'teacher', 'N', 'active', :at)"
                ),
                {"at": at},
            )
            for week, kind in ((1, "consultation"), (2, "class")):
                await connection.execute(
                    text(
                        "INSERT INTO services_weekly_slots (id, practitioner_id, organisation_id,"
                        " title, weekday, start_minute, duration_minutes, capacity, kind, mode,"
                        " for_minors, created_at) VALUES (:id, 1, 1, 't', :weekday, 600, 30, 1,"
                        " :kind, 'online', false, :at)"
                    ),
                    {"id": week, "weekday": week, "kind": kind, "at": at},
                )
                await connection.execute(
                    text(
                        "INSERT INTO services_slots (id, practitioner_id, organisation_id,"
                        " weekly_slot_id, title, kind, mode, starts_at, ends_at, capacity,"
                        " remaining, for_minors, status, created_at) VALUES (:id, 1, 1, :week,"
                        " 't', :kind, 'online', :start, :end, 1, 1, false, 'open', :at)"
                    ),
                    {
                        "id": week,
                        "week": week,
                        "kind": kind,
                        "start": at + timedelta(days=week),
                        "end": later + timedelta(days=week),
                        "at": at,
                    },
                )
            for course, subject in ((1, True), (2, False)):
                await connection.execute(
                    text(
                        "INSERT INTO services_courses (id, organisation_id, practitioner_id,"
                        " weekly_slot_id, title, subject_training, first_day, last_day, classes,"
                        " class_minutes, price_per_class_fen, rule_version, status, created_at)"
                        " VALUES (:id, 1, 1, 2, 'c', :subject, '2026-11-02', '2026-11-30', 4,"
                        " 30, 100, 1, 'open', :at)"
                    ),
                    {"id": course, "subject": subject, "at": at},
                )
        await upgrade(engine, revision)
        async with engine.connect() as connection:
            codes = {}
            for table in ("services_weekly_slots", "services_slots", "services_courses"):
                found = await connection.execute(
                    text(
                        f"SELECT t.id, c.code, c.consumption_type FROM {table} t"  # noqa: S608
                        " JOIN categories c ON c.id = t.category_id ORDER BY t.id"
                    )
                )
                codes[table] = [tuple(row) for row in found.all()]
        assert codes == {
            "services_weekly_slots": [(1, "consultations", "medical"), (2, "courses", "education")],
            "services_slots": [(1, "consultations", "medical"), (2, "courses", "education")],
            "services_courses": [(1, "subject_tutoring", "education"), (2, "courses", "education")],
        }
        await downgrade(engine, before)
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("services_courses")}
            )
        assert "category_id" not in columns
    finally:
        await upgrade(engine, "head")
    assert await current_revision(engine) == head_revision()
