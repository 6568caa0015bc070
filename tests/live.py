"""A real `linli serve` process for end-to-end tests, on a database of its own.

The server is started the way an operator starts it (the `linli` console script, settings from
LINLI_* environment variables) and seeded through the same command line. Its database is a copy
of the session's migrated template (tests/conftest.py, `migrated_once`), so the migrations that
`linli serve` runs at startup find nothing to do (migrating an empty database took most of a
start). On SQLite the database is a file in a temporary directory; when LINLI_TEST_DATABASE_URL
names PostgreSQL, a sibling database `<testdb>_<name>` is dropped and created on the same server
(CREATE DATABASE ... TEMPLATE).

Use the session-scoped `live_server` fixture by importing it into a test module:

    from tests.live import live_server  # noqa: F401
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DATABASE_KIND, PG_URL, migrated_once, quoted_name

# An instance migrating an empty database before it answered was seen to take over 30 s on the
# 2 cores at a load of 8 (both suites and other work side by side); a seed still does that.
STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 120.0
SEED_TIMEOUT = 600.0  # a demo city with some history, on a busy machine
# The demo city with a few days of history that several modules serve or read (seeded once).
DEMO_CITY = ("demo", "--no-serve", "--seed", "5", "--residents", "600", "--history-days", "4")
ADMIN_SCOPES = ("account", "resident", "leader", "org:read", "org:write", "platform")


def linli_command() -> list[str]:
    """The `linli` console script installed next to this interpreter (or the Typer app)."""
    script = Path(sys.executable).parent / "linli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from linli.cli import app; app(prog_name='linli')"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _recreate_postgres_database(url: URL) -> None:
    maintenance = url.set(database="postgres")
    engine = create_async_engine(maintenance, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            name = quoted_name(str(url.database))
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()


async def _drop_postgres_database(url: URL) -> None:
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            name = quoted_name(str(url.database))
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await engine.dispose()


def fresh_database(workdir: Path, name: str) -> str:
    """A new, empty database (for a seed: `linli demo` starts from an empty one anyway)."""
    if DATABASE_KIND == "postgresql":
        base = make_url(PG_URL)
        url = base.set(database=f"{base.database}_{name}")
        asyncio.run(_recreate_postgres_database(url))
        return url.render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{(workdir / f'{name}.sqlite3').as_posix()}"


def server_environment(database_url: str, workdir: Path) -> dict[str, str]:
    """The parent's environment without any LINLI_* setting, plus the instance's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        {
            "LINLI_DATABASE_URL": database_url,
            "LINLI_VAR_DIR": str(workdir / "var"),
            "LINLI_SECRET_KEY": secrets.token_urlsafe(32),
            "LINLI_DEFAULT_LOCALE": "en",
            "COLUMNS": "120",  # rich wraps console output at the terminal width
            "NO_COLOR": "1",
            "TYPER_STANDARD_TRACEBACK": "1",  # plain tracebacks read better in a test report
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class LiveServer:
    """A served instance: its base URL, its environment, and the CLI against its database."""

    url: str
    env: dict[str, str]
    workdir: Path
    database_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def run_cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> str:
        """Run `linli ARGS...` against this instance's database; returns stdout, fails loudly."""
        result = subprocess.run(
            [*linli_command(), *args],
            env=self.env,
            cwd=self.workdir,  # so no stray .env file of the developer's is read
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"`linli {' '.join(args)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result.stdout

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int, limit: int = 20_000) -> str:
        """What the server has printed since `offset` (a `log_size()`), at most its last `limit`."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")[-limit:]

    def start(self) -> None:
        host, port = "127.0.0.1", free_port()
        self.url = f"http://{host}:{port}"
        # The sandbox payment provider calls this instance back at its own address.
        self.env["LINLI_PUBLIC_BASE_URL"] = self.url
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*linli_command(), "serve", "--host", host, "--port", str(port)],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"`linli serve` exited with {self.process.returncode} before answering "
                    f"/healthz; its output:\n{self.log()}"
                )
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2.0)
            except httpx.HTTPError as error:
                last_problem = repr(error)
            else:
                if response.status_code == 200:
                    served = response.json().get("database")
                    assert served == DATABASE_KIND, f"served on {served}, not {DATABASE_KIND}"
                    return
                last_problem = f"{response.status_code} {response.text[:200]}"
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"`linli serve` did not answer /healthz with 200 within {STARTUP_TIMEOUT:.0f} s "
            f"(last: {last_problem}); its output:\n{self.log()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def seed_platform_admin(
        self,
        *,
        phone: str,
        password: str,
        name: str = "Platform admin",
        scopes: tuple[str, ...] = ADMIN_SCOPES,
    ) -> str:
        """Create a user, a platform organisation, make them its admin; return a bearer token."""
        self.run_cli("user", "create", "--phone", phone, "--name", name, "--password", password)
        created = self.run_cli("org", "create", "--kind", "platform", "--name", f"{name} org")
        match = re.search(r"Created organisation (\d+)", created)
        assert match, f"no organisation id in {created!r}"
        org_id = match.group(1)
        self.run_cli("user", "grant", "--phone", phone, "--org", org_id, "--role", "admin")
        token_args = ["--phone", phone, "--name", "live tests", "--org", org_id]
        scope_args = [arg for scope in scopes for arg in ("--scope", scope)]
        printed = self.run_cli("token", "create", *token_args, *scope_args)
        token = printed.strip().splitlines()[-1].strip()
        assert re.fullmatch(r"linli_[A-Za-z0-9_-]{20,}", token), f"no token in {printed!r}"
        return token


@dataclass(frozen=True)
class SeededTemplate:
    """A database seeded once per test session by one `linli` command, copied per instance.

    Seeding a demo city with history takes minutes on a busy 2-core machine, and several
    modules serve the same city; each instance still gets a database of its own (tests write).
    """

    database_url: str  # SQLite: the template file; PostgreSQL: the template database
    var_dir: Path  # what the seed wrote under LINLI_VAR_DIR (images...)
    secret_key: str  # the LINLI_SECRET_KEY the seed ran with
    output: str  # what the seed printed

    @property
    def sqlite_path(self) -> Path:
        database = make_url(self.database_url).database
        assert DATABASE_KIND == "sqlite", self.database_url
        assert database, self.database_url
        return Path(database)


_SEEDED: dict[tuple[str, ...], SeededTemplate] = {}
_SEED_DIRS: list[Path] = []


def seeded_template(seed: tuple[str, ...]) -> SeededTemplate:
    """The session's template for `linli SEED...`, seeded on first use."""
    cached = _SEEDED.get(seed)
    if cached is not None:
        return cached
    workdir = Path(tempfile.mkdtemp(prefix="linli-seeded-"))
    _SEED_DIRS.append(workdir)
    digest = hashlib.sha256("\0".join(seed).encode()).hexdigest()[:12]
    database_url = fresh_database(workdir, f"seeded_{digest}")
    env = server_environment(database_url, workdir)
    runner = LiveServer(
        url="", env=env, workdir=workdir, database_url=database_url, log_path=workdir / "log"
    )
    try:
        output = runner.run_cli(*seed, timeout=SEED_TIMEOUT)
    except BaseException:
        if DATABASE_KIND == "postgresql":
            asyncio.run(_drop_postgres_database(make_url(database_url)))
        raise
    template = SeededTemplate(
        database_url=database_url,
        var_dir=workdir / "var",
        secret_key=env["LINLI_SECRET_KEY"],
        output=output,
    )
    _SEEDED[seed] = template
    return template


def copy_sqlite_database(template: SeededTemplate | Path, target: Path) -> None:
    """The template's file (with its write-ahead log, if one was left) at `target`."""
    source = template if isinstance(template, Path) else template.sqlite_path
    shutil.copyfile(source, target)
    for suffix in ("-wal",):
        journal = source.with_name(source.name + suffix)
        if journal.exists():
            shutil.copyfile(journal, target.with_name(target.name + suffix))


async def _create_postgres_database_from(url: URL, template: URL) -> None:
    engine = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            name = quoted_name(str(url.database))
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            source = quoted_name(str(template.database))
            await connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {source}"))
    finally:
        await engine.dispose()


def database_from_template(workdir: Path, name: str, template: SeededTemplate) -> str:
    """A new database for one served instance, a copy of the seeded template, and its var/."""
    if template.var_dir.exists():
        shutil.copytree(template.var_dir, workdir / "var", dirs_exist_ok=True)
    if DATABASE_KIND == "postgresql":
        base = make_url(PG_URL)
        url = base.set(database=f"{base.database}_{name}")
        asyncio.run(_create_postgres_database_from(url, make_url(template.database_url)))
        return url.render_as_string(hide_password=False)
    target = workdir / f"{name}.sqlite3"
    copy_sqlite_database(template, target)
    return f"sqlite+aiosqlite:///{target.as_posix()}"


def migrated_database(workdir: Path, name: str) -> str:
    """A new database for one served instance, a copy of the session's migrated template:
    `linli serve` still runs its migrations at startup, and they find nothing to do."""
    template = make_url(migrated_once().pristine)
    if DATABASE_KIND == "postgresql":
        base = make_url(PG_URL)
        url = base.set(database=f"{base.database}_{name}")
        asyncio.run(_create_postgres_database_from(url, template))
        return url.render_as_string(hide_password=False)
    assert template.database, template
    target = workdir / f"{name}.sqlite3"
    copy_sqlite_database(Path(template.database), target)
    return f"sqlite+aiosqlite:///{target.as_posix()}"


def drop_database(database_url: str) -> None:
    """A PostgreSQL database made by `fresh_database`, `migrated_database` or
    `database_from_template` goes (a SQLite file goes with its temporary directory)."""
    if DATABASE_KIND == "postgresql":
        asyncio.run(_drop_postgres_database(make_url(database_url)))


def drop_seeded_templates() -> None:
    """At the end of the session: the template databases and their directories go."""
    for template in _SEEDED.values():
        if DATABASE_KIND == "postgresql":
            asyncio.run(_drop_postgres_database(make_url(template.database_url)))
    _SEEDED.clear()
    for workdir in _SEED_DIRS:
        shutil.rmtree(workdir, ignore_errors=True)
    _SEED_DIRS.clear()


@contextlib.contextmanager
def serve_live(
    workdir: Path, name: str = "live", *, seed: tuple[str, ...] = ()
) -> Iterator[LiveServer]:
    """Serve a fresh instance from `workdir` until the block ends, on a copy of the session's
    migrated template (`migrated_database`), or with `seed`, a `linli` command (for example
    `("demo", "--no-serve")`), on a copy of a database that command seeded.

    The seed runs once per session for the same arguments (`seeded_template`); every instance
    serves its own copy of that database and var/, with the secret key the seed ran with.

    `workdir` keeps the server's log (`<name>-server.log`), var/ and, on SQLite, the database
    file for a post-mortem; a PostgreSQL database is dropped at the end.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    template = seeded_template(seed) if seed else None
    if template is None:
        database_url = migrated_database(workdir, name)
    else:
        database_url = database_from_template(workdir, name, template)
    env = server_environment(database_url, workdir)
    if template is not None:
        env["LINLI_SECRET_KEY"] = template.secret_key
    server = LiveServer(
        url="",
        env=env,
        workdir=workdir,
        database_url=database_url,
        log_path=workdir / f"{name}-server.log",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if DATABASE_KIND == "postgresql":
            asyncio.run(_drop_postgres_database(make_url(database_url)))


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One served instance for the whole run (started on first use)."""
    with serve_live(tmp_path_factory.mktemp("live"), "live") as server:
        yield server
