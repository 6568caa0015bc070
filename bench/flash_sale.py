"""Flash-sale benchmark: N buyers race for S units of one group-buy campaign SKU.

Everything goes through the real HTTP API of `linli serve --workers N` (one process per core
by default: the operator guide's way of serving on PostgreSQL) on a fresh PostgreSQL
database: buyers place orders until the item is sold out, each acknowledged order paid by a
signed sandbox callback. The database is
then checked (oversold units, lost acknowledged orders), and in the same run the raw limit is
measured: the bare conditional stock UPDATE, run by pgbench (or an asyncpg loop when pgbench is
missing) on the same PostgreSQL server with the same concurrency. The figure that matters is
the ratio of the two.

    .venv/bin/python bench/flash_sale.py [--buyers 64] [--units 500] [--json] [--keep-db]
                                         [--fresh-buyers] [--workers N] [--raw-seconds 5]

Progress goes to stderr; the result table (or, with --json, one JSON object) to stdout.
Exit status: 0 when nothing was oversold or lost, 1 when something was, 2 when the run could
not be carried out (e.g. the group-buy API is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

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
RACE_DEADLINE = 60.0  # the raced phase stops by itself after this many seconds
PAY_DEADLINE = 60.0
SETTLE_DEADLINE = 20.0  # how long to wait for paid orders to show in the database
RETRIES = 3  # a request that failed in transit or with 5xx is repeated (same idempotency key)

CAMPAIGNS = "/api/v1/groupbuy/campaigns"
ORDERS = "/api/v1/groupbuy/orders"
CALLBACK = "/api/v1/payments/callbacks/sandbox"
ORDERED = (201, 200)  # 200: a repeated request (same Idempotency-Key) returns its order
SOLD_OUT = "sold_out"
# Answers meaning "your previous order here is still being settled": wait a moment, retry.
SETTLING_CODES: frozenset[str] = frozenset({"unpaid_order_exists"})
MAX_PER_RESIDENT = 10_000  # the API's largest per-resident limit
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

    def start(self) -> None:
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *linli_command(),
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
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
                    f"`linli serve` exited with {self.process.returncode}; see {self.log_path}"
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
        raise BenchError(f"`linli serve` did not answer /healthz in {STARTUP_TIMEOUT:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU time the server's processes (with --workers: the supervisor and its workers)
        have used so far (Linux /proc; 0 elsewhere)."""
        if self.process is None:
            return 0.0
        total = 0.0
        for pid in _process_tree(self.process.pid):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc/<pid>/task/<tid>/children)."""
    found = [pid]
    for tid_dir in glob.glob(f"/proc/{pid}/task/*"):
        try:
            children = Path(tid_dir, "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += _process_tree(int(child))
    return found


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
            sku=SkuIn(code="5KG", specs={"重量": "5 kg"}, price_fen=PRICE_FEN, stock=units * 2),
        ),
    )
    warm = await catalog.add_sku(
        session,
        owner_actor,
        product.id,
        SkuIn(code="2KG", specs={"重量": "2 kg"}, price_fen=PRICE_FEN - 1000, stock=buyers * 4),
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
    spec = httpx.get(f"{base_url}/openapi.json", timeout=10.0).json()
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
    transport: dict[str, int] = field(default_factory=dict)  # by exception type
    requests: int = 0

    @property
    def transport_errors(self) -> int:
        return sum(self.transport.values())

    def record(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def note(self, response: httpx.Response) -> None:
        key = f"{response.status_code} {error_code(response) or response.text[:80]}"
        self.unexpected[key] = self.unexpected.get(key, 0) + 1

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


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code is not None else None


async def send(
    client: httpx.AsyncClient,
    path: str,
    tally: Tally,
    *,
    success: tuple[int, ...],
    headers: dict[str, str],
    json_body: Any = None,
    content: bytes | None = None,
) -> httpx.Response | None:
    """POST, repeating the same request after a transport error or a 5xx (bounded)."""
    for _ in range(RETRIES):
        started = time.perf_counter()
        try:
            response = await client.post(path, headers=headers, json=json_body, content=content)
        except httpx.TransportError as error:
            kind = type(error).__name__
            tally.transport[kind] = tally.transport.get(kind, 0) + 1
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000
        tally.record(response.status_code)
        if response.status_code in success:
            tally.latencies_ms.append(elapsed_ms)
        if response.status_code < 500:
            return response
        tally.note(response)
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
    seconds: float = 0.0
    timed_out: bool = False
    server_cpu: float = 0.0  # CPU seconds per second of the `linli serve` process (1.0 = a core)

    @property
    def successful(self) -> int:
        """Orders acknowledged by the API and paid by an acknowledged callback."""
        return len(self.paid)


async def race(
    client: httpx.AsyncClient,
    seeded: Seeded,
    campaign: Campaign,
    secret: str,
    *,
    workers: int,
    fresh: bool,
    max_attempts: int,
    deadline: float,
) -> Race:
    """`workers` buyers at a time each order one unit, pay it by a signed callback, and
    repeat until the API answers 409 sold_out (or a bound is hit: attempts, repeated
    refusals, deadline). Worker i is buyer i; with `fresh`, each order is placed by a resident
    who has not ordered yet (so nobody waits for their previous order to be marked paid)."""
    from linli.payments import providers

    result = Race()

    async def pay(ack: Ack) -> bool:
        headers, body = providers.signed_notification(
            secret,
            intent_public_id=ack.payment_public_id,
            amount_fen=ack.amount_fen,
            provider_txn_id=f"bench{uuid.uuid4().hex}",
        )
        response = await send(
            client, CALLBACK, result.callbacks, success=(200,), headers=headers, content=body
        )
        if response is None:
            return False
        if response.status_code == 200 and response.json() == providers.ACKNOWLEDGEMENT:
            return True
        result.callbacks.note(response)
        return False

    pool = list(reversed(seeded.buyers))

    async def one_buyer(index: int) -> None:
        buyer: Buyer | None = None if fresh else seeded.buyers[index]
        body = {
            "campaign_id": campaign.id,
            "lines": [{"item_id": campaign.item_id, "quantity": 1}],
            "pickup_point_id": seeded.pickup_point_id,
            "accept_return_terms": True,
        }
        refused_in_a_row = settling = 0
        for _ in range(max_attempts):
            if buyer is None:
                if not pool:
                    return
                buyer = pool.pop()
            headers = {**bearer(buyer.token), "Idempotency-Key": uuid.uuid4().hex}
            started = time.perf_counter()
            response = await send(
                client, ORDERS, result.orders, success=ORDERED, headers=headers, json_body=body
            )
            code = error_code(response) if response is not None else None
            if response is not None and response.status_code in ORDERED:
                settling = 0
                placed = response.json()
                ack = Ack(
                    order_id=int(placed["order"]["id"]),
                    payment_public_id=str(placed["payment"]["public_id"]),
                    amount_fen=int(placed["payment"]["amount_fen"]),
                )
                result.acks[ack.order_id] = ack
                if fresh:
                    buyer = None
                if await pay(ack):
                    result.paid.add(ack.order_id)
                    result.purchases_ms.append((time.perf_counter() - started) * 1000)
                    refused_in_a_row = 0
                    continue
            elif code == SOLD_OUT:
                result.sold_out += 1
                return
            elif code in SETTLING_CODES:
                # The previous order is paid but not yet marked paid (the dispatcher does that
                # after the callback): back off 25 ms, 50 ms, ... at most 400 ms.
                result.waits += 1
                await asyncio.sleep(min(0.025 * 2**settling, 0.4))
                settling += 1
                continue
            elif response is not None:
                result.orders.note(response)
            refused_in_a_row += 1
            if refused_in_a_row >= 10:  # a broken setup, not a race: stop hammering
                return

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one_buyer(index)) for index in range(workers)]
    finished, unfinished = await asyncio.wait(tasks, timeout=deadline)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    result.seconds = time.perf_counter() - started
    result.timed_out = bool(unfinished)
    for task in finished:
        task.result()  # a bug in the benchmark itself surfaces here
    return result


async def wait_for_dispatcher(database_url: str, deadline: float) -> int:
    """Wait (bounded) until the in-server dispatcher has handled every pending event."""
    engine = create_async_engine(database_url)
    try:
        pending = -1
        stop = time.monotonic() + deadline
        while time.monotonic() < stop:
            async with engine.connect() as connection:
                pending = int(
                    await connection.scalar(
                        text("SELECT count(*) FROM outbox_events WHERE status = 'pending'")
                    )
                    or 0
                )
            if pending == 0:
                break
            await asyncio.sleep(0.2)
        return pending
    finally:
        await engine.dispose()


@dataclass
class Traffic:
    race: Race
    campaign: Campaign
    warmup: Race


async def drive(
    instance: Instance, seeded: Seeded, *, buyers: int, units: int, fresh: bool
) -> Traffic:
    limits = httpx.Limits(
        max_connections=buyers,
        max_keepalive_connections=buyers,
        keepalive_expiry=2.0,  # under uvicorn's 5 s, so no request meets a closing connection
    )
    async with httpx.AsyncClient(
        base_url=instance.url, limits=limits, timeout=REQUEST_TIMEOUT
    ) as client:
        # Warm-up: open every connection, then a small sale of its own (one unit per buyer,
        # paid), so code paths, pools and caches are warm and the race's stock is untouched.
        await asyncio.gather(*(client.get("/healthz") for _ in range(buyers)))
        warm_campaign = await open_campaign(
            client, seeded, title="预热团购", sku_id=seeded.warmup_sku_id, stock=buyers
        )
        sale = await open_campaign(
            client, seeded, title="红富士苹果限时秒杀", sku_id=seeded.sku_id, stock=units
        )
        log(f"warm-up: {buyers} buyers buy the {buyers} units of campaign {warm_campaign.id}")
        warmup = await race(
            client,
            seeded,
            warm_campaign,
            instance.sandbox_secret,
            workers=buyers,
            fresh=False,
            max_attempts=100,
            deadline=RACE_DEADLINE,
        )
        if warmup.orders.count_5xx or warmup.callbacks.count_5xx or not warmup.successful:
            raise BenchError(
                f"the warm-up sale failed: {warmup.successful} paid orders; "
                f"{warmup.orders.unexpected} {warmup.callbacks.unexpected}"
            )
        left = await wait_for_dispatcher(instance.database_url, SETTLE_DEADLINE)
        if left:
            log(f"warm-up: {left} events still pending in the outbox")

        who = "workers, a resident who has not ordered yet per order" if fresh else "buyers"
        log(f"race: {buyers} {who} for {units} units of campaign {sale.id}")
        cpu_before = instance.cpu_seconds()
        raced = await race(
            client,
            seeded,
            sale,
            instance.sandbox_secret,
            workers=buyers,
            fresh=fresh,
            max_attempts=2 * units + 200,
            deadline=RACE_DEADLINE,
        )
        if raced.seconds:
            raced.server_cpu = (instance.cpu_seconds() - cpu_before) / raced.seconds
        log(f"race: {raced.successful} orders placed and paid in {raced.seconds:.2f} s")
        return Traffic(raced, sale, warmup)


# --- what the database says ---------------------------------------------------------------

# The group-buy tables and the statuses that matter here (src/linli/groupbuy/models.py).
ORDERS_TABLE = "groupbuy_orders"
ORDER_LINES_TABLE = "groupbuy_order_lines"
ITEMS_TABLE = "groupbuy_campaign_items"
REMAINING_COLUMN = "remaining"
PAID_STATUSES = ("paid",)
RELEASED_STATUSES = ("cancelled",)  # orders whose units went back to stock


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


# --- the raw limit ------------------------------------------------------------------------

RAW_TABLE = "bench_raw_stock"
RAW_STOCK = 1_000_000_000  # never runs out during the measurement
RAW_UPDATE = f"UPDATE {RAW_TABLE} SET stock = stock - 1 WHERE id = 1 AND stock >= 1 RETURNING stock"


@dataclass(frozen=True)
class Raw:
    tool: str
    clients: int
    seconds: float
    transactions: int
    updates_per_s: float
    decremented: int  # what the table says was taken: must equal `transactions`


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


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


def raw_limit(url: URL, clients: int, seconds: int, workdir: Path) -> Raw:
    """The bare conditional UPDATE on one hot row, `clients` at a time, for `seconds`."""
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
    pgbench = find_pgbench()
    if pgbench is not None:
        tool, transactions, rate = "pgbench", *_run_pgbench(pgbench, url, clients, seconds, workdir)
    else:
        tool, (transactions, rate) = (
            "asyncpg loop",
            asyncio.run(_asyncpg_loop(url, clients, seconds)),
        )
    left = asyncio.run(_scratch(url, []))
    return Raw(tool, clients, seconds, transactions, rate, RAW_STOCK - left)


def _run_pgbench(
    pgbench: str, url: URL, clients: int, seconds: int, workdir: Path
) -> tuple[int, float]:
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
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    if processed is None or tps is None:
        raise BenchError(f"cannot read pgbench's output:\n{result.stdout}")
    return int(processed.group(1)), float(tps.group(1))


async def _asyncpg_loop(url: URL, clients: int, seconds: int) -> tuple[int, float]:
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
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(loop(i, c, until) for i, c in enumerate(connections)))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    return sum(done), sum(done) / elapsed


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    buyers: int
    units: int
    fresh: bool
    traffic: Traffic
    checked: Verification
    raw: Raw
    workers: int = 1

    @property
    def orders_per_s(self) -> float:
        raced = self.traffic.race
        return raced.successful / raced.seconds if raced.seconds else 0.0

    @property
    def server_cpu_ms_per_order(self) -> float:
        """CPU milliseconds the server's processes spent per successful order (order,
        callback, and the dispatcher's work for them) during the race."""
        raced = self.traffic.race
        return (
            raced.server_cpu * raced.seconds * 1000 / raced.successful if raced.successful else 0.0
        )

    @property
    def ratio(self) -> float:
        return self.orders_per_s / self.raw.updates_per_s if self.raw.updates_per_s else 0.0

    @property
    def errors_4xx(self) -> int:
        """4xx answers other than the expected ones (sold out, previous order settling)."""
        raced = self.traffic.race
        expected = raced.sold_out + raced.waits
        return raced.orders.count_4xx - expected + raced.callbacks.count_4xx

    @property
    def errors_5xx(self) -> int:
        return self.traffic.race.orders.count_5xx + self.traffic.race.callbacks.count_5xx

    @property
    def correct(self) -> bool:
        return self.checked.oversold == 0 and self.checked.lost == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "orders_per_s": round(self.orders_per_s, 1),
            "raw_updates_per_s": round(self.raw.updates_per_s, 1),
            "ratio": round(self.ratio, 4),
            "p99_ms": round(self.traffic.race.orders.percentile(0.99), 1),
            "oversold": self.checked.oversold,
            "lost": self.checked.lost,
            "errors_5xx": self.errors_5xx,
        }

    def table(self) -> str:
        raced, checked, raw = self.traffic.race, self.checked, self.raw

        def quantiles(tally: Tally) -> str:
            return " / ".join(f"{tally.percentile(q):.1f}" for q in (0.5, 0.95, 0.99)) + " ms"

        verdict = "" if self.ratio >= TARGET_RATIO else "  (below the 0.5 target)"
        transport = raced.orders.transport_errors + raced.callbacks.transport_errors
        took = f"{raced.seconds:.2f} s"
        mode = (
            "orders once (--fresh-buyers: a new resident per order)"
            if self.fresh
            else "orders, pays, and orders again"
        )
        requests = f"{raced.orders.requests} / {raced.callbacks.requests}"
        orders = f"{checked.acknowledged} / {checked.persisted} / {checked.paid}"
        reserved = f"{checked.reserved} (remaining {checked.remaining})"
        raw_counts = f"{raw.seconds} / {raw.transactions} / {raw.decremented}"
        rows: list[tuple[str, str]] = [
            ("buyers (concurrent) / units", f"{self.buyers} / {self.units}"),
            ("each buyer", mode),
            ("", ""),
            ("successful orders (201, then paid)", f"{raced.successful} in {took}"),
            ("SUCCESSFUL ORDERS PER SECOND", f"{self.orders_per_s:.1f}"),
            ("order latency p50 / p95 / p99", quantiles(raced.orders)),
            ("callback latency p50 / p95 / p99", quantiles(raced.callbacks)),
            ("order + callback p50 / p95 / p99", quantiles(Tally(raced.purchases_ms))),
            ("requests: orders / callbacks", requests),
            ("409 sold_out (each buyer's last)", str(raced.sold_out)),
            ("409 previous order settling", str(raced.waits)),
            ("other 4xx", str(self.errors_4xx)),
            ("5xx", str(self.errors_5xx)),
            ("transport errors (retried)", str(transport)),
            ("server processes' CPU during the race", f"{raced.server_cpu:.0%} of one core"),
            ("server CPU per successful order", f"{self.server_cpu_ms_per_order:.1f} ms"),
            ("", ""),
            ("acknowledged / in database / paid", orders),
            ("payment intents succeeded", str(checked.intents_succeeded)),
            ("units reserved (S - remaining)", reserved),
            ("units held by orders", str(checked.sold)),
            ("OVERSOLD units (must be 0)", str(checked.oversold)),
            ("LOST acknowledged orders (must be 0)", str(checked.lost)),
            ("", ""),
            (f"RAW LIMIT ({raw.tool}, {raw.clients} clients)", f"{raw.updates_per_s:.1f}/s"),
            ("raw: seconds / transactions / units taken", raw_counts),
            ("RATIO app / raw", f"{self.ratio:.4f}{verdict}"),
        ]  # fmt: skip
        width = max(len(label) for label, _ in rows)
        lines = [
            "Flash sale (order, then signed payment callback) on PostgreSQL, "
            f"`linli serve --workers {self.workers}`"
        ]
        lines += [f"  {label:<{width}}  {value}" if label else "" for label, value in rows]
        problems = self.problems()
        if problems:
            lines += ["", "Problems:", *(f"  - {problem}" for problem in problems)]
        return "\n".join(lines)

    def problems(self) -> list[str]:
        found: list[str] = []
        checked, raced = self.checked, self.traffic.race
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
        if raced.timed_out:
            found.append(f"the race hit its {RACE_DEADLINE:.0f} s deadline (results are partial)")
        if self.raw.decremented != self.raw.transactions:
            found.append("the raw UPDATE took a different number of units than it ran")
        for tally in (raced.orders, raced.callbacks):
            found += [f"{n} x {key}" for key, n in sorted(tally.unexpected.items())]
            found += [f"{n} x {kind} (retried)" for kind, n in sorted(tally.transport.items())]
        return found


# --- the run ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="N concurrent buyers race for S units of one group-buy campaign SKU "
        "through the HTTP API (order, then signed payment callback) on PostgreSQL; compared "
        "with the bare conditional stock UPDATE (pgbench) on the same server."
    )
    parser.add_argument("--buyers", type=int, default=64, help="concurrent buyers (64)")
    parser.add_argument("--units", type=int, default=500, help="units of the campaign SKU (500)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the database and the work directory"
    )
    parser.add_argument(
        "--fresh-buyers",
        action="store_true",
        help="each order by a resident who has not ordered yet (N in flight at a time), so "
        "nobody waits for their previous order to be marked paid",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="`linli serve --workers N` processes; default one per core, as the operator "
        "guide says to serve on PostgreSQL",
    )
    parser.add_argument(
        "--raw-seconds", type=int, default=5, help="how long the raw limit is measured (5)"
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
    if not 1 <= args.workers <= 8:
        parser.error("--workers must be between 1 and 8")
    if not 1 <= args.raw_seconds <= 60:
        parser.error("--raw-seconds must be between 1 and 60")
    server = make_url(args.server)
    if server.host not in (None, "127.0.0.1", "localhost"):
        parser.error("--server must be on 127.0.0.1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    server = make_url(args.server)
    name = f"linli_bench_{secrets.token_hex(4)}"
    workdir = Path(tempfile.mkdtemp(prefix="linli-flash-sale-"))
    log(f"database {name}, work directory {workdir}")
    database = create_database(server, name)
    instance = Instance(
        database_url=database.render_as_string(hide_password=False),
        workdir=workdir,
        port=free_port(),
        sandbox_secret=secrets.token_urlsafe(32),
        workers=args.workers,
    )
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
        traffic = asyncio.run(
            drive(instance, seeded, buyers=args.buyers, units=args.units, fresh=args.fresh_buyers)
        )
        log("checking the database")
        checked = asyncio.run(
            verify(
                instance.database_url,
                traffic.campaign,
                list(traffic.race.acks.values()),
                args.units,
            )
        )
        instance.stop()
        log(f"raw limit: the conditional UPDATE, {args.buyers} clients, {args.raw_seconds} s")
        raw = raw_limit(database, args.buyers, args.raw_seconds, workdir)
        report = Report(
            args.buyers, args.units, args.fresh_buyers, traffic, checked, raw, args.workers
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
        raw = raw_limit(database, args.buyers, args.raw_seconds, workdir)
        log(
            f"raw limit measured anyway: {raw.updates_per_s:.1f} updates/s "
            f"({raw.tool}, {raw.clients} clients, {raw.seconds} s)"
        )
        print(f"flash_sale: cannot run: {error}", file=sys.stderr)
        return 2
    except BenchError as error:
        keep_dir = True  # the server's log tells why
        print(f"flash_sale: cannot run: {error}", file=sys.stderr)
        return 2
    finally:
        instance.stop()
        if keep_db:
            log(f"kept database {name}")
        else:
            drop_database(server, name)
        if keep_dir:
            log(f"kept {workdir} (server.log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
