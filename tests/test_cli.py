"""The `linli` command line, driven in-process with Typer's CliRunner.

The commands call asyncio.run themselves, so these are plain synchronous tests that use none of
the async fixtures. Apart from the --help checks they run only on SQLite (a file in tmp_path).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from unittest.mock import ANY

import httpx
import pytest
import typer
from asgi_lifespan import LifespanManager
from typer.core import TyperGroup
from typer.testing import CliRunner, Result

from linli.app import create_app
from linli.cli import app as cli
from linli.config import Settings
from linli.migrate import head_revision
from tests.conftest import PG_URL, STARTUP_TIMEOUT
from tests.live import DEMO_CITY, copy_sqlite_database, seeded_template

PASSWORD = "Neighbour-2026"
NEW_PASSWORD = "Fresh-start-2027"
PHONE = "13800138000"
NORMALIZED = "+8613800138000"
LOGIN = "/api/v1/accounts/login"

sqlite_only = pytest.mark.skipif(
    bool(PG_URL), reason="command-line tests use their own SQLite file; run without PG"
)
runner = CliRunner()
T = TypeVar("T")


def squash(text: str) -> str:
    """Output with Rich's box drawing removed and all whitespace runs made single spaces."""
    return " ".join(re.sub(r"[│╭╮╰╯─┃┏┓┗┛━]", " ", text).split())


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of `linli`, the root included, as argument tuples."""
    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(cli), ())
    return paths


def command_at(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(cli)
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    return command


def test_the_command_tree_is_discovered() -> None:
    """The walk below finds the documented commands (new ones are checked automatically)."""
    assert set(command_paths()) >= {
        (),
        ("init",),
        ("serve",),
        ("worker",),
        ("demo",),
        ("user",),
        ("user", "create"),
        ("user", "set-password"),
        ("user", "grant"),
        ("org",),
        ("org", "create"),
        ("token",),
        ("token", "create"),
    }


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "linli")
def test_every_command_answers_help_with_its_description(path: tuple[str, ...]) -> None:
    command = command_at(path)
    description = (command.help or "").split("\n\n")[0]
    assert description.strip(), f"`linli {' '.join(path)}` has no description"

    result = runner.invoke(cli, [*path, "--help"], prog_name="linli")

    assert result.exit_code == 0, result.output
    shown = squash(result.output)
    assert f"Usage: linli {' '.join(path)}".strip() in shown
    assert squash(description) in shown
    if isinstance(command, TyperGroup):
        for name in command.commands:
            assert f" {name} " in f" {shown} "


# --- against a real SQLite database ---------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the command line at a fresh SQLite file; return its path."""
    for name in list(os.environ):
        if name.startswith("LINLI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    path = tmp_path / "linli.sqlite3"
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path / "var"))
    return path


def run(*args: str) -> Result:
    return runner.invoke(cli, list(args), prog_name="linli")


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return squash(result.output)


def fails(*args: str) -> str:
    """Run a command that must exit 1 with a readable message (no traceback)."""
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    return squash(result.output)


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def count(path: Path, table: str) -> int:
    return int(query(path, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608


def through_fresh_app(
    scenario: Callable[[httpx.AsyncClient], Awaitable[T]], cookies: httpx.Cookies | None = None
) -> T:
    """Run `scenario` against a brand-new app on the database the environment points at."""

    async def main() -> T:
        app = create_app(Settings(run_dispatcher=False))
        async with LifespanManager(app, startup_timeout=STARTUP_TIMEOUT):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", cookies=cookies
            ) as client:
                return await scenario(client)

    return asyncio.run(main())


@sqlite_only
def test_init_then_manage_users_organisations_roles_and_tokens(database: Path) -> None:
    assert ok("init") == "Schema is up to date on sqlite."
    assert query(database, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert ok("init") == "Schema is up to date on sqlite."  # upgrading again is harmless

    created = ok(
        "user", "create", "--phone", "138 0013 8000", "--name", "李雷", "--password", PASSWORD
    )
    assert created == f"Created {NORMALIZED}."
    ((user_id, display_name, first_hash),) = query(
        database, "SELECT id, display_name, password_hash FROM users WHERE phone = ?", NORMALIZED
    )
    assert display_name == "李雷"
    assert first_hash.startswith("$argon2id$")
    assert PASSWORD not in first_hash

    created = ok("org", "create", "--kind", "merchant", "--name", "邻里小店")
    match = re.fullmatch(r"Created organisation (\d+)\.", created)
    assert match is not None, created
    org_id = int(match.group(1))
    assert query(database, "SELECT kind, name FROM organisations WHERE id = ?", org_id) == [
        ("merchant", "邻里小店")
    ]

    assert ok("user", "grant", "--phone", PHONE, "--org", str(org_id), "--role", "owner") == (
        f"Granted owner in organisation {org_id}."
    )
    assert query(database, "SELECT user_id, organisation_id, role FROM memberships") == [
        (user_id, org_id, "owner")
    ]

    scopes = ("--scope", "account", "--scope", "org:read")
    token = ok(
        "token", "create", "--phone", PHONE, "--name", "ERP push", *scopes, "--org", str(org_id)
    )
    assert re.fullmatch(r"linli_[A-Za-z0-9_-]{20,}", token), token
    assert query(database, "SELECT name, organisation_id FROM api_tokens") == [("ERP push", org_id)]
    (digest,) = query(database, "SELECT token_digest FROM api_tokens")[0]
    assert token not in digest  # only a digest is stored

    async def token_and_login(client: httpx.AsyncClient) -> tuple[dict[str, Any], httpx.Cookies]:
        assert (await client.get("/api/v1/accounts/me")).status_code == 401
        me = await client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        login = await client.post(LOGIN, json={"phone": PHONE, "password": PASSWORD})
        assert login.status_code == 200, login.text
        assert (await client.get("/api/v1/accounts/me")).status_code == 200  # by cookie
        return me.json(), httpx.Cookies(client.cookies)

    me, cookies = through_fresh_app(token_and_login)
    assert (me["id"], me["phone"], me["display_name"]) == (user_id, NORMALIZED, "李雷")
    assert me["active_organisation"]["id"] == org_id
    assert me["active_organisation"]["roles"] == ["owner"]

    assert ok("user", "set-password", "--phone", PHONE, "--password", NEW_PASSWORD) == (
        f"Password set for {NORMALIZED}."
    )

    async def after_reset(client: httpx.AsyncClient) -> list[int]:
        signed_out = await client.get("/api/v1/accounts/me")
        client.cookies.clear()
        old = await client.post(LOGIN, json={"phone": PHONE, "password": PASSWORD})
        new = await client.post(LOGIN, json={"phone": PHONE, "password": NEW_PASSWORD})
        return [signed_out.status_code, old.status_code, new.status_code]

    # Every session is signed out; the old password no longer works, the new one does.
    assert through_fresh_app(after_reset, cookies) == [401, 401, 200]
    (second_hash,) = query(database, "SELECT password_hash FROM users WHERE id = ?", user_id)[0]
    assert second_hash != first_hash


@sqlite_only
def test_bad_input_exits_1_with_a_readable_message_and_creates_nothing(database: Path) -> None:
    ok("init")

    output = fails("user", "create", "--phone", "12345", "--name", "李雷", "--password", PASSWORD)
    assert "Check the phone number." in output
    assert "phone: Enter a mainland China mobile number: 11 digits starting with 1." in output
    output = fails("user", "create", "--phone", PHONE, "--name", "李雷", "--password", "short1")
    assert "Choose a stronger password." in output
    assert "password: Use at least 8 characters for your password." in output
    assert (count(database, "users"), count(database, "outbox_events")) == (0, 0)
    assert count(database, "audit_log") == 0

    ok("user", "create", "--phone", PHONE, "--name", "李雷", "--password", PASSWORD)
    output = fails("user", "create", "--phone", PHONE, "--name", "韩梅梅", "--password", PASSWORD)
    assert "An account with this phone number already exists" in output
    assert query(database, "SELECT display_name FROM users") == [("李雷",)]

    output = fails("org", "create", "--kind", "farm", "--name", "农场")
    assert "Unknown organisation kind." in output
    assert count(database, "organisations") == 0
    ok("org", "create", "--kind", "merchant", "--name", "邻里小店")

    output = fails("user", "grant", "--phone", PHONE, "--org", "1", "--role", "chef")
    assert "A merchant organisation has no chef role." in output
    assert "role: Choose one of: owner, staff." in output
    assert count(database, "memberships") == 0
    assert query(database, "SELECT event_type FROM outbox_events ORDER BY seq") == [
        ("accounts.UserSignedUp",),
        ("accounts.OrganisationCreated",),
    ]

    output = fails("token", "create", "--phone", "13900000000", "--name", "x", "--scope", "account")
    assert "No account uses this phone number." in output
    output = fails("token", "create", "--phone", PHONE, "--name", "x", "--scope", "everything")
    assert "Unknown scope: everything." in output
    assert count(database, "api_tokens") == 0

    (before,) = query(database, "SELECT password_hash FROM users")[0]
    output = fails("user", "set-password", "--phone", PHONE, "--password", "password123")
    assert "This password is too common; choose another." in output
    output = fails("user", "set-password", "--phone", "13900000000", "--password", NEW_PASSWORD)
    assert "No account uses this phone number." in output
    assert query(database, "SELECT password_hash FROM users") == [(before,)]
    # Only the two successful commands left a trace.
    assert [a for (a,) in query(database, "SELECT action FROM audit_log ORDER BY id")] == [
        "accounts.signup",
        "accounts.organisation_created",
    ]


def logins_table(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Demo logins"))
    return lines[start:]


@sqlite_only
def test_demo_is_deterministic_and_the_worker_drains_it(database: Path) -> None:
    first = run("demo", "--no-serve", "--seed", "3", "--residents", "60")
    assert first.exit_code == 0, first.output
    table = logins_table(first.output)
    rows = squash("\n".join(table))
    for role, phone in [
        ("platform admin", "13800000001"),
        ("regulator supervisor", "13800000002"),
        ("regulator inspector", "13800000003"),
        ("merchant owner (fruit)", "13800000004"),
        ("foreign-trade owner", "13800000006"),
        ("resident", "13800000005"),
    ]:
        assert re.search(rf"{re.escape(role)} \S+ {phone}", rows), (role, rows)

    second = run("demo", "--no-serve", "--seed", "3", "--residents", "60")  # from empty again
    assert second.exit_code == 0, second.output
    assert logins_table(second.output) == table
    assert first.output == second.output

    seeded = re.search(
        r"Seeded (\d+) people, (\d+) merchants and (\d+) SKUs;", squash(second.output)
    )
    assert seeded is not None, second.output
    users = count(database, "users")
    assert (int(seeded.group(1)), int(seeded.group(3))) == (users, count(database, "skus"))
    assert int(seeded.group(2)) == count(database, "merchant_profiles") == 30
    # The demo delivers its events itself before it counts credit (demo/credit_story.py:
    # credit's handlers fill the ledger and the lists), every one without an error; the
    # worker finds nothing left.
    assert count(database, "outbox_events") > users
    assert query(database, "SELECT DISTINCT status FROM outbox_events") == [("delivered",)]
    assert ok("worker", "--once") == "Handled 0 events and jobs."
    by_kind = "SELECT kind, count(*) FROM notifications GROUP BY kind ORDER BY kind"
    # The emergency's inbox messages (demo/supervision.py) are written with the declaration.
    told = query(
        database, "SELECT count(*) FROM notifications WHERE kind = 'supervision_emergency'"
    )
    assert told[0][0] > 0
    # Supervision (demo/supervision_draws.py): the three merchants inspected at random are
    # told their result (each has its owner); the report's steps reach the reporter, the
    # platform's admin and the regulator's four members (a supervisor, three inspectors).
    # Online services (demo/services.py): one message per consultation booked and per course
    # paid or refunded (its classes are not announced one by one), per other cancellation and
    # per no-show; reminders of the sessions an hour away when the demo played them.
    bookings = "SELECT count(*) FROM services_bookings WHERE "
    told_of = {
        "course_enrolled": "SELECT count(*) FROM services_enrolments WHERE paid_at IS NOT NULL",
        "service_booked": bookings + "enrolment_id IS NULL",
        "course_closed": "SELECT count(*) FROM services_enrolments "
        "WHERE refunded_classes > 0 OR status = 'expired'",
        "service_cancelled": bookings
        + "status = 'cancelled' AND (enrolment_id IS NULL OR cancelled_by = 'provider')",
        "service_no_show": bookings + "status = 'no_show'",
    }
    services_told = {kind: query(database, sql)[0][0] for kind, sql in told_of.items()}
    assert services_told["service_booked"] > 0
    assert services_told["course_enrolled"] > 0
    assert services_told["course_closed"] > 0
    reminded = query(database, "SELECT count(*) FROM notifications WHERE kind = 'service_reminder'")
    services_told["service_reminder"] = reminded[0][0]
    assert reminded[0][0] <= query(database, bookings + "status <> 'cancelled'")[0][0]
    # Live selling (demo/live.py): each buyer of a shipped order is told of the shipment.
    shipped = query(database, "SELECT count(*) FROM live_orders WHERE shipped_at IS NOT NULL")
    assert shipped[0][0] > 0
    assert query(database, by_kind) == sorted(
        [
            *((kind, n) for kind, n in services_told.items() if n),
            ("live_order_shipped", shipped[0][0]),
            ("certification_approved", 5),
            ("inspection_result_published", 3),
            ("leader_approved", 40),
            ("merchant_approved", 30),
            ("report_filed", 1),
            ("report_forwarded", 1),
            ("report_received", 4),
            ("report_to_triage", 1),
            ("role_granted", count(database, "memberships")),
            ("supervision_emergency", told[0][0]),
            ("welcome", users),
        ]
    )
    assert ok("worker", "--once") == "Handled 0 events and jobs."


@sqlite_only
def test_demo_plays_group_buying_history_through_the_services(database: Path) -> None:
    # The city the browser tests serve, seeded once per session by `linli demo` (it fails
    # loudly unless it exits 0): its printed output, and a copy of its database and var/.
    city = seeded_template(DEMO_CITY)
    copy_sqlite_database(city, database)
    if city.var_dir.exists():
        shutil.copytree(city.var_dir, database.parent / "var", dirs_exist_ok=True)
    output = city.output
    figures = re.search(
        r"Group buying history: (\d+) campaigns, (\d+) orders \((\d+) refunded because their "
        r"group failed\), (\d+) pickups, (\d+) uncollected",
        squash(output),
    )
    assert figures is not None, output
    campaigns, orders, failed, pickups, _uncollected = (int(g) for g in figures.groups())
    assert campaigns == 12
    assert orders > 100
    assert failed > 0
    assert pickups > orders // 2
    assert query(database, "SELECT coalesce(sum(amount_fen), 0) FROM ledger_postings") == [(0,)]
    # Every failed group was refunded in full; every pickup settled with a commission.
    assert query(
        database,
        "SELECT count(*) FROM groupbuy_orders WHERE cancel_reason = 'group_failed' "
        "AND refunded_fen <> total_fen",
    ) == [(0,)]
    # (live orders received are settled too since migration 0051: not group buying's)
    assert query(database, "SELECT count(*) FROM groupbuy_pickups") == query(
        database,
        "SELECT count(DISTINCT reference) FROM ledger_entries WHERE kind = 'settlement' "
        "AND reference NOT LIKE 'live-order-%'",
    )
    assert query(database, "SELECT count(*) FROM groupbuy_commissions")[0][0] > 0
    assert query(database, "SELECT count(*) FROM outbox_events WHERE status = 'dead'") == [(0,)]
    # Traceability (demo/traceability.py): lots with journeys, an excursion, a recall.
    trace = re.search(
        r"Traceability: (\d+) batches with journeys, 1 excursion \(batch (\w+) on hold\), "
        r"1 recall in progress \((\d+) buyers notified\)",
        squash(output),
    )
    assert trace is not None, output
    assert int(trace.group(1)) > 5
    assert int(trace.group(3)) > 0
    assert count(database, "trace_batches") > 5
    assert query(
        database,
        "SELECT count(DISTINCT b.id) FROM trace_batches b "
        "JOIN trace_excursions x ON x.batch_id = b.id WHERE b.status = 'on_hold'",
    ) == [(1,)]
    assert query(database, "SELECT code FROM trace_batches WHERE status = 'on_hold'") == [
        (trace.group(2),)
    ]
    journeys = query(
        database,
        "SELECT e.biz_step FROM trace_events e "
        "JOIN trace_event_batches eb ON eb.event_pk = e.id "
        "JOIN trace_batches b ON b.id = eb.batch_id WHERE b.status = 'active'",
    )
    steps = {str(step).rsplit("-", 1)[-1] for (step,) in journeys}
    assert {"commissioning", "inspecting", "loading", "shipping", "transporting"} <= steps
    assert {"sensor_reporting", "receiving", "storing", "arriving"} <= steps
    kinds = {kind for (kind,) in query(database, "SELECT DISTINCT event_type FROM trace_events")}
    assert {"TransformationEvent", "AggregationEvent"} <= kinds
    assert count(database, "trace_inspections") >= count(database, "trace_batches")
    assert query(database, "SELECT level, status, refund FROM trace_recalls") == [
        (2, "open", "full")
    ]
    assert query(
        database,
        "SELECT count(DISTINCT user_id), min(refunded_fen) > 0 FROM trace_recall_lines "
        "WHERE notified_at IS NOT NULL",
    ) == [(int(trace.group(3)), 1)]
    assert query(database, "SELECT DISTINCT via FROM trace_recall_batches ORDER BY via") == [
        ("named",),
        ("transformation",),
    ]
    assert "OK:" in ok("trace", "verify")
    # Live selling (demo/live.py): a replay with two goods pinned in turn and paid orders, its
    # unsold stream stock back; a room tonight; a foreign-trade supplier's goods on air now;
    # the group leader's room tonight with the fruit merchant's goods (an accepted agreement).
    streamed = re.search(r"Live selling: 4 rooms \(a replay with (\d+) paid orders", squash(output))
    assert streamed is not None, output
    assert "the group leader's tonight" in squash(output)
    assert query(database, "SELECT status FROM live_rooms ORDER BY id") == [
        ("ended",),
        ("scheduled",),
        ("live",),
        ("scheduled",),
    ]
    assert query(
        database,
        "SELECT r.organisation_id IS NULL, r.pickup_point_id IS NOT NULL, a.status, "
        "g.organisation_id = a.organisation_id, g.commission_bp "
        "FROM live_rooms r JOIN live_goods g ON g.room_id = r.id "
        "JOIN live_supply_agreements a ON a.id = g.agreement_id",
    ) == [(1, 1, "accepted", 1, 800)]
    assert query(
        database,
        "SELECT count(*), count(unpinned_at) FROM live_pins p "
        "JOIN live_rooms r ON r.id = p.room_id WHERE r.status = 'ended'",
    ) == [(2, 2)]
    assert query(database, "SELECT count(*) FROM live_orders WHERE status = 'paid'") == [
        (int(streamed.group(1)),)
    ]
    # Delivered (docs/live.md "Delivery"): all but one shipped after the stream, one of them
    # received by its buyer; every paid order has its address.
    delivery = dict(
        query(
            database,
            "SELECT fulfilment_status, count(*) FROM live_orders WHERE status = 'paid' "
            "AND delivery_address IS NOT NULL GROUP BY fulfilment_status",
        )
    )
    paid_orders = int(streamed.group(1))
    assert paid_orders >= 3
    assert delivery == {"to_ship": 1, "shipped": paid_orders - 2, "received": 1}
    assert query(
        database,
        "SELECT count(*) FROM live_goods g JOIN live_rooms r ON r.id = g.room_id "
        "WHERE r.status = 'ended' AND (g.released_at IS NULL OR g.remaining <> 0)",
    ) == [(0,)]
    assert query(
        database,
        "SELECT o.kind, r.pinned_goods_id IS NOT NULL FROM live_rooms r "
        "JOIN organisations o ON o.id = r.organisation_id WHERE r.status = 'live'",
    ) == [("supplier", 1)]
    # With ffmpeg, the replay has a generated test pattern as its video, kept as recordings
    # are (remuxed into var/live-replays); without it, none.
    recorded = query(
        database,
        "SELECT c.status, c.file_name FROM live_recordings c "
        "JOIN live_rooms r ON r.id = c.room_id WHERE r.status = 'ended'",
    )
    if shutil.which("ffmpeg"):
        assert "the replay's video: a generated test pattern." in squash(output), output
        [(status, file_name)] = recorded
        assert status == "ready"
        assert (database.parent / "var" / "live-replays" / str(file_name)).is_file()
    else:
        assert recorded == []
    # Reviews (demo/protection_reviews.py): of collected lines only, some answered, one hidden.
    reviewed = re.search(
        r"Reviews: (\d+) of collected goods, (\d+) answered by the merchant, 1 hidden",
        squash(output),
    )
    assert reviewed is not None, output
    assert int(reviewed.group(1)) > 0
    assert int(reviewed.group(2)) > 0
    assert query(
        database,
        "SELECT count(*) FROM protection_reviews r JOIN groupbuy_order_lines l "
        "ON l.id = r.order_line_id WHERE l.picked_qty = 0",
    ) == [(0,)]
    assert query(
        database, "SELECT hidden_reason FROM protection_reviews WHERE hidden_at IS NOT NULL"
    ) == [("personal_data",)]
    # Complaints (demo/protection_complaints.py): every status and outcome, one escalated.
    complained = re.search(
        r"Complaints: (\d+) in every status, (\d+) taken from the platform to the regulator",
        squash(output),
    )
    assert complained is not None, output
    assert complained.groups() == ("8", "1")
    statuses = {s for (s,) in query(database, "SELECT DISTINCT status FROM protection_complaints")}
    assert statuses == {"filed", "accepted", "in_mediation", "refused", "resolved"}
    outcomes = query(
        database, "SELECT DISTINCT outcome FROM protection_complaints WHERE outcome IS NOT NULL"
    )
    assert {o for (o,) in outcomes} == {"mediated", "withdrawn", "upheld"}
    assert query(
        database,
        "SELECT decider, status FROM protection_complaints WHERE escalated_at IS NOT NULL",
    ) == [("regulator", "filed")]
    # Returns (demo/protection_returns.py) in every state, each refunded one through group
    # buying. Four days of history alone are too short for an overdue refund, but the
    # pay-later orders of two months ago (demo/pay_later.py) were collected long enough ago.
    assert re.search(r"Returns: 6 in every state \(1 refunded, 1 refund overdue\)", squash(output))
    assert query(database, "SELECT DISTINCT status FROM protection_returns ORDER BY status") == [
        ("approved",),
        ("received",),
        ("refunded",),
        ("rejected",),
        ("requested",),
    ]
    assert query(database, "SELECT count(*) FROM payment_refunds WHERE reason_code = 'return'") == [
        (1,)
    ]
    # Quality claims (demo/protection_claims.py) in every state, refunded without return
    # through group buying.
    assert re.search(
        r"Quality claims: 7 in every state \(2 refunded without return, 4 taken to the "
        r"platform\)",
        squash(output),
    ), output
    assert query(database, "SELECT DISTINCT status FROM protection_claims ORDER BY status") == [
        ("closed",),
        ("escalated",),
        ("filed",),
        ("refunded",),
        ("rejected",),
    ]
    assert query(
        database,
        "SELECT DISTINCT outcome FROM protection_claims WHERE outcome IS NOT NULL ORDER BY outcome",
    ) == [("partly",), ("rejected",), ("upheld",)]
    assert query(
        database, "SELECT count(*) FROM payment_refunds WHERE reason_code = 'quality_claim'"
    ) == [(2,)]
    # Supervision (demo/supervision_draws.py): a finished random inspection, published; a
    # report forwarded to the regulator.
    assert re.search(
        r"Supervision: a random inspection of 3 merchants, results published; 1 report "
        r"forwarded to the regulator",
        squash(output),
    )
    assert query(
        database,
        "SELECT result FROM supervision_inspection_targets WHERE published_at IS NOT NULL "
        "ORDER BY result",
    ) == [("failed",), ("issues_found",), ("passed",)]
    assert query(database, "SELECT status FROM supervision_reports") == [("forwarded",)]
    assert query(database, "SELECT coalesce(sum(amount_fen), 0) FROM ledger_postings") == [(0,)]
    # Supervision (demo/supervision.py): a gouging merchant caught, penalised and published;
    # two cases open.
    assert re.search(r"Supervision: an emergency declared, a gouging alert", squash(output))
    assert query(
        database,
        "SELECT status, count(*) FROM supervision_alerts WHERE rule_id = "
        "'supervision.price_gouging' GROUP BY status",
    ) == [("in_case", 1)]
    assert query(
        database,
        "SELECT status, decision, penalty_fen, serious FROM supervision_cases ORDER BY id",
    ) == [
        ("closed", "penalty", 5_000_000, 0),  # ¥50,000: not serious
        ("investigating", None, None, 0),
        ("rectifying", "rectify", None, 0),
        # demo/credit_story.py: a penalty 8 months old and its rectification done on time,
        # then a serious penalty decided today
        ("closed", "penalty", 3_000_000, 0),
        ("closed", "rectify", None, 0),
        ("closed", "penalty", 20_000_000, 1),
    ]
    assert query(database, "SELECT count(*) FROM supervision_emergencies") == [(1,)]
    # A price-discrimination alert raised through the OrderPaid handler (demo/supervision.py).
    assert re.search(r"Supervision: 1 price-discrimination alert", squash(output))
    assert query(
        database,
        "SELECT status, count(*) FROM supervision_alerts WHERE rule_id = "
        "'supervision.price_discrimination' GROUP BY status",
    ) == [("open", 1)]
    assert query(database, "SELECT count(*) FROM outbox_events WHERE status = 'dead'") == [(0,)]
    # Credit (linli.credit.handlers): the history's events filled the ledger for every kind of
    # subject, and the grades spread.
    credit = re.search(r"Credit: (\d+) records; grades: ([^.]*)\.", squash(output))
    assert credit is not None, output
    assert int(credit.group(1)) == count(database, "credit_records") > 0
    kinds = {k for (k,) in query(database, "SELECT DISTINCT subject_kind FROM credit_records")}
    assert kinds == {"merchant", "leader", "resident"}
    # Four days are too short for AA (months of good records): new subjects start at A;
    # merchants with a recall, an excursion, complaints, a failed inspection or a penalty, and
    # residents who left orders, fall to B; the merchants penalised this period to C.
    grades = {
        kind: {grade: int(n) for n, grade in re.findall(r"(\d+) (\w+)", per)}
        for kind, per in re.findall(r"(\w+)s ([^;]*)", credit.group(2))
    }
    assert set(grades["merchant"]) == {"A", "B", "C"}, credit.group(2)
    assert set(grades["resident"]) >= {"A", "B"}, credit.group(2)
    assert "A" in grades["leader"], credit.group(2)
    assert count(database, "credit_scores") == sum(sum(per.values()) for per in grades.values())
    # The serious penalty put its merchant on the serious-dishonesty list through credit's
    # handler; the old penalty is published and its repair waits for the regulator.
    listed = re.search(
        r"Credit lists: (\S+) on the serious-dishonesty list until (\d{4}-\d\d-\d\d); "
        r"1 credit repair waiting for the regulator \((\S+)\)",
        squash(output),
    )
    assert listed is not None, output
    assert query(
        database,
        "SELECT o.name, c.penalty_fen FROM credit_serious_list l "
        "JOIN organisations o ON o.id = l.organisation_id "
        "JOIN supervision_cases c ON c.id = l.case_id",
    ) == [(listed.group(1), 20_000_000)]
    assert query(
        database,
        "SELECT o.name, r.kind, r.status, p.penalty_fen FROM credit_requests r "
        "JOIN credit_penalties p ON p.id = r.target_id "
        "JOIN organisations o ON o.id = r.organisation_id",
    ) == [(listed.group(3), "repair", "pending", 3_000_000)]
    assert query(database, "SELECT count(*) FROM credit_penalties") == [(3,)]
    assert query(
        database,
        "SELECT kind FROM credit_records WHERE kind IN "
        "('penalty_serious', 'rectified_on_time', 'spot_check_passed') ORDER BY kind",
    ) == [("penalty_serious",), ("rectified_on_time",), ("spot_check_passed",)]
    # Pay later (demo/pay_later.py): two residents two months ago (one bill repaid on time,
    # one overdue: the facility suspended), the demo resident's bill of this month open.
    assert re.search(
        r"Pay later: 3 residents, 3 orders on credit; bills 1 repaid, 1 overdue, 1 open\.",
        squash(output),
    ), output
    assert query(
        database, "SELECT status, count(*) FROM pay_later_bills GROUP BY status ORDER BY status"
    ) == [("open", 1), ("overdue", 1), ("paid", 1)]
    assert query(
        database, "SELECT state, count(*) FROM pay_later_accounts GROUP BY state ORDER BY state"
    ) == [("active", 2), ("suspended", 1)]
    assert query(
        database,
        "SELECT kind, weight FROM credit_records WHERE kind LIKE 'pay_later%' ORDER BY kind",
    ) == [("pay_later_overdue", -80), ("pay_later_repaid", 2)]


def test_serve_refuses_unsafe_production_settings_and_says_which(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINLI_ENV", "production")
    result = run("serve")
    assert result.exit_code == 2
    output = squash(result.output)
    assert "Refusing to start with LINLI_ENV=production" in output
    for name in ("LINLI_PAYMENT_PROVIDER", "LINLI_SECURE_COOKIES", "LINLI_SECRET_KEY"):
        assert name in output


@sqlite_only
@pytest.mark.parametrize(
    ("environment", "arguments", "logged"),
    [
        ({}, (), True),  # development: see the requests
        ({"LINLI_ACCESS_LOG": "false"}, (), False),
        ({"LINLI_ENV": "production"}, (), False),  # production: off unless asked for
        ({"LINLI_ENV": "production", "LINLI_ACCESS_LOG": "true"}, (), True),
        ({"LINLI_ENV": "production"}, ("--access-log",), True),
        ({}, ("--no-access-log",), False),
    ],
)
def test_serve_writes_the_access_log_in_development_only_unless_told(
    database: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    arguments: tuple[str, ...],
    logged: bool,
) -> None:
    import uvicorn

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # production's own checks pass, so serve reaches uvicorn
    monkeypatch.setattr(Settings, "production_problems", lambda _self: [])
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **options: served.append(options))
    result = run("serve", *arguments)
    assert result.exit_code == 0, result.output
    assert [options["access_log"] for options in served] == [logged]


def test_media_config_writes_an_nginx_configuration_nginx_accepts(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`linli media-config`: the directories, nginx.conf (owner-only: it holds the callback
    secret, derived from the secret key) with Linli's callbacks, and what to run and set."""
    monkeypatch.setenv("LINLI_SECRET_KEY", "a-secret-key-for-this-test-only-0123456789")
    monkeypatch.setenv("LINLI_PUBLIC_BASE_URL", "http://127.0.0.1:8123")
    media = tmp_path / "media"
    result = run(
        "media-config", "--dir", str(media), "--rtmp-port", "19935", "--http-port", "18088"
    )
    assert result.exit_code == 0, result.output
    config = media / "nginx.conf"
    assert (config.stat().st_mode & 0o777) == 0o600
    assert all((media / name).is_dir() for name in ("hls", "recordings", "logs", "temp"))
    text = config.read_text()
    secret = Settings().media_callback_secret()
    assert "on_publish http://127.0.0.1:8123/api/v1/live/media/on_publish;" in text
    assert f"/api/v1/live/media/on_record_done?secret={secret};" in text
    assert "listen 127.0.0.1:19935;" in text
    assert "listen 127.0.0.1:18088;" in text
    assert "LINLI_MEDIA_RTMP_URL=rtmp://127.0.0.1:19935/live" in result.output
    assert "LINLI_MEDIA_HLS_URL=http://127.0.0.1:18088/hls" in result.output
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if Path(nginx).exists() and Path("/usr/lib/nginx/modules/ngx_rtmp_module.so").exists():
        shown = next(line for line in result.output.splitlines() if " -p " in line)
        assert shown.split()[1:] == ["-p", f"{media}/", "-c", str(config), "-e", ANY]
        command = [nginx, *shown.split()[1:], "-t"]
        checked = subprocess.run(command, capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr

    refused = run("media-config", "--dir", str(media), "--listen", "10.0.0.1")
    assert refused.exit_code == 2
    assert "listen on one of" in refused.output
