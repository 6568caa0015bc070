"""The authorisation matrix: every API operation and every page route, asked by every kind of
caller, against rows that belong to someone else; the expected outcome is data (TABLE below).

A route without an entry fails `test_every_route_has_an_entry`: a new route states who may use
it here, and (for API routes) which token scope it needs, before it can land.

Outcomes: o = allowed (whatever the route then says about the input: 2xx, 3xx, 400, 409, 422),
h = 404 (missing and forbidden look alike), d = 403, l = 401 (log in; pages take no tokens).
Columns (sessions, in order): anonymous, resident (owns the order), another resident, leader of
the order's pickup point, leader of another point, merchant staff, merchant owner (the order's
merchant), another merchant's owner, regulator in the merchant's region, regulator elsewhere,
platform operator. Tokens with each single scope, for the resident, the leader, the owner and
the operator, are expected to do what their user's session does when the route accepts that
scope, else 403; on pages every token gets 401.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import is_api_path
from linli.accounts.models import ApiToken, User
from linli.authz import SCOPES
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.community.models import PickupPoint
from linli.config import Settings
from linli.groupbuy.models import Order
from linli.notifications.models import Notification
from linli.outbox import DueJob, OutboxEvent
from linli.payments import ledger
from linli.web import CSRF_COOKIE, CSRF_FIELD, verify_csrf
from tests.factories import grant, login, make_org, make_token, make_user
from tests.groupbuy.helpers import a_shop, bearer, live_in, residents
from tests.groupbuy.test_fulfilment import a_world, buy, past_cutoff

SESSIONS = (
    "anon",
    "resident",
    "other_resident",
    "leader",
    "other_leader",
    "staff",
    "owner",
    "other_merchant",
    "regulator",
    "far_regulator",
    "operator",
)
TOKEN_USERS = ("resident", "leader", "owner", "operator")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY = "*"  # public API routes: any token (or none)


# One line per route: outcomes per session column, the scopes a token may carry (comma-separated;
# * = any token, - = a page: no token at all), the method and the path.
TABLE_TEXT = """
"""


@dataclass(frozen=True)
class Expected:
    sessions: dict[str, str]
    scopes: frozenset[str] | None  # None: a page; ANY_SCOPE: any token
    line: str


ANY_SCOPE = frozenset({ANY})


def parse_table(text: str) -> dict[str, Expected]:
    table: dict[str, Expected] = {}
    for line in text.strip().splitlines():
        outcomes, scope_text, method, path = line.split()
        assert len(outcomes) == len(SESSIONS), line
        assert set(outcomes) <= set("ohdl"), line
        key = f"{method} {path}"
        assert key not in table, f"twice in the table: {key}"
        scopes = None if scope_text == "-" else frozenset(scope_text.split(","))
        assert scopes is None or scopes == ANY_SCOPE or scopes <= set(SCOPES), line
        table[key] = Expected(dict(zip(SESSIONS, outcomes, strict=True)), scopes, line)
    return table


TABLE = parse_table(TABLE_TEXT)


def app_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every route the application serves (those of included routers too)."""
    for route in app.routes:
        included = getattr(route, "original_router", None)
        for inner in included.routes if included is not None else [route]:
            if isinstance(inner, APIRoute):
                yield inner


def route_keys(app: FastAPI) -> dict[str, APIRoute]:
    keys: dict[str, APIRoute] = {}
    for route in app_routes(app):
        for method in sorted(route.methods - {"HEAD"}):
            keys[f"{method} {route.path}"] = route
    return keys


def _calls(route: APIRoute) -> list[Any]:
    found: list[Any] = []
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        found.extend(d.call for d in dependant.dependencies)
        stack.extend(dependant.dependencies)
    return found


def declared_scopes(route: APIRoute) -> frozenset[str] | None:
    """The scopes the route's access dependency accepts (None: it has none)."""
    for call in _calls(route):
        access = getattr(call, "access", None)
        if access is not None:
            return frozenset(access)
    return None


def test_every_route_has_an_entry(app: FastAPI) -> None:
    served = route_keys(app)
    operations = {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
    }
    assert operations <= set(served)
    missing = sorted(set(served) - set(TABLE))
    assert not missing, "routes without an entry in the authorisation matrix:\n" + "\n".join(
        missing
    )
    gone = sorted(set(TABLE) - set(served))
    assert not gone, f"entries for routes that no longer exist: {gone}"


def test_every_api_route_states_its_scopes_and_pages_take_none(app: FastAPI) -> None:
    """API routes name their scopes in code (require / require_scope) and the table agrees;
    public API routes are marked * in the table and take no access dependency."""
    for key, route in route_keys(app).items():
        expected = TABLE[key]
        if not is_api_path(route.path):
            assert expected.scopes is None, f"{key} is a page: no token scopes"
            continue
        declared = declared_scopes(route)
        if expected.scopes == ANY_SCOPE:
            assert declared is None, f"{key} is public in the table but declares {declared}"
        else:
            assert declared == expected.scopes, f"{key}: code says {declared}, table says ..."


def test_every_cookie_write_is_checked_for_csrf(app: FastAPI) -> None:
    """Pages check the form token (verify_csrf); API paths check the header (identity)."""
    for key, route in route_keys(app).items():
        if key.split()[0] in UNSAFE and not is_api_path(route.path):
            assert verify_csrf in _calls(route), f"{key} takes no CSRF token"


# --- the world ----------------------------------------------------------------------------


@dataclass
class World:
    params: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # "user:scope" -> headers


async def build_world(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> tuple[World, dict[str, User], list[httpx.AsyncClient]]:
    gb = await a_world(client, session, threshold=1)
    busy, quiet = gb.points
    buyer, neighbour = await residents(session, 2)
    await live_in(session, buyer.user, busy.id)
    await live_in(session, neighbour.user, quiet.id)
    order_id = await buy(client, settings, buyer, gb, [(gb.items[0], 1)], busy)
    batch = await client.post(
        "/api/v1/trace/batches",
        json={
            "sku_id": gb.sku_ids[0],
            "lot": "L2026",
            "production_date": "2026-11-01",
            "origin": "山东烟台",
            "producer": "合作社",
        },
        headers=gb.shop.headers,
    )
    assert batch.status_code == 201, batch.text
    await past_cutoff(app, frozen_clock)
    deliveries = await client.get(
        "/api/v1/groupbuy/merchant/deliveries", headers=gb.shop.headers
    )
    delivery = next(d for d in deliveries.json() if d["pickup_point_id"] == busy.id)
    shipped = await client.post(
        f"/api/v1/groupbuy/deliveries/{delivery['id']}/ship", headers=gb.shop.headers
    )
    assert shipped.status_code == 200, shipped.text
    arrived = await client.post(
        f"/api/v1/groupbuy/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    checkout = (
        await client.get(f"/api/v1/groupbuy/orders/{order_id}", headers=buyer.headers)
    ).json()
    recall = await client.post(
        "/api/v1/trace/recalls",
        json={"level": 3, "reason": "抽检", "batch_ids": [batch.json()["id"]], "refund": "none"},
        headers=gb.shop.headers,
    )
    assert recall.status_code == 201, recall.text

    staff = await make_user(session, name="店员")
    await grant(session, gb.shop.organisation, staff, "staff")
    rival = await a_shop(client, session, name="别家")
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    far_officer = await make_user(session, name="外地")
    far = await make_org(
        session,
        "regulator",
        owner=far_officer,
        name="杭州市场监管局",
        province_code="330000",
        city_code="330100",
    )
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")

    async with app.state.sessionmaker() as s:
        row = await s.get(Order, order_id)
        assert row is not None
        assert row.pickup_code is not None
        notification_id = await s.scalar(
            select(func.min(Notification.id)).where(Notification.user_id == buyer.user.id)
        )
        token_id = await s.scalar(
            select(func.min(ApiToken.id)).where(ApiToken.user_id == buyer.user.id)
        )
        seq = await s.scalar(select(func.min(OutboxEvent.seq)))
        job_id = await s.scalar(select(func.min(DueJob.id)))
        product_id = await s.scalar(select(Sku.product_id).where(Sku.id == gb.sku_ids[0]))
        point = await s.get(PickupPoint, busy.id)
        assert point is not None
    params: dict[str, Any] = {
        "organisation_id": gb.shop.organisation.id,
        "user_id": staff.id,
        "role": "staff",
        "product_id": product_id,
        "sku_id": gb.sku_ids[0],
        "community_id": point.community_id,
        "application_id": 999999,
        "campaign_id": gb.campaign["id"],
        "order_id": order_id,
        "line_id": checkout["order"]["lines"][0]["id"],
        "item_id": gb.items[0],
        "delivery_id": delivery["id"],
        "point_id": busy.id,
        "code": row.pickup_code,
        "public_id": checkout["payment"]["public_id"],
        "notification_id": notification_id or 999999,
        "token_id": token_id,
        "seq": seq or 999999,
        "job_id": job_id or 999999,
        "batch_id": batch.json()["id"],
        "recall_id": recall.json()["id"],
        "certification_id": 999999,
        "capture_id": str(uuid.uuid4()),
        "event_id": f"urn:uuid:{uuid.uuid4()}",
        "file_id": 999999,
    }
    world = World(params)
    world.overrides = {
        "/api/v1/credit-codes/{code}": {"code": "91350100M000100Y43"},
        "/t/{code}": {"code": batch.json()["code"]},
        "/t/{code}/qr.svg": {"code": batch.json()["code"]},
        "/api/v1/payments/ledger/accounts/{code}": {
            "code": ledger.merchant_payable(gb.shop.organisation.id)
        },
        "/api/v1/groupbuy/pickup-points/{point_id}/awaiting/{code}": {"code": row.pickup_code},
    }
    users = {
        "resident": buyer.user,
        "other_resident": neighbour.user,
        "leader": busy.leader.user,
        "other_leader": quiet.leader.user,
        "staff": staff,
        "owner": gb.shop.owner,
        "other_merchant": rival.owner,
        "regulator": officer,
        "far_regulator": far_officer,
        "operator": operator,
    }
    acting = {
        "staff": gb.shop.organisation,
        "owner": gb.shop.organisation,
        "other_merchant": rival.organisation,
        "regulator": regulator,
        "far_regulator": far,
        "operator": platform,
    }
    opened: list[httpx.AsyncClient] = []
    transport = httpx.ASGITransport(app=app)
    for name in SESSIONS:
        c = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(c)
        if name == "anon":
            await c.get("/healthz")
        else:
            await login(c, users[name], organisation=acting.get(name))
        world.sessions[name] = c
    for name in TOKEN_USERS:
        for scope in SCOPES:
            token = await make_token(
                session, users[name], scopes=(scope,), organisation=acting.get(name)
            )
            world.tokens[f"{name}:{scope}"] = bearer(token)
    return world, users, opened


def outcome(response: httpx.Response) -> str:
    if response.status_code >= 500:
        return "E"
    return {401: "l", 403: "d", 404: "h"}.get(response.status_code, "o")


def _order(key: str) -> tuple[int, str]:
    """Reading first, then writing; what ends a session or a token last."""
    method, path = key.split(" ", 1)
    if any(word in path for word in ("logout", "switch", "revoke", "token_id", "active-org")):
        return (2, key)
    return (0 if method not in UNSAFE else 1, key)


async def test_the_authorisation_matrix(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, _users, opened = await build_world(app, client, session, settings, frozen_clock)
    try:
        problems = await _run(app, world)
    finally:
        for c in opened:
            await c.aclose()
    assert not problems, "\n".join(problems)


async def _request(
    c: httpx.AsyncClient, method: str, url: str, *, page: bool, headers: dict[str, str]
) -> httpx.Response:
    if method not in UNSAFE:
        return await c.request(method, url, headers=headers)
    if page:
        csrf = c.cookies.get(CSRF_COOKIE) or ""
        return await c.request(method, url, data={CSRF_FIELD: csrf}, headers=headers)
    return await c.request(method, url, json={}, headers=headers)


async def _run(app: FastAPI, world: World) -> list[str]:
    problems: list[str] = []
    transport = httpx.ASGITransport(app=app)
    bare = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    for key, route in sorted(route_keys(app).items(), key=lambda kv: _order(kv[0])):
        expected = TABLE.get(key)
        method, path = key.split(" ", 1)
        values = world.params | world.overrides.get(path, {})
        url = path
        for name in route.param_convertors:
            url = url.replace("{" + name + "}", str(values[name])).replace(
                "{" + name + ":path}", str(values[name])
            )
        page = not is_api_path(path)
        got: dict[str, str] = {}
        for name in SESSIONS:
            started = time.monotonic()
            response = await _request(world.sessions[name], method, url, page=page, headers={})
            got[name] = outcome(response)
            if time.monotonic() - started > 0.5:
                problems.append(f"slow: {name} {key} {time.monotonic() - started:.1f}s")
        seen = "".join(got[n] for n in SESSIONS)
        if expected is None:
            problems.append(f"no entry: {seen} {key}")
            continue
        if any(got[n] != expected.sessions[n] for n in SESSIONS):
            problems.append(f"sessions: expected {expected.line}\n          got      {seen}")
        for token_name, headers in world.tokens.items():
            user, scope = token_name.split(":", 1)
            if expected.scopes is None:
                want = "l"
            elif expected.scopes == ANY_SCOPE or scope in expected.scopes:
                want = expected.sessions[user]
            else:
                want = "d"
            response = await _request(bare, method, url, page=page, headers=headers)
            if outcome(response) != want:
                problems.append(
                    f"token {token_name}: {key} expected {want}, got {response.status_code}"
                    f" {response.text[:120]}"
                )
    await bare.aclose()
    return problems
