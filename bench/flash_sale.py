"""Flash-sale benchmark: N buyers race for S units of one group-buy campaign SKU, against
two baselines measured in the same run.

Three rungs, interleaved and repeated (A B C A B C ..., `--rounds`, medians reported):

A. raw: the bare conditional stock UPDATE on one hot row, run by pgbench (or an asyncpg loop
   when pgbench is missing) with N clients on the same PostgreSQL server;
B. HTTP floor: the same lean client as C against bench/floor_app.py, a bare ASGI app served
   as `linli serve` serves Linli (uvicorn, same options and worker count, the engine of
   `linli.db.make_engine` with the same pool settings), whose one endpoint runs that UPDATE;
C. the app: `linli serve --workers N` on a fresh database, N buyers placing orders through
   the real API, each acknowledged order paid by a signed sandbox callback, until the item is
   sold out. The clock stops when every acknowledged order is paid in the database and the
   outbox has no pending event; then the database is checked (oversold units, lost orders).

The client (bench/lean_http.py) sends pre-built HTTP/1.1 requests over keep-alive connections
and parses answers with httptools; its CPU, the server processes' CPU and the CPU of the
PostgreSQL backends of the run's databases are reported per sale for each rung
(bench/cpu_usage.py). The rungs last at least `--raw-seconds` (A, B) and about `--race-seconds`
(C: the units are scaled from the previous rung's rate). `--profile` adds an app rung under
py-spy with every SQL statement counted (bench/statement_count.py).

    .venv/bin/python bench/flash_sale.py [--buyers 64] [--units 500] [--rounds 3] [--json]
        [--raw-seconds 10] [--race-seconds 10] [--workers N] [--fresh-buyers] [--keep-db]
        [--profile]

Progress goes to stderr; the result table (or, with --json, one JSON object) to stdout.
Exit status: 0 when nothing was oversold or lost, 1 when something was, 2 when the run could
not be carried out (e.g. the group-buy API is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import cpu_usage
import httpx
import lean_http
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

# --- settings of the run ------------------------------------------------------------------

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
PASSWORD = "Flash-Sale-2026"  # noqa: S105 (throwaway accounts in a throwaway database)
ADMIN_PHONE = "13800000001"
OWNER_PHONE = "13800000002"
LEADER_PHONE = "13800000003"
BUYER_PHONE_BASE = 13900000000
PRICE_FEN = 5990
GROUP_PRICE_FEN = 3990
TARGET_RATIO = 0.5

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
RACE_DEADLINE = 120.0  # the raced phase stops by itself after this many seconds
SETTLE_DEADLINE = 20.0  # how long the check waits for paid orders to show in the database
# How long an app rung's clock waits, after the last answer, for every acknowledged order to
# be paid and the outbox to be empty: the in-process dispatcher can be far behind the HTTP
# traffic (in Dec 2026 by 20 s and more after 500 sales on a loaded machine).
CLOCK_DEADLINE = 300.0
SETTLE_POLL = 0.02  # how often the clock looks whether every order is paid, outbox empty
SCALE_MARGIN = 1.15  # an app rung's units: the rate so far x --race-seconds x this
FLOOR_WARM_UP = 1.0  # seconds of floor traffic after each start of the floor, not measured
SHORT_RUNG = 0.9  # a rung shorter than this share of its target is reported
SALE_SKU_STOCK = 5_000_000  # the SKU every sale campaign takes its stock from
BENCH_DIR = Path(__file__).resolve().parent
RETRIES = 3  # a request that failed in transit or with 5xx is repeated (same idempotency key)

CAMPAIGNS = "/api/v1/groupbuy/campaigns"
ORDERS = "/api/v1/groupbuy/orders"
CALLBACK = "/api/v1/payments/callbacks/sandbox"
ORDERED = (201, 200)  # 200: a repeated request (same Idempotency-Key) returns its order
SOLD_OUT = "sold_out"
# Answers meaning "your previous order here is still being settled": wait a moment, retry.
SETTLING_CODES: frozenset[str] = frozenset({"unpaid_order_exists"})
MAX_PER_RESIDENT = 10_000  # the API's largest per-resident limit
FLOOR_TAKE = "/take"
REQUIRED_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("post", CAMPAIGNS),
    ("post", CAMPAIGNS + "/{campaign_id}/publish"),
    ("post", ORDERS),
    ("post", CALLBACK),
)


def log(message: str) -> None:
    print(f"[flash-sale] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The run could not be carried out (not a measurement: a broken setup)."""


# --- the database of the run --------------------------------------------------------------


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _maintenance(server: URL, statements: Sequence[str]) -> None:
    engine = create_async_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


def create_database(server: URL, name: str) -> URL:
    quoted = _quoted(name)
    asyncio.run(
        _maintenance(
            server, [f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)", f"CREATE DATABASE {quoted}"]
        )
    )
    return server.set(database=name)


def drop_database(server: URL, name: str) -> None:
    asyncio.run(_maintenance(server, [f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)"]))


# --- the `linli` command line and the served instance -------------------------------------


def linli_command() -> list[str]:
    script = Path(sys.executable).parent / "linli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from linli.cli import app; app(prog_name='linli')"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Instance:
    """A fresh database, the environment every `linli` command of the run gets, the server."""

    database_url: str
    workdir: Path
    port: int
    sandbox_secret: str
    workers: int = 1
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
        self.env.update(
            {
                "LINLI_DATABASE_URL": self.database_url,
                "LINLI_VAR_DIR": str(self.workdir / "var"),
                "LINLI_SECRET_KEY": secrets.token_urlsafe(32),
                "LINLI_PAYMENT_SANDBOX_SECRET": self.sandbox_secret,
                "LINLI_PUBLIC_BASE_URL": self.url,
                "LINLI_DEFAULT_LOCALE": "en",
                # Served as in production (LINLI_ENV=production would refuse the sandbox).
                "LINLI_ACCESS_LOG": os.environ.get("BENCH_ACCESS_LOG", "false"),
                # To compare with pinging at every checkout (0), as before issue 14.
                "LINLI_DB_PRE_PING_IDLE_SECONDS": os.environ.get(
                    "BENCH_PRE_PING_IDLE_SECONDS", "5"
                ),
                "COLUMNS": "200",
                "NO_COLOR": "1",
                "TYPER_STANDARD_TRACEBACK": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def cli(self, *args: str) -> str:
        """`linli ARGS...` against the run's database; its stdout, or BenchError."""
        result = subprocess.run(
            [*linli_command(), *args],
            env=self.env,
            cwd=self.workdir,  # no stray .env file is read
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise BenchError(
                f"`linli {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            )
        return result.stdout

    def serve_command(self) -> list[str]:
        served = ["--host", HOST, "--port", str(self.port), "--workers", str(self.workers)]
        return [*linli_command(), "serve", *served]

    def start(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((HOST, self.port)) == 0:
                raise BenchError(f"something already answers on {self.url}")
        with self.log_path.open("ab") as out:  # restarted once per round
            self.process = subprocess.Popen(
                self.serve_command(),
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"`{' '.join(self.serve_command()[-8:])}` exited with "
                    f"{self.process.returncode}; see {self.log_path}"
                )
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=2.0)
            except httpx.HTTPError:
                health = None
            if health is not None and health.status_code == 200:
                if health.json().get("database") != "postgresql":
                    raise BenchError(f"served on {health.json().get('database')}, not PostgreSQL")
                return
            time.sleep(0.1)
        raise BenchError(f"the server did not answer /healthz in {STARTUP_TIMEOUT:.0f} s")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def cpu_seconds(self) -> float:
        """CPU time the server's processes (with --workers: the supervisor and its workers)
        have used so far (Linux /proc; 0 elsewhere)."""
        return cpu_usage.tree_cpu(self.process.pid) if self.process is not None else 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


@dataclass
class FloorServer(Instance):
    """bench/floor_app.py on the raw database, served as `linli serve` serves the app."""

    @property
    def log_path(self) -> Path:
        return self.workdir / "floor.log"

    def serve_command(self) -> list[str]:
        served = ["--host", HOST, "--port", str(self.port), "--workers", str(self.workers)]
        return [sys.executable, str(BENCH_DIR / "floor_app.py"), *served]


@dataclass
class CountedInstance(Instance):
    """The app served by bench/statement_count.py: `linli serve`'s way, every SQL statement,
    pool checkout and transaction counted per worker (for --profile only)."""

    counts_dir: Path = Path()

    @property
    def log_path(self) -> Path:
        return self.workdir / "server-profiled.log"

    def serve_command(self) -> list[str]:
        served = ["--host", HOST, "--port", str(self.port), "--workers", str(self.workers)]
        return [sys.executable, str(BENCH_DIR / "statement_count.py"), *served]


# --- seeding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buyer:
    user_id: int
    token: str


@dataclass(frozen=True)
class Seeded:
    merchant_org_id: int
    merchant_token: str
    sku_id: int
    warmup_sku_id: int
    pickup_point_id: int
    buyers: list[Buyer]


def _created_id(printed: str) -> int:
    match = re.search(r"Created organisation (\d+)", printed)
    if match is None:
        raise BenchError(f"no organisation id in {printed!r}")
    return int(match.group(1))


def seed_with_cli(instance: Instance) -> tuple[int, int, str]:
    """What the command line can do: schema, admin, platform, merchant org and its owner."""
    instance.cli("init")
    instance.cli(
        "user", "create", "--phone", ADMIN_PHONE, "--name", "平台管理员", "--password", PASSWORD
    )
    platform_id = _created_id(
        instance.cli("org", "create", "--kind", "platform", "--name", "邻里平台")
    )
    instance.cli(
        "user", "grant", "--phone", ADMIN_PHONE, "--org", str(platform_id), "--role", "admin"
    )
    instance.cli(
        "user", "create", "--phone", OWNER_PHONE, "--name", "秒杀店主", "--password", PASSWORD
    )
    region = ["--province", "310000", "--city", "310100", "--district", "310115"]
    merchant_id = _created_id(
        instance.cli("org", "create", "--kind", "merchant", "--name", "邻里鲜果铺", *region)
    )
    instance.cli(
        "user", "grant", "--phone", OWNER_PHONE, "--org", str(merchant_id), "--role", "owner"
    )
    scopes = ["--scope", "account", "--scope", "org:read", "--scope", "org:write"]
    printed = instance.cli(
        "token",
        "create",
        "--phone",
        OWNER_PHONE,
        "--org",
        str(merchant_id),
        "--name",
        "bench",
        *scopes,
    )
    token = printed.strip().splitlines()[-1].strip()
    if not token.startswith("linli_"):
        raise BenchError(f"no token in {printed!r}")
    return platform_id, merchant_id, token


def _credit_code(seed: int) -> str:
    from linli.merchants.credit_code import check_character, organisation_check_character

    body = f"91310115{seed:08d}"
    first17 = body + (organisation_check_character(body[8:16]) or "0")
    return first17 + check_character(first17)


async def _seed_domain(
    session: AsyncSession,
    *,
    platform_id: int,
    merchant_id: int,
    buyers: int,
    units: int,
    accounts_count: int,
) -> tuple[int, int, int, list[Buyer]]:
    """What the command line cannot do, through the service layer as the demo seed does."""
    from sqlalchemy import select

    from linli import clock
    from linli.accounts import service as accounts
    from linli.accounts.models import Organisation, User
    from linli.authz import Actor, OrganisationRef, UserRef
    from linli.catalog import products as catalog
    from linli.catalog.schemas import ProductCreateIn, SkuIn
    from linli.community import service as community
    from linli.community.schemas import CommunityIn, LeaderApplicationIn
    from linli.merchants.models import MerchantApplication, MerchantProfile
    from linli.security import hash_password

    system = Actor.for_system()
    admin = await session.scalar(
        select(User).where(User.phone == accounts.require_mobile(ADMIN_PHONE))
    )
    owner = await session.scalar(
        select(User).where(User.phone == accounts.require_mobile(OWNER_PHONE))
    )
    platform = await session.get(Organisation, platform_id)
    merchant = await session.get(Organisation, merchant_id)
    assert admin is not None
    assert owner is not None
    assert platform is not None
    assert merchant is not None
    reviewer = Actor(
        user=UserRef.of(admin),
        organisation=OrganisationRef.of(platform),
        roles=frozenset({"admin"}),
    )
    owner_actor = Actor(
        user=UserRef.of(owner),
        organisation=OrganisationRef.of(merchant),
        roles=frozenset({"owner"}),
    )

    # A verified merchant (the onboarding flow's outcome, written directly as the tests do).
    now = clock.now()
    code = _credit_code(merchant_id)
    scope = ["fresh_food"]
    application = MerchantApplication(
        applicant_user_id=owner.id,
        kind="merchant",
        foreign_trade=False,
        company_name=merchant.name,
        credit_code=code,
        legal_representative="王秒",
        address="上海市浦东新区张江路1号",
        province_code="310000",
        city_code="310100",
        district_code="310115",
        business_scope=scope,
        contact_name="王秒",
        contact_phone="+8613800000002",
        status="approved",
        rule_id="market_access.negative_list",
        rule_version=1,
        organisation_id=merchant_id,
        created_at=now,
    )
    session.add(application)
    await session.flush()
    session.add(
        MerchantProfile(
            organisation_id=merchant_id,
            application_id=application.id,
            credit_code=code,
            legal_representative="王秒",
            address="上海市浦东新区张江路1号",
            business_scope=scope,
            verified_at=now,
            next_verification_due=now + timedelta(days=180),
            listings_paused=False,
            paused_reason=None,
        )
    )
    await session.flush()

    # A listed fresh-food product: one SKU for the sale, one for the warm-up campaign.
    product = await catalog.create_product(
        session,
        owner_actor,
        ProductCreateIn(
            category="fresh_food",
            name="烟台红富士苹果",
            description="脆甜多汁，果径80mm以上",
            unit="箱",
            shelf_life_days=30,
            storage_class="chilled",
            origin="山东烟台",
            sku=SkuIn(
                code="5KG", specs={"重量": "5 kg"}, price_fen=PRICE_FEN, stock=SALE_SKU_STOCK
            ),
        ),
    )
    warm = await catalog.add_sku(
        session,
        owner_actor,
        product.id,
        SkuIn(code="2KG", specs={"重量": "2 kg"}, price_fen=PRICE_FEN - 1000, stock=buyers * 40),
    )
    await catalog.list_product(session, owner_actor, product.id)
    from linli.catalog.models import Sku

    sale_sku = await session.scalar(
        select(Sku.id).where(Sku.product_id == product.id, Sku.code == "5KG")
    )
    assert sale_sku is not None

    # A community with a pickup point run by an approved group leader.
    created = await community.create_community(
        session,
        reviewer,
        CommunityIn(
            name="张江汤臣豪园",
            province_code="310000",
            city_code="310100",
            district_code="310115",
            address="上海市浦东新区张江汤臣豪园",
            latitude=31.2,
            longitude=121.6,
        ),
    )
    password_hash = hash_password(PASSWORD)
    leader = await accounts.signup(
        session,
        system,
        phone=LEADER_PHONE,
        password=PASSWORD,
        display_name="团长",
        password_hash=password_hash,
    )
    applied = await community.apply_as_leader(
        session,
        Actor(user=UserRef.of(leader)),
        LeaderApplicationIn(
            community_id=created.id,
            point_name="3号楼快递驿站",
            point_address="张江汤臣豪园3号楼底层",
            opening_hours="08:00-20:00",
            daily_capacity=10_000,
        ),
    )
    decided = await community.decide_leader(
        session, reviewer, applied.id, approve=True, commission_bp=500, reason=None
    )
    point_id = decided.pickup_point_id
    assert point_id is not None

    # The buyers: residents of that community, each with a bearer token.
    seeded: list[Buyer] = []
    for number in range(accounts_count):
        user = await accounts.signup(
            session,
            system,
            phone=str(BUYER_PHONE_BASE + number + 1),
            password=PASSWORD,
            display_name=f"买家{number + 1}",
            password_hash=password_hash,
        )
        token, _row = await accounts.create_token(
            session, system, name="flash sale", scopes=["account", "resident"], for_user=user
        )
        await community.join(
            session,
            Actor(user=UserRef.of(user)),
            community_id=created.id,
            pickup_point_id=point_id,
        )
        seeded.append(Buyer(user.id, token))
    return int(sale_sku), warm.id, point_id, seeded


def seed(instance: Instance, *, buyers: int, units: int, accounts: int) -> Seeded:
    platform_id, merchant_id, merchant_token = seed_with_cli(instance)

    async def run() -> tuple[int, int, int, list[Buyer]]:
        from linli.app import load_domain_handlers
        from linli.db import make_engine, make_sessionmaker

        load_domain_handlers()
        engine = make_engine(instance.database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await _seed_domain(
                    session,
                    platform_id=platform_id,
                    merchant_id=merchant_id,
                    buyers=buyers,
                    units=units,
                    accounts_count=accounts,
                )
        finally:
            await engine.dispose()

    sku_id, warm_sku_id, point_id, seeded = asyncio.run(run())
    return Seeded(merchant_id, merchant_token, sku_id, warm_sku_id, point_id, seeded)


# --- talking to the served API ------------------------------------------------------------


class ApiMissing(BenchError):
    """The group-buy endpoints this benchmark drives are not served (yet)."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            "the group-buy API is not served: missing "
            + ", ".join(self.missing)
            + " (see /openapi.json of the server; src/linli/groupbuy/ must provide them)"
        )


def missing_endpoints(base_url: str) -> list[str]:
    spec = httpx.get(f"{base_url}/openapi.json", timeout=60.0).json()  # built on first use
    paths: dict[str, dict[str, Any]] = spec.get("paths", {})
    normalized = {re.sub(r"\{[^}]*\}", "{}", path): ops for path, ops in paths.items()}
    missing = []
    for method, path in REQUIRED_ENDPOINTS:
        if method not in normalized.get(re.sub(r"\{[^}]*\}", "{}", path), {}):
            missing.append(f"{method.upper()} {path}")
    return missing


@dataclass
class Tally:
    """Every response of a phase: status counts, latencies of the successful ones."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    transport: dict[str, int] = field(default_factory=dict)  # by kind of failure
    requests: int = 0

    @property
    def transport_errors(self) -> int:
        return sum(self.transport.values())

    def record(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def note(self, status: int, body: bytes) -> None:
        shown = error_code(body) or body[:80].decode("utf-8", "replace")
        key = f"{status} {shown}"
        self.unexpected[key] = self.unexpected.get(key, 0) + 1

    def failed_in_transit(self, error: Exception) -> None:
        kind = str(error).split("(")[0].strip() or type(error).__name__
        self.transport[kind] = self.transport.get(kind, 0) + 1

    @property
    def count_4xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if 400 <= status < 500)

    @property
    def count_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
        return ordered[rank]


def error_code(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else None


async def send(
    connection: lean_http.LeanConnection, raw: bytes, tally: Tally, *, success: tuple[int, ...]
) -> tuple[int, bytes] | None:
    """Send a pre-built request, repeating it (same bytes, so the same idempotency key) after
    a failure in transit or a 5xx (bounded)."""
    for _ in range(RETRIES):
        started = time.perf_counter()
        try:
            status, body = await connection.request(raw)
        except lean_http.TransportFailure as error:
            tally.failed_in_transit(error)
            continue
        tally.record(status)
        if status in success:
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status < 500:
            return status, body
        tally.note(status, body)
    return None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Campaign:
    id: int
    item_id: int


async def open_campaign(
    client: httpx.AsyncClient, seeded: Seeded, *, title: str, sku_id: int, stock: int
) -> Campaign:
    """Create and publish a campaign (setup, through httpx: not timed)."""
    from linli import clock

    now = clock.now()
    cutoff = now + timedelta(days=1)
    pickup = cutoff.astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    body = {
        "title": title,
        "opens_at": (now - timedelta(minutes=1)).isoformat(),
        "cutoff_at": cutoff.isoformat(),
        "pickup_date": pickup.isoformat(),
        "items": [
            {
                "sku_id": sku_id,
                "group_price_fen": GROUP_PRICE_FEN,
                "per_resident_limit": MAX_PER_RESIDENT,  # no limit: the race is for the stock
                "stock": stock,
                "min_group_qty": 1,
            }
        ],
    }
    headers = bearer(seeded.merchant_token)
    created = await client.post(CAMPAIGNS, json=body, headers=headers)
    if created.status_code != 201:
        raise BenchError(f"POST {CAMPAIGNS}: {created.status_code} {created.text[:500]}")
    campaign = created.json()
    published = await client.post(f"{CAMPAIGNS}/{campaign['id']}/publish", headers=headers)
    if published.status_code not in (200, 201):
        raise BenchError(
            f"POST {CAMPAIGNS}/{campaign['id']}/publish: "
            f"{published.status_code} {published.text[:500]}"
        )
    return Campaign(int(campaign["id"]), int(campaign["items"][0]["id"]))


@dataclass(frozen=True)
class Ack:
    """An order the API acknowledged (201): it must be in the database, and paid."""

    order_id: int
    payment_public_id: str
    amount_fen: int


@dataclass
class Race:
    """One raced sale: every order request, every callback, and what was acknowledged."""

    orders: Tally = field(default_factory=Tally)
    callbacks: Tally = field(default_factory=Tally)
    purchases_ms: list[float] = field(default_factory=list)  # order + callback, end to end
    acks: dict[int, Ack] = field(default_factory=dict)  # by order id
    paid: set[int] = field(default_factory=set)  # orders whose callback was acknowledged
    sold_out: int = 0
    waits: int = 0  # "your previous order is not settled yet" answers (retried after a pause)
    seconds: float = 0.0  # until the last buyer's sold-out answer
    timed_out: bool = False

    @property
    def successful(self) -> int:
        """Orders acknowledged by the API and paid by an acknowledged callback."""
        return len(self.paid)

    @property
    def requests(self) -> int:
        return self.orders.requests + self.callbacks.requests


class Buying:
    """The pre-built requests of one sale: an order's head per buyer (the idempotency key and
    the body appended per request), callbacks built from the signed notification."""

    def __init__(self, host: str, seeded: Seeded, campaign: Campaign, secret: str) -> None:
        self.host = host
        self.secret = secret
        self.body = json.dumps(
            {
                "campaign_id": campaign.id,
                "lines": [{"item_id": campaign.item_id, "quantity": 1}],
                "pickup_point_id": seeded.pickup_point_id,
                "accept_return_terms": True,
            }
        ).encode()
        self.heads: dict[str, bytes] = {}
        self.tag = secrets.token_hex(6)
        self.counter = 0

    def order(self, buyer: Buyer) -> bytes:
        head = self.heads.get(buyer.token)
        if head is None:
            headers = [("Authorization", f"Bearer {buyer.token}")]
            headers.append(("Content-Type", "application/json"))
            head = lean_http.request_head("POST", ORDERS, self.host, headers, len(self.body))
            self.heads[buyer.token] = head
        self.counter += 1
        key = f"Idempotency-Key: {self.tag}-{self.counter}\r\n\r\n".encode()
        return head + key + self.body

    def callback(self, ack: Ack) -> bytes:
        from linli.payments import providers

        self.counter += 1
        headers, body = providers.signed_notification(
            self.secret,
            intent_public_id=ack.payment_public_id,
            amount_fen=ack.amount_fen,
            provider_txn_id=f"bench{self.tag}{self.counter}",
        )
        return lean_http.build_request("POST", CALLBACK, self.host, headers.items(), body)


async def race(
    connections: Sequence[lean_http.LeanConnection],
    seeded: Seeded,
    buying: Buying,
    *,
    fresh: bool,
    max_attempts: int,
    deadline: float,
) -> Race:
    """One buyer per connection orders one unit, pays it by a signed callback, and repeats
    until the API answers 409 sold_out (or a bound is hit: attempts, repeated refusals,
    deadline). Buyer i is seeded buyer i; with `fresh`, each order is placed by a resident
    who has not ordered yet (so nobody waits for their previous order to be marked paid)."""
    from linli.payments import providers

    result = Race()
    acknowledged = json.dumps(providers.ACKNOWLEDGEMENT).encode()

    async def pay(connection: lean_http.LeanConnection, ack: Ack) -> bool:
        answer = await send(connection, buying.callback(ack), result.callbacks, success=(200,))
        if answer is None:
            return False
        status, body = answer
        if status == 200 and (
            body == acknowledged or json.loads(body) == providers.ACKNOWLEDGEMENT
        ):
            return True
        result.callbacks.note(status, body)
        return False

    pool = list(reversed(seeded.buyers))

    async def one_buyer(index: int, connection: lean_http.LeanConnection) -> None:
        buyer: Buyer | None = None if fresh else seeded.buyers[index]
        refused_in_a_row = settling = 0
        for _ in range(max_attempts):
            if buyer is None:
                if not pool:
                    return
                buyer = pool.pop()
            started = time.perf_counter()
            answer = await send(connection, buying.order(buyer), result.orders, success=ORDERED)
            status, body = answer if answer is not None else (0, b"")
            if status in ORDERED:
                settling = 0
                placed = json.loads(body)
                ack = Ack(
                    order_id=int(placed["order"]["id"]),
                    payment_public_id=str(placed["payment"]["public_id"]),
                    amount_fen=int(placed["payment"]["amount_fen"]),
                )
                result.acks[ack.order_id] = ack
                if fresh:
                    buyer = None
                if await pay(connection, ack):
                    result.paid.add(ack.order_id)
                    result.purchases_ms.append((time.perf_counter() - started) * 1000)
                    refused_in_a_row = 0
                    continue
            else:
                code = error_code(body) if answer is not None else None
                if code == SOLD_OUT:
                    result.sold_out += 1
                    return
                if code in SETTLING_CODES:
                    # The previous order is paid but not yet marked paid (the dispatcher does
                    # that after the callback): back off 25 ms, 50 ms, ... at most 400 ms.
                    result.waits += 1
                    await asyncio.sleep(min(0.025 * 2**settling, 0.4))
                    settling += 1
                    continue
                if answer is not None:
                    result.orders.note(status, body)
            refused_in_a_row += 1
            if refused_in_a_row >= 10:  # a broken setup, not a race: stop hammering
                return

    started = time.perf_counter()
    tasks = [
        asyncio.ensure_future(one_buyer(index, connection))
        for index, connection in enumerate(connections)
    ]
    finished, unfinished = await asyncio.wait(tasks, timeout=deadline)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    result.seconds = time.perf_counter() - started
    result.timed_out = bool(unfinished)
    for task in finished:
        task.result()  # a bug in the benchmark itself surfaces here
    return result


PENDING_EVENTS = text("SELECT count(*) FROM outbox_events WHERE status = 'pending'")


async def wait_for_dispatcher(database_url: str, deadline: float) -> int:
    """Wait (bounded) until the in-server dispatcher has handled every pending event."""
    engine = create_async_engine(database_url)
    try:
        pending = -1
        stop = time.monotonic() + deadline
        while time.monotonic() < stop:
            async with engine.connect() as connection:
                pending = int(await connection.scalar(PENDING_EVENTS) or 0)
            if pending == 0:
                break
            await asyncio.sleep(0.2)
        return pending
    finally:
        await engine.dispose()


# --- what the database says ---------------------------------------------------------------

# The group-buy tables and the statuses that matter here (src/linli/groupbuy/models.py).
ORDERS_TABLE = "groupbuy_orders"
ORDER_LINES_TABLE = "groupbuy_order_lines"
ITEMS_TABLE = "groupbuy_campaign_items"
REMAINING_COLUMN = "remaining"
PAID_STATUSES = ("paid",)
RELEASED_STATUSES = ("cancelled",)  # orders whose units went back to stock

UNPAID = text(f"SELECT id FROM {ORDERS_TABLE} WHERE id = ANY(:ids) AND NOT (status = ANY(:paid))")


async def settle(
    watch: AsyncConnection, acks: Sequence[Ack], deadline: float, meter: Meter
) -> tuple[int, int]:
    """Poll until every acknowledged order is paid and no outbox event is pending (or the
    deadline): (pending events, unpaid orders) at the end. The polls' own CPU is the clock's
    bookkeeping, not load: it is left out of the client's CPU."""
    # Each poll looks only at the orders still unpaid at the last one: an `id = ANY(...)`
    # lookup is one index scan per id, and 50 polls a second over every order of the sale
    # were most of the run's index scans of the orders table (mistaken for the app's).
    unpaid = [ack.order_id for ack in acks]
    stop = time.monotonic() + deadline
    while True:
        cpu = time.process_time()
        pending = int(await watch.scalar(PENDING_EVENTS) or 0)
        if unpaid:
            found = await watch.scalars(UNPAID, {"ids": unpaid, "paid": list(PAID_STATUSES)})
            unpaid = list(found)
        meter.bookkeeping += time.process_time() - cpu
        if (pending == 0 and not unpaid) or time.monotonic() > stop:
            return pending, len(unpaid)
        await asyncio.sleep(SETTLE_POLL)


@dataclass(frozen=True)
class Verification:
    acknowledged: int
    persisted: int
    paid: int
    intents_succeeded: int
    remaining: int
    reserved: int  # units - remaining
    sold: int  # units held by the campaign's orders in the database
    oversold: int
    lost: int
    outbox_pending: int

    @property
    def unpaid(self) -> int:
        return self.acknowledged - self.paid


async def verify(
    database_url: str, campaign: Campaign, acks: Sequence[Ack], units: int
) -> Verification:
    """Compare what the API acknowledged with what PostgreSQL holds (after events settle)."""
    pending = await wait_for_dispatcher(database_url, SETTLE_DEADLINE)
    ack_ids = [ack.order_id for ack in acks]
    public_ids = [ack.payment_public_id for ack in acks]
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            statuses = dict(
                (int(row[0]), str(row[1]))
                for row in await connection.execute(
                    text(f"SELECT id, status FROM {ORDERS_TABLE} WHERE id = ANY(:ids)"),
                    {"ids": ack_ids},
                )
            )
            intents = int(
                await connection.scalar(
                    text(
                        "SELECT count(*) FROM payment_intents"
                        " WHERE public_id = ANY(:ids) AND status = 'succeeded'"
                    ),
                    {"ids": public_ids},
                )
                or 0
            )
            remaining = int(
                await connection.scalar(
                    text(f"SELECT {REMAINING_COLUMN} FROM {ITEMS_TABLE} WHERE id = :id"),
                    {"id": campaign.item_id},
                )
                or 0
            )
            sold = int(
                await connection.scalar(
                    text(
                        f"SELECT coalesce(sum(l.quantity), 0) FROM {ORDER_LINES_TABLE} l"
                        f" JOIN {ORDERS_TABLE} o ON o.id = l.order_id"
                        " WHERE l.item_id = :item AND NOT (o.status = ANY(:released))"
                    ),
                    {"item": campaign.item_id, "released": list(RELEASED_STATUSES)},
                )
                or 0
            )
    finally:
        await engine.dispose()
    persisted = len(statuses)
    paid = sum(1 for status in statuses.values() if status in PAID_STATUSES)
    return Verification(
        acknowledged=len(acks),
        persisted=persisted,
        paid=paid,
        intents_succeeded=intents,
        remaining=remaining,
        reserved=units - remaining,
        sold=sold,
        oversold=max(0, sold - units, -remaining),
        lost=len(acks) - persisted,
        outbox_pending=pending,
    )


# --- measuring a rung ---------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """The wall time of a rung and the CPU seconds each part spent in it."""

    seconds: float
    client_cpu: float
    server_cpu: float | None  # None: no server (pgbench talks to PostgreSQL itself)
    postgres_cpu: float


class Meter:
    """Wall clock and CPU of client, server and PostgreSQL over one window.

    The client is this process (time.process_time, minus the PostgreSQL sampler's own
    thread), or with `client_is_child` the child processes waited for in the window
    (pgbench)."""

    def __init__(
        self, sampler: cpu_usage.PostgresSampler, server: Instance | None, client_is_child: bool
    ) -> None:
        self.sampler = sampler
        self.server = server
        self.client_is_child = client_is_child
        self._started = self._client = self._server = 0.0
        self.bookkeeping = 0.0  # CPU of this process spent measuring, not loading

    def _client_cpu(self) -> float:
        if self.client_is_child:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return time.process_time()

    def start(self) -> None:
        self.sampler.start()
        self._server = self.server.cpu_seconds() if self.server is not None else 0.0
        self._client = self._client_cpu()
        self._started = time.perf_counter()

    def stop(self) -> Measured:
        seconds = time.perf_counter() - self._started
        client = self._client_cpu() - self._client
        server = self.server.cpu_seconds() - self._server if self.server is not None else None
        postgres = self.sampler.stop()
        if not self.client_is_child:
            client -= self.sampler.own_cpu + self.bookkeeping
        return Measured(seconds, max(0.0, client), server, postgres)


@dataclass
class Rung:
    """One measured rung: raw (A), floor (B) or app (C)."""

    name: str
    round: int
    measured: Measured
    sales: int  # raw: transactions; floor: updates answered 200; app: orders acked and paid
    requests: int  # what the client sent (raw: transactions)
    latencies: Tally
    taken: int  # units the database says were taken: must equal `sales`
    target_seconds: float
    tool: str = ""
    units: int = 0  # app: the campaign's stock
    race: Race | None = None
    checked: Verification | None = None
    http_seconds: float = 0.0  # app: until the last sold-out answer (the clock runs on)
    settle_left: tuple[int, int] = (0, 0)  # app: pending events, unpaid orders at the stop

    @property
    def seconds(self) -> float:
        return self.measured.seconds

    @property
    def rate(self) -> float:
        return self.sales / self.seconds if self.seconds else 0.0

    def per_sale_ms(self, cpu: float | None) -> float | None:
        if cpu is None or not self.sales:
            return None
        return cpu * 1000 / self.sales

    @property
    def http_rate(self) -> float:
        """App: sales per second until the last answer (how earlier versions of this
        benchmark counted, before the clock waited for the dispatcher)."""
        return self.sales / self.http_seconds if self.http_seconds else 0.0

    @property
    def client_us_per_request(self) -> float | None:
        return self.measured.client_cpu * 1e6 / self.requests if self.requests else None

    @property
    def p99_ms(self) -> float:
        return self.latencies.percentile(0.99)

    @property
    def errors_5xx(self) -> int:
        if self.race is not None:
            return self.race.orders.count_5xx + self.race.callbacks.count_5xx
        return self.latencies.count_5xx

    @property
    def short(self) -> bool:
        return self.seconds < SHORT_RUNG * self.target_seconds

    def summary(self) -> dict[str, Any]:
        measured = self.measured
        found: dict[str, Any] = {
            "per_s": round(self.rate, 1),
            "seconds": round(self.seconds, 2),
            "sales": self.sales,
            "requests": self.requests,
            "p99_ms": _rounded(self.p99_ms, 1),
            "cpu_ms_per_sale": {
                "client": _rounded(self.per_sale_ms(measured.client_cpu), 3),
                "server": _rounded(self.per_sale_ms(measured.server_cpu), 3),
                "postgres": _rounded(self.per_sale_ms(measured.postgres_cpu), 3),
            },
            "client_cpu_us_per_request": _rounded(self.client_us_per_request, 1),
        }
        if self.name == "app":
            found["units"] = self.units
            found["http_seconds"] = round(self.http_seconds, 2)
            found["http_per_s"] = round(self.http_rate, 1)
        return found


def _rounded(value: float | None, digits: int) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


T = TypeVar("T")


def run_async(coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run on uvloop when installed (the client's loop: cheaper per request)."""
    with asyncio.Runner(loop_factory=lean_http.new_event_loop) as runner:
        return runner.run(coroutine())  # type: ignore[arg-type]


# --- rung A: the raw limit ----------------------------------------------------------------

RAW_TABLE = "bench_raw_stock"
RAW_STOCK = 1_000_000_000  # never runs out during the measurement
RAW_UPDATE = f"UPDATE {RAW_TABLE} SET stock = stock - 1 WHERE id = 1 AND stock >= 1 RETURNING stock"


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))
    return str(candidates[-1]) if candidates else None


async def _scratch(url: URL, statements: Sequence[str]) -> int:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in statements:
                await connection.execute(text(statement))
            return int(
                await connection.scalar(text(f"SELECT stock FROM {RAW_TABLE} WHERE id = 1")) or 0
            )
    finally:
        await engine.dispose()


def prepare_raw_table(url: URL) -> None:
    asyncio.run(
        _scratch(
            url,
            [
                f"DROP TABLE IF EXISTS {RAW_TABLE}",
                f"CREATE TABLE {RAW_TABLE} (id bigint PRIMARY KEY, stock bigint NOT NULL)",
                f"INSERT INTO {RAW_TABLE} VALUES (1, {RAW_STOCK})",
                f"VACUUM ANALYZE {RAW_TABLE}",
            ],
        )
    )


def stock_left(url: URL) -> int:
    return asyncio.run(_scratch(url, []))


def raw_rung(
    url: URL, sampler: cpu_usage.PostgresSampler, *, clients: int, seconds: int, workdir: Path,
    round_number: int,
) -> Rung:  # fmt: skip
    """Rung A: the bare conditional UPDATE on one hot row, `clients` at a time."""
    before = stock_left(url)
    pgbench = find_pgbench()
    if pgbench is not None:
        meter = Meter(sampler, None, client_is_child=True)
        meter.start()
        transactions = _run_pgbench(pgbench, url, clients, seconds, workdir)
        measured = meter.stop()
        tool = "pgbench"
    else:
        meter = Meter(sampler, None, client_is_child=False)
        transactions, measured = asyncio.run(_asyncpg_loop(url, clients, seconds, meter))
        tool = "asyncpg loop"
    taken = before - stock_left(url)
    return Rung(
        "raw", round_number, measured, transactions, transactions, Tally(), taken, seconds, tool
    )


def _run_pgbench(pgbench: str, url: URL, clients: int, seconds: int, workdir: Path) -> int:
    script = workdir / "raw_update.sql"
    script.write_text(RAW_UPDATE + ";\n")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    command = [
        pgbench, "--no-vacuum", "--protocol=prepared",
        f"--client={clients}", f"--jobs={min(clients, os.cpu_count() or 1)}",
        f"--time={seconds}", f"--file={script}",
        f"--host={url.host or HOST}", f"--port={url.port or 5432}",
        f"--username={url.username or 'postgres'}", str(url.database),
    ]  # fmt: skip
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"pgbench exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    processed = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    if processed is None:
        raise BenchError(f"cannot read pgbench's output:\n{result.stdout}")
    # The rate is transactions / wall time of the window (connections included), as for the
    # other rungs, rather than pgbench's "tps without initial connection time".
    return int(processed.group(1))


async def _asyncpg_loop(url: URL, clients: int, seconds: int, meter: Meter) -> tuple[int, Measured]:
    import asyncpg  # type: ignore[import-untyped]

    connections: list[Any] = [
        await asyncpg.connect(
            host=url.host or HOST,
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=url.database,
        )
        for _ in range(clients)
    ]
    done = [0] * clients

    async def loop(index: int, connection: Any, until: float) -> None:
        statement = await connection.prepare(RAW_UPDATE)
        while time.perf_counter() < until:
            await statement.fetchval()
            done[index] += 1

    try:
        meter.start()
        until = time.perf_counter() + seconds
        await asyncio.gather(*(loop(i, c, until) for i, c in enumerate(connections)))
        measured = meter.stop()
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return sum(done), measured


# --- rung B: the HTTP floor ---------------------------------------------------------------


def floor_rung(
    floor: FloorServer, url: URL, sampler: cpu_usage.PostgresSampler, *, clients: int,
    seconds: float, round_number: int,
) -> Rung:  # fmt: skip
    """Rung B: the lean client sends the floor's one pre-built request for `seconds`."""
    before = stock_left(url)

    async def traffic() -> tuple[Tally, Measured]:
        connections = await lean_http.open_connections(HOST, floor.port, clients)
        raw = lean_http.build_request("POST", FLOOR_TAKE, f"{HOST}:{floor.port}")
        tally = Tally()

        async def loop(connection: lean_http.LeanConnection, until: float) -> None:
            while time.perf_counter() < until:
                await send(connection, raw, tally, success=(200,))

        meter = Meter(sampler, floor, client_is_child=False)
        try:
            meter.start()
            until = time.perf_counter() + seconds
            await asyncio.gather(*(loop(connection, until) for connection in connections))
            return tally, meter.stop()
        finally:
            lean_http.close_connections(connections)

    tally, measured = run_async(traffic)
    taken = before - stock_left(url)
    ok = tally.statuses.get(200, 0)
    return Rung("floor", round_number, measured, ok, tally.requests, tally, taken, seconds)


# --- rung C: the app ----------------------------------------------------------------------


@dataclass
class Sale:
    """What the app rungs share: the served instance, the seeded data, the settings."""

    instance: Instance
    seeded: Seeded
    buyers: int
    fresh: bool


async def _app_traffic(
    sale: Sale, sampler: cpu_usage.PostgresSampler, units: int, title: str
) -> tuple[Campaign, Race, Measured, tuple[int, int]]:
    instance = sale.instance
    async with httpx.AsyncClient(base_url=instance.url, timeout=REQUEST_TIMEOUT) as client:
        campaign = await open_campaign(
            client, sale.seeded, title=title, sku_id=sale.seeded.sku_id, stock=units
        )
    buying = Buying(f"{HOST}:{instance.port}", sale.seeded, campaign, instance.sandbox_secret)
    connections = await lean_http.open_connections(HOST, instance.port, sale.buyers)
    engine = create_async_engine(instance.database_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as watch:
            # The clock's own polling is the benchmark's, not the app's: its backend is left
            # out of PostgreSQL's CPU.
            sampler.excluded.add(int(await watch.scalar(text("SELECT pg_backend_pid()")) or 0))
            meter = Meter(sampler, instance, client_is_child=False)
            meter.start()
            raced = await race(
                connections,
                sale.seeded,
                buying,
                fresh=sale.fresh,
                max_attempts=2 * units + 200,
                deadline=RACE_DEADLINE,
            )
            left = await settle(watch, list(raced.acks.values()), CLOCK_DEADLINE, meter)
            measured = meter.stop()
    finally:
        lean_http.close_connections(connections)
        await engine.dispose()
    return campaign, raced, measured, left


def app_rung(
    sale: Sale, sampler: cpu_usage.PostgresSampler, *, units: int, target_seconds: float,
    round_number: int, title: str = "红富士苹果限时秒杀",
) -> Rung:  # fmt: skip
    """Rung C: a sale of `units` through the API; the clock stops when every acknowledged
    order is paid and the outbox is empty; then the database is checked."""

    async def traffic() -> tuple[Campaign, Race, Measured, tuple[int, int]]:
        return await _app_traffic(sale, sampler, units, f"{title} {round_number}")

    campaign, raced, measured, left = run_async(traffic)
    checked = asyncio.run(
        verify(sale.instance.database_url, campaign, list(raced.acks.values()), units)
    )
    return Rung(
        "app",
        round_number,
        measured,
        raced.successful,
        raced.requests,
        raced.orders,
        checked.reserved,
        target_seconds,
        units=units,
        race=raced,
        checked=checked,
        http_seconds=raced.seconds,
        settle_left=left,
    )


def warm_up(sale: Sale, units: int) -> float:
    """A small sale of its own on the warm-up SKU (connections, code paths, pools and caches
    warm, the sale's stock untouched); its rate (HTTP part only) is the first estimate."""

    async def traffic() -> Race:
        instance = sale.instance
        async with httpx.AsyncClient(base_url=instance.url, timeout=REQUEST_TIMEOUT) as client:
            campaign = await open_campaign(
                client, sale.seeded, title="预热团购", sku_id=sale.seeded.warmup_sku_id, stock=units
            )
        buying = Buying(f"{HOST}:{instance.port}", sale.seeded, campaign, instance.sandbox_secret)
        connections = await lean_http.open_connections(HOST, instance.port, sale.buyers)
        try:
            return await race(
                connections, sale.seeded, buying, fresh=False, max_attempts=4 * units,
                deadline=RACE_DEADLINE,
            )  # fmt: skip
        finally:
            lean_http.close_connections(connections)

    warmup = run_async(traffic)
    if warmup.orders.count_5xx or warmup.callbacks.count_5xx or not warmup.successful:
        raise BenchError(
            f"the warm-up sale failed: {warmup.successful} paid orders; "
            f"{warmup.orders.unexpected} {warmup.callbacks.unexpected}"
        )
    left = asyncio.run(wait_for_dispatcher(sale.instance.database_url, CLOCK_DEADLINE))
    if left:
        log(f"warm-up: {left} events still pending in the outbox")
    return warmup.successful / warmup.seconds if warmup.seconds else 0.0


def scaled_units(rate: float, seconds: float, minimum: int) -> int:
    """Units for an app rung of about `seconds` at `rate` (and at least `minimum`)."""
    return max(minimum, min(MAX_ALLOCATION, math.ceil(rate * seconds * SCALE_MARGIN)))


MAX_ALLOCATION = 1_000_000  # the API's largest campaign stock


# --- the report ---------------------------------------------------------------------------

RUNGS = ("raw", "floor", "app")
PARTS = ("client", "server", "postgres")


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None and not math.isnan(value)]
    return statistics.median(present) if present else None


@dataclass
class Report:
    buyers: int
    units: int  # the least units of an app rung
    fresh: bool
    workers: int
    rungs: list[Rung]
    load_before: float
    profile: dict[str, Any] | None = None

    def of(self, name: str) -> list[Rung]:
        return [rung for rung in self.rungs if rung.name == name]

    def median_rate(self, name: str) -> float:
        return _median([rung.rate for rung in self.of(name)]) or 0.0

    def median_cpu(self, name: str, part: str) -> float | None:
        return _median(
            [rung.per_sale_ms(getattr(rung.measured, f"{part}_cpu")) for rung in self.of(name)]
        )

    def median_client_us(self, name: str) -> float | None:
        return _median([rung.client_us_per_request for rung in self.of(name)])

    @property
    def orders_per_s(self) -> float:
        return self.median_rate("app")

    @property
    def raw_updates_per_s(self) -> float:
        return self.median_rate("raw")

    @property
    def http_orders_per_s(self) -> float:
        return _median([rung.http_rate for rung in self.of("app")]) or 0.0

    @property
    def floor_per_s(self) -> float:
        return self.median_rate("floor")

    @property
    def ratio(self) -> float:
        return self.orders_per_s / self.raw_updates_per_s if self.raw_updates_per_s else 0.0

    @property
    def p99_ms(self) -> float:
        return _median([rung.p99_ms for rung in self.of("app")]) or float("nan")

    def _app_sum(self, count: Callable[[Rung], int]) -> int:
        return sum(count(rung) for rung in self.of("app"))

    @property
    def oversold(self) -> int:
        return self._app_sum(lambda rung: rung.checked.oversold if rung.checked else 0)

    @property
    def lost(self) -> int:
        return self._app_sum(lambda rung: rung.checked.lost if rung.checked else 0)

    @property
    def errors_5xx(self) -> int:
        return self._app_sum(lambda rung: rung.errors_5xx)

    @property
    def correct(self) -> bool:
        return self.oversold == 0 and self.lost == 0

    def as_json(self) -> dict[str, Any]:
        raw = self.raw_updates_per_s
        floor = self.floor_per_s
        found: dict[str, Any] = {
            "orders_per_s": round(self.orders_per_s, 1),
            "raw_updates_per_s": round(raw, 1),
            "ratio": round(self.ratio, 4),
            "p99_ms": _rounded(self.p99_ms, 1),
            "oversold": self.oversold,
            "lost": self.lost,
            "errors_5xx": self.errors_5xx,
            "floor_per_s": round(floor, 1),
            "http_orders_per_s": round(self.http_orders_per_s, 1),
            "floor_ratio": round(floor / raw, 4) if raw else None,
            "app_vs_floor": round(self.orders_per_s / floor, 4) if floor else None,
            "cpu_ms_per_sale": {
                name: {part: _rounded(self.median_cpu(name, part), 3) for part in PARTS}
                for name in RUNGS
            },
            "client_cpu_us_per_request": {
                name: _rounded(self.median_client_us(name), 1) for name in RUNGS
            },
            "rung_seconds": {
                name: _rounded(_median([rung.seconds for rung in self.of(name)]), 2)
                for name in RUNGS
            },
            "rung_p99_ms": {
                name: _rounded(_median([rung.p99_ms for rung in self.of(name)]), 1)
                for name in ("floor", "app")
            },
            "rounds": [
                {rung.name: rung.summary() for rung in self.rungs if rung.round == number}
                for number in sorted({rung.round for rung in self.rungs})
            ],
            "raw_tool": self.of("raw")[0].tool if self.of("raw") else None,
            "buyers": self.buyers,
            "workers": self.workers,
            "load_before": self.load_before,
        }
        if self.profile is not None:
            found["profile"] = self.profile
        return found

    def table(self) -> str:
        def number(value: float | None, digits: int = 1) -> str:
            return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"

        lines = [
            f"Flash sale on PostgreSQL: {self.buyers} concurrent clients, "
            f"`linli serve --workers {self.workers}`, load before {self.load_before:.2f}",
            "",
            "  round  rung   seconds     sales    per s   p99 ms  CPU ms/sale client/server/pg",
        ]
        for rung in self.rungs:
            measured = rung.measured
            cpu = " / ".join(
                number(rung.per_sale_ms(cpu), 3)
                for cpu in (measured.client_cpu, measured.server_cpu, measured.postgres_cpu)
            )
            lines.append(
                f"  {rung.round:>5}  {rung.name:<5} {rung.seconds:>8.2f} {rung.sales:>9,}"
                f" {rung.rate:>8.1f} {number(rung.p99_ms):>8}  {cpu}"
            )
        lines += [
            "",
            "  medians     per s    vs raw   CPU ms per sale: client   server  postgres"
            "   client us/request",
        ]
        for name in RUNGS:
            rate = self.median_rate(name)
            parts = [number(self.median_cpu(name, part), 3) for part in PARTS]
            versus = rate / self.raw_updates_per_s if self.raw_updates_per_s else 0.0
            lines.append(
                f"  {name:<8} {rate:>8.1f} {versus:>9.4f}"
                f"  {parts[0]:>23} {parts[1]:>8} {parts[2]:>9}"
                f" {number(self.median_client_us(name)):>19}"
            )
        verdict = "" if self.ratio >= TARGET_RATIO else "  (below the 0.5 target)"
        lines += [
            "",
            f"  RATIO app / raw (orders_per_s / raw_updates_per_s)  {self.ratio:.4f}{verdict}",
            f"  order latency p99 (median of the app rungs)         {number(self.p99_ms)} ms",
            "  app orders/s until the last answer (not waiting"
            f" for the dispatcher)  {number(self.http_orders_per_s)}",
            f"  OVERSOLD units (must be 0)                          {self.oversold}",
            f"  LOST acknowledged orders (must be 0)                {self.lost}",
            f"  5xx answers                                         {self.errors_5xx}",
        ]
        for rung in self.of("app"):
            assert rung.race is not None
            assert rung.checked is not None
            raced, checked = rung.race, rung.checked
            lines.append(
                f"  app round {rung.round}: {rung.units} units, {raced.orders.requests} orders /"
                f" {raced.callbacks.requests} callbacks sent, {raced.sold_out} sold-out answers,"
                f" HTTP done at {rung.http_seconds:.2f} s, all paid and outbox empty at"
                f" {rung.seconds:.2f} s; acknowledged / in database / paid"
                f" {checked.acknowledged} / {checked.persisted} / {checked.paid}"
            )
        if self.profile is not None:
            lines += ["", *profile_lines(self.profile)]
        problems = self.problems()
        if problems:
            lines += ["", "Problems:", *(f"  - {problem}" for problem in problems)]
        return "\n".join(lines)

    def problems(self) -> list[str]:
        found: list[str] = []
        for rung in self.rungs:
            where = f"{rung.name} round {rung.round}"
            if rung.short:
                found.append(
                    f"{where}: {rung.seconds:.1f} s, shorter than its {rung.target_seconds:.0f} s"
                )
            if rung.taken != rung.sales and rung.name != "app":
                found.append(f"{where}: {rung.taken} units taken for {rung.sales} sales")
            if rung.name == "floor":
                found += [
                    f"{where}: {n} x {key}" for key, n in sorted(rung.latencies.unexpected.items())
                ]
                found += [
                    f"{where}: {n} x {kind}" for kind, n in sorted(rung.latencies.transport.items())
                ]
            if rung.race is not None and rung.checked is not None:
                found += [f"{where}: {problem}" for problem in app_problems(rung)]
        return found


def app_problems(rung: Rung) -> list[str]:
    assert rung.race is not None
    assert rung.checked is not None
    found: list[str] = []
    checked, raced = rung.checked, rung.race
    if checked.oversold:
        found.append(f"{checked.oversold} units oversold")
    if checked.lost:
        found.append(f"{checked.lost} acknowledged orders are not in the database")
    if checked.unpaid:
        found.append(f"{checked.unpaid} acknowledged orders are not paid in the database")
    if len(raced.paid) != len(raced.acks):
        found.append(f"{len(raced.acks) - len(raced.paid)} callbacks not acknowledged")
    if checked.intents_succeeded != checked.acknowledged:
        found.append(
            f"{checked.intents_succeeded} payment intents succeeded for "
            f"{checked.acknowledged} acknowledged orders"
        )
    if checked.reserved != checked.sold:
        found.append(f"stock says {checked.reserved} reserved, orders hold {checked.sold}")
    if checked.remaining != 0 and not raced.timed_out:
        found.append(f"{checked.remaining} units left although the buyers stopped")
    if checked.outbox_pending:
        found.append(f"{checked.outbox_pending} outbox events still pending at the check")
    pending, unpaid = rung.settle_left
    if pending or unpaid:
        found.append(
            f"the clock stopped at its {CLOCK_DEADLINE:.0f} s settling deadline with "
            f"{pending} events pending and {unpaid} orders unpaid"
        )
    if raced.timed_out:
        found.append(f"the race hit its {RACE_DEADLINE:.0f} s deadline (results are partial)")
    expected = raced.sold_out + raced.waits
    other_4xx = raced.orders.count_4xx - expected + raced.callbacks.count_4xx
    if other_4xx:
        found.append(f"{other_4xx} unexpected 4xx answers")
    for tally in (raced.orders, raced.callbacks):
        found += [f"{n} x {key}" for key, n in sorted(tally.unexpected.items())]
        found += [f"{n} x {kind} (retried)" for kind, n in sorted(tally.transport.items())]
    return found


# --- profiling the app rung (--profile) ---------------------------------------------------

PY_SPY_RATE = 100  # samples per second and process


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _statement_counts(directory: Path) -> dict[str, Any]:
    """The sum of the workers' latest counts (bench/statement_count.py writes them)."""
    total: dict[str, Any] = {
        "statements": {},
        "checkouts": 0,
        "pings": 0,
        "begin": 0,
        "commit": 0,
        "rollback": 0,
    }
    for path in directory.glob("*.json"):
        try:
            counts = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for key in ("checkouts", "pings", "begin", "commit", "rollback"):
            total[key] += int(counts.get(key, 0))
        for statement, calls in counts.get("statements", {}).items():
            total["statements"][statement] = total["statements"].get(statement, 0) + int(calls)
    return total


def _counts_delta(before: dict[str, Any], after: dict[str, Any], sales: int) -> dict[str, Any]:
    per = float(max(sales, 1))
    statements = {
        text_: calls - before["statements"].get(text_, 0)
        for text_, calls in after["statements"].items()
    }
    statements = {text_: calls for text_, calls in statements.items() if calls > 0}
    top = sorted(statements.items(), key=lambda item: -item[1])[:25]
    return {
        "statements_per_sale": round(sum(statements.values()) / per, 2),
        "pool_checkouts_per_sale": round((after["checkouts"] - before["checkouts"]) / per, 2),
        "pre_pings_per_sale": round((after["pings"] - before["pings"]) / per, 2),
        "begins_per_sale": round((after["begin"] - before["begin"]) / per, 2),
        "commits_per_sale": round((after["commit"] - before["commit"]) / per, 2),
        "rollbacks_per_sale": round((after["rollback"] - before["rollback"]) / per, 2),
        "top_statements_per_sale": [[text_, round(calls / per, 2)] for text_, calls in top],
    }


LAYERS: tuple[tuple[str, str], ...] = (
    ("(linli/", "linli"),
    ("/linli/", "linli"),
    ("sqlalchemy", "SQLAlchemy"),
    ("asyncpg", "asyncpg"),
    ("greenlet", "SQLAlchemy"),
    ("uvicorn", "uvicorn"),
    ("httptools", "uvicorn"),
    ("starlette", "Starlette/FastAPI"),
    ("fastapi", "Starlette/FastAPI"),
    ("pydantic", "pydantic"),
    ("jinja2", "jinja2"),
    ("/json/", "json"),
    ("asyncio", "event loop"),
    ("uvloop", "event loop"),
)


# Samples whose stack holds a frame containing the marker (inclusive shares; py-spy shows a
# greenlet's own stack, so SQLAlchemy's work run in its greenlet is not under the linli
# function that awaited it: the linli shares are lower bounds).
MARKERS: tuple[tuple[str, str], ...] = (
    ("request handling (below the outermost middleware)", "LocaleMiddleware.__call__"),
    ("the in-process dispatcher", "Dispatcher.run_forever"),
    ("pool pre-ping", "_async_ping"),
    ("ORM flush (unit of work)", "Session._flush"),
    ("SQL compilation", "sqlalchemy/sql/compiler.py"),
    ("ORM row loading", "sqlalchemy/orm/loading.py"),
    ("SQLAlchemy, all", "sqlalchemy/"),
    ("asyncpg, all", "asyncpg/"),
    ("pydantic", "pydantic"),
)


def _layer(frame: str) -> str:
    for marker, layer in LAYERS:
        if marker in frame:
            return layer
    return "other"


def summarise_py_spy(raw_path: Path) -> dict[str, Any]:
    """py-spy's collapsed stacks: samples by the layer of the innermost frame (self time),
    and the linli functions most often on the stack (inclusive)."""
    layers: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    leaves: dict[str, int] = {}
    marked: dict[str, int] = {}
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = _layer(frames[-1])
        layers[leaf] = layers.get(leaf, 0) + count
        for label, marker in MARKERS:
            if marker in stack:
                marked[label] = marked.get(label, 0) + count
        where = _short_frame(frames[-1])
        leaves[where] = leaves.get(where, 0) + count
        for name in {_short_frame(frame) for frame in frames if _layer(frame) == "linli"}:
            inclusive[name] = inclusive.get(name, 0) + count
    share = float(max(total, 1))
    return {
        "samples": total,
        "self_by_layer": {
            layer: round(n / share, 3) for layer, n in sorted(layers.items(), key=lambda i: -i[1])
        },
        "inclusive": {label: round(marked.get(label, 0) / share, 3) for label, _ in MARKERS},
        "top_linli_inclusive": [
            [name, round(n / share, 3)]
            for name, n in sorted(inclusive.items(), key=lambda i: -i[1])[:20]
        ],
        "top_self": [
            [name, round(n / share, 3)]
            for name, n in sorted(leaves.items(), key=lambda i: -i[1])[:15]
        ],
    }


def _short_frame(frame: str) -> str:
    """`function (/long/path/site-packages/pkg/mod.py:12)` -> `function (pkg/mod.py)`."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\((?:.*/site-packages/|.*/src/|.*/lib/python3\.\d+/)", "(", frame)


def pg_stat_statements_preloaded(url: URL) -> bool:
    async def check() -> str:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return str(await connection.scalar(text("SHOW shared_preload_libraries")) or "")
        finally:
            await engine.dispose()

    return "pg_stat_statements" in asyncio.run(check())


def profile_app(
    sale: Sale, database: URL, name: str, workdir: Path, *, rate: float, race_seconds: float,
    units_min: int,
) -> dict[str, Any]:  # fmt: skip
    """One more app rung (not in the medians): served by bench/statement_count.py (every SQL
    statement counted), sampled by py-spy when installed."""
    instance = sale.instance
    instance.stop()  # one dispatcher per database directory: the counted server's
    counted = CountedInstance(
        database_url=instance.database_url,
        workdir=instance.workdir,
        port=free_port(),
        sandbox_secret=instance.sandbox_secret,
        workers=instance.workers,
        counts_dir=workdir / "statement-counts",
    )
    counted.counts_dir.mkdir(exist_ok=True)
    counted.env = {
        **instance.env,
        "LINLI_PUBLIC_BASE_URL": counted.url,
        "BENCH_STATEMENT_COUNTS": str(counted.counts_dir),
    }
    found: dict[str, Any] = {
        "pg_stat_statements": "preloaded"
        if pg_stat_statements_preloaded(database)
        else "not in shared_preload_libraries (the shared server is not restarted for it)"
    }
    counted.start()
    profiled = Sale(counted, sale.seeded, sale.buyers, sale.fresh)
    py_spy_process: subprocess.Popen[bytes] | None = None
    try:
        warm_up(profiled, sale.buyers)
        time.sleep(1.0)  # the workers write their counts every 0.25 s
        before = _statement_counts(counted.counts_dir)
        py_spy = find_py_spy()
        raw_path = workdir / "py-spy.txt"
        if py_spy is None or counted.pid is None:
            found["py_spy"] = "not installed"
        else:
            py_spy_process = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(counted.pid),
                    "--subprocesses",
                    "--rate",
                    str(PY_SPY_RATE),
                    "--format",
                    "raw",
                    "--output",
                    str(raw_path),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(workdir / "py-spy.log").open("wb"),
            )
            time.sleep(1.0)  # attached to every worker
        sampler = cpu_usage.PostgresSampler([name])
        units = scaled_units(rate, race_seconds, units_min)
        rung = app_rung(profiled, sampler, units=units, target_seconds=race_seconds, round_number=0)
        if py_spy_process is not None:
            py_spy_process.send_signal(signal.SIGINT)
            py_spy_process.wait(timeout=60)
            py_spy_process = None
            found["py_spy"] = (
                summarise_py_spy(raw_path) if raw_path.exists() else "no output (see py-spy.log)"
            )
        time.sleep(1.0)
        found["statements"] = _counts_delta(
            before, _statement_counts(counted.counts_dir), rung.sales
        )
        found["rung"] = rung.summary()
        found["problems"] = app_problems(rung)
    finally:
        if py_spy_process is not None:
            py_spy_process.kill()
            py_spy_process.wait()
        counted.stop()
    return found


def profile_lines(profile: dict[str, Any]) -> list[str]:
    lines = [
        "Profile of one more app rung (py-spy attached, statements counted; not in the medians)"
    ]
    rung = profile.get("rung", {})
    if rung:
        lines.append(
            f"  {rung['sales']} sales at {rung['per_s']}/s, CPU ms per sale "
            + " / ".join(str(rung["cpu_ms_per_sale"][part]) for part in PARTS)
            + " (client / server / postgres)"
        )
    statements = profile.get("statements", {})
    if statements:
        lines.append(
            f"  per sale: {statements['statements_per_sale']} SQL statements, "
            f"{statements['pool_checkouts_per_sale']} pool checkouts, "
            f"{statements.get('pre_pings_per_sale', '?')} pre-pings, "
            f"{statements['begins_per_sale']} BEGIN, {statements['commits_per_sale']} COMMIT, "
            f"{statements['rollbacks_per_sale']} ROLLBACK"
        )
        lines += [
            f"    {calls:>6}  {text_}" for text_, calls in statements["top_statements_per_sale"]
        ]
    lines.append(f"  pg_stat_statements: {profile.get('pg_stat_statements')}")
    spy = profile.get("py_spy")
    if isinstance(spy, dict):
        layers = ", ".join(f"{layer} {share:.0%}" for layer, share in spy["self_by_layer"].items())
        lines.append(f"  py-spy, {spy['samples']} samples, self time by layer: {layers}")
        lines.append("  py-spy, samples with on the stack:")
        lines += [f"    {share:>6.1%}  {label}" for label, share in spy["inclusive"].items()]
        lines.append("  py-spy, innermost frames (self time):")
        lines += [f"    {share:>6.1%}  {name}" for name, share in spy["top_self"]]
        lines.append("  py-spy, linli functions on the stack (inclusive):")
        lines += [f"    {share:>6.1%}  {name}" for name, share in spy["top_linli_inclusive"]]
    else:
        lines.append(f"  py-spy: {spy}")
    return lines


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N concurrent buyers race for S units of one group-buy campaign SKU "
        "through the HTTP API (order, then signed payment callback) on PostgreSQL; compared, "
        "in the same run, with the bare conditional stock UPDATE (pgbench) and with an HTTP "
        "floor (the same server stack doing only that UPDATE)."
    )
    parser.add_argument("--buyers", type=int, default=64, help="concurrent clients (64)")
    parser.add_argument(
        "--units",
        type=int,
        default=500,
        help="the least units of an app rung (500); more when the rate needs more to last "
        "--race-seconds",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A B C (3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the databases and the work directory"
    )
    parser.add_argument(
        "--fresh-buyers",
        action="store_true",
        help="each order by a resident who has not ordered in that sale yet (N in flight at "
        "a time); the app rungs then have exactly --units units",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="`linli serve --workers N` processes (and the floor's); default one per core, as "
        "the operator guide says to serve on PostgreSQL",
    )
    parser.add_argument(
        "--raw-seconds", type=int, default=10, help="how long rungs A and B last (10)"
    )
    parser.add_argument(
        "--race-seconds",
        type=float,
        default=10.0,
        help="how long an app rung should last at the rate measured so far (10)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then one more app rung with py-spy attached and SQL statements counted",
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help="PostgreSQL server as an SQLAlchemy URL of its maintenance database",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.buyers <= 80:
        parser.error("--buyers must be between 1 and 80 (PostgreSQL allows 100 connections)")
    if not 1 <= args.units <= 100_000:
        parser.error("--units must be between 1 and 100000")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be between 1 and 10")
    if not 1 <= args.workers <= 8:
        parser.error("--workers must be between 1 and 8")
    if not 1 <= args.raw_seconds <= 60:
        parser.error("--raw-seconds must be between 1 and 60")
    if not 1 <= args.race_seconds <= 60:
        parser.error("--race-seconds must be between 1 and 60")
    server = make_url(args.server)
    if server.host not in (None, "127.0.0.1", "localhost"):
        parser.error("--server must be on 127.0.0.1")
    return args


def measure(
    args: argparse.Namespace, sale: Sale, floor: FloorServer, raw_database: URL,
    names: tuple[str, str], workdir: Path, rate: float,
) -> list[Rung]:  # fmt: skip
    """The rounds: A B C, A B C, ... Only the rung's own server runs during a rung (each
    holds a pool of connections, and PostgreSQL here allows 100: pgbench's N clients plus
    two idle pools would not fit); a server is started, warmed up, measured, stopped."""
    name, raw_name = names
    raw_sampler = cpu_usage.PostgresSampler([raw_name])
    app_sampler = cpu_usage.PostgresSampler([name])
    if not raw_sampler.works:
        log("no PostgreSQL postmaster in /proc: PostgreSQL's CPU is not measured (0)")
    rungs: list[Rung] = []
    for number in range(1, args.rounds + 1):
        raw = raw_rung(
            raw_database, raw_sampler, clients=args.buyers, seconds=args.raw_seconds,
            workdir=workdir, round_number=number,
        )  # fmt: skip
        log(f"round {number} A raw:   {raw.rate:8.1f} updates/s ({raw.tool}, {raw.seconds:.1f} s)")
        floor.start()
        # The floor's warm-up (connections, pools), not measured:
        floor_rung(
            floor,
            raw_database,
            raw_sampler,
            clients=args.buyers,
            seconds=FLOOR_WARM_UP,
            round_number=0,
        )  # fmt: skip
        floor_measured = floor_rung(
            floor, raw_database, raw_sampler, clients=args.buyers, seconds=args.raw_seconds,
            round_number=number,
        )  # fmt: skip
        floor.stop()
        log(f"round {number} B floor: {floor_measured.rate:8.1f} updates/s over HTTP")
        sale.instance.start()
        warm_up(sale, 2 * args.buyers)
        units = (
            args.units if args.fresh_buyers else scaled_units(rate, args.race_seconds, args.units)
        )
        app = app_rung(
            sale, app_sampler, units=units, target_seconds=args.race_seconds, round_number=number
        )
        log(
            f"round {number} C app:   {app.rate:8.1f} orders/s ({app.sales} paid in "
            f"{app.seconds:.2f} s, HTTP done at {app.http_seconds:.2f} s)"
        )
        sale.instance.stop()
        rate = app.rate or rate
        rungs += [raw, floor_measured, app]
    return rungs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    server = make_url(args.server)
    name = f"linli_bench_{secrets.token_hex(4)}"
    raw_name = f"{name}_raw"
    workdir = Path(tempfile.mkdtemp(prefix="linli-flash-sale-"))
    log(f"databases {name} (the app) and {raw_name} (raw, floor); work directory {workdir}")
    database = create_database(server, name)
    raw_database = create_database(server, raw_name)
    instance = Instance(
        database_url=database.render_as_string(hide_password=False),
        workdir=workdir,
        port=free_port(),
        sandbox_secret=secrets.token_urlsafe(32),
        workers=args.workers,
    )
    floor = FloorServer(
        database_url=raw_database.render_as_string(hide_password=False),
        workdir=workdir,
        port=free_port(),
        sandbox_secret=instance.sandbox_secret,
        workers=args.workers,
    )
    floor.env = {
        **instance.env,
        "LINLI_DATABASE_URL": floor.database_url,
        "LINLI_PUBLIC_BASE_URL": floor.url,
    }
    keep_db = args.keep_db
    keep_dir = keep_db
    try:
        log("seeding through `linli` and the service layer")
        accounts = args.units + 2 * args.buyers + 10 if args.fresh_buyers else args.buyers
        seeded = seed(instance, buyers=args.buyers, units=args.units, accounts=accounts)
        log(
            f"serving on {instance.url} (`linli serve --workers {args.workers}`, "
            f"log in {instance.log_path})"
        )
        instance.start()
        missing = missing_endpoints(instance.url)
        if missing:
            raise ApiMissing(missing)
        prepare_raw_table(raw_database)
        sale = Sale(instance, seeded, args.buyers, args.fresh_buyers)
        log(f"calibration: {args.buyers} buyers buy {4 * args.buyers} units of a warm-up sale")
        rate = warm_up(sale, 4 * args.buyers)
        instance.stop()
        log(f"the floor: bench/floor_app.py on {floor.url}, {args.workers} workers")
        load_before = round(os.getloadavg()[0], 2)
        log(f"rounds: {args.rounds} x (A raw, B floor, C app); load average {load_before}")
        rungs = measure(args, sale, floor, raw_database, (name, raw_name), workdir, rate)
        profile = None
        if args.profile:
            log("profiling one more app rung (py-spy, statements counted)")
            app_rates = [rung.rate for rung in rungs if rung.name == "app"]
            profile = profile_app(
                sale, database, name, workdir, rate=_median(app_rates) or rate,
                race_seconds=args.race_seconds, units_min=args.units,
            )  # fmt: skip
        instance.stop()
        report = Report(
            args.buyers, args.units, args.fresh_buyers, args.workers, rungs, load_before, profile
        )
        if args.json:
            print(json.dumps(report.as_json()))
        else:
            print(report.table())
        log(f"done in {time.monotonic() - started:.0f} s")
        keep_db = keep_dir = keep_db or not report.correct  # a post-mortem needs them
        return 0 if report.correct else 1
    except ApiMissing as error:
        instance.stop()
        prepare_raw_table(raw_database)
        raw = raw_rung(
            raw_database, cpu_usage.PostgresSampler([raw_name]), clients=args.buyers,
            seconds=args.raw_seconds, workdir=workdir, round_number=1,
        )  # fmt: skip
        log(
            f"raw limit measured anyway: {raw.rate:.1f} updates/s "
            f"({raw.tool}, {args.buyers} clients, {raw.seconds:.1f} s)"
        )
        print(f"flash_sale: cannot run: {error}", file=sys.stderr)
        return 2
    except BenchError as error:
        keep_dir = True  # the servers' logs tell why
        print(f"flash_sale: cannot run: {error}", file=sys.stderr)
        return 2
    finally:
        instance.stop()
        floor.stop()
        for each in (name, raw_name):
            if keep_db:
                log(f"kept database {each}")
            else:
                drop_database(server, each)
        if keep_dir:
            log(f"kept {workdir} (server.log, floor.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
