"""SQL statements per page, pinned: each main page costs a fixed number of statements, however
many products, campaigns, orders, deliveries or trace records it shows (no query per row).

Counted at the driver (tests/statements.py) on a warm request (the trace page's verified chain
is cached per batch, the first visit verifies it). SQLite counts include the BEGIN DEFERRED
each reading request sends; asyncpg sends its BEGIN outside the cursor. The rendered-page
cache is off here: these are the statements of rendering the page (an anonymous visitor
answered from the cache costs one read of the content generation: tests/test_response_cache.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.community.models import PickupPoint
from linli.config import Settings
from linli.groupbuy.models import Order
from tests.conftest import DATABASE_KIND
from tests.groupbuy.helpers import item, listed_sku, published_campaign, residents
from tests.groupbuy.test_fulfilment import (
    API,
    World,
    buy,
    past_cutoff,
    the_whole_loop,
)
from tests.groupbuy.test_fulfilment_pages import browser
from tests.statements import statements_of
from tests.trace.safety_helpers import a_batch, lot_class, record
from tests.trace.test_public_page_cost import step

# page: (SQLite, PostgreSQL)
PINNED: dict[str, tuple[int, int]] = {
    "catalogue": (14, 13),
    "catalogue search": (14, 13),
    "export channel": (10, 9),
    "product": (9, 8),
    "merchant page": (9, 8),
    "trace": (11, 10),
    "group buys": (2, 1),
    "group buys (resident)": (3, 2),
    "order": (12, 11),
    "leader desk": (5, 4),
    "merchant console": (11, 10),
    "merchant products": (11, 10),
    "merchant group buys": (10, 9),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"page_cache_seconds": 0})


@dataclass
class Scene:
    world: World
    batch_code: str
    orders: list[int]


async def grow(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    scene: Scene,
) -> None:
    """More of everything the pages list: products, a second campaign with bigger orders
    delivered to the same desk, and trace records."""
    shop = scene.world.shop
    skus = [await listed_sku(client, shop, code=f"MORE{n}") for n in range(4)]
    campaign = await published_campaign(
        client, shop, *(item(sku, min_group_qty=1, per_resident_limit=5) for sku in skus)
    )
    second = World(shop, campaign, [i["id"] for i in campaign["items"]], skus, scene.world.points)
    busy, quiet = scene.world.points
    # The busy point's leader runs the quiet point too: the desk lists both points.
    point = await session.get(PickupPoint, quiet.id)
    assert point is not None
    point.leader_user_id = busy.leader.user.id
    await session.commit()
    for buyer in await residents(session, 3):
        lines = [(item_id, 2) for item_id in second.items]
        scene.orders.append(await buy(client, settings, buyer, second, lines, busy))
    await past_cutoff(app, frozen_clock)
    shipped = await client.post(f"{API}/campaigns/{campaign['id']}/ship", headers=shop.headers)
    assert shipped.status_code == 200, shipped.text
    (delivery,) = shipped.json()
    arrived = await client.post(
        f"{API}/deliveries/{delivery['id']}/arrive", headers=busy.leader.headers
    )
    assert arrived.status_code == 200, arrived.text
    await app.state.dispatcher.run_once()


async def count_pages(app: FastAPI, client: httpx.AsyncClient, scene: Scene) -> dict[str, int]:
    """Statements of each page, warm (each asked once before it is counted)."""
    counts: dict[str, int] = {}
    shown: dict[str, list[str]] = {}

    async def measure(name: str, browser_: httpx.AsyncClient, path: str) -> None:
        warm = await browser_.get(path)
        assert warm.status_code == 200, (path, warm.text[:500])
        response, statements = await statements_of(app, browser_, path)
        assert response.status_code == 200, path
        counts[name] = len(statements)
        shown[name] = statements

    world = scene.world
    product = world.sku_ids[0]
    await client.get("/healthz")
    await measure("catalogue", client, "/catalog")
    await measure("catalogue search", client, "/catalog?q=大米")
    await measure("export channel", client, "/export")
    await measure("product", client, f"/p/{await product_of(app, product)}")
    await measure("merchant page", client, f"/m/{world.shop.organisation.id}")
    await measure("trace", client, f"/t/{scene.batch_code}")
    await measure("group buys", client, "/groupbuy")
    buyer_of_last = await buyer_of(app, scene.orders[-1])
    async with browser(app, buyer_of_last) as (resident, _csrf):
        await measure("group buys (resident)", resident, "/groupbuy")
        await measure("order", resident, f"/groupbuy/orders/{scene.orders[-1]}")
    async with browser(app, world.points[0].leader.user) as (leader, _csrf):
        await measure("leader desk", leader, "/leader/pickup")
    async with browser(app, world.shop.owner, world.shop.organisation) as (merchant, _csrf):
        await measure("merchant console", merchant, "/merchant")
        await measure("merchant products", merchant, "/merchant/products")
        await measure("merchant group buys", merchant, "/merchant/groupbuy")
    print(f"\n[{DATABASE_KIND}] statements per page:")
    for name, statements in shown.items():
        print(f"  {name}: {len(statements)}")
        for statement in statements:
            print(f"      {statement[:150]}")
    return counts


async def product_of(app: FastAPI, sku_id: int) -> int:
    async with app.state.sessionmaker() as s:
        sku: Sku | None = await s.get(Sku, sku_id)
    assert sku is not None
    return sku.product_id


async def buyer_of(app: FastAPI, order_id: int) -> User:
    async with app.state.sessionmaker() as s:
        order: Order | None = await s.get(Order, order_id)
        assert order is not None
        user: User | None = await s.get(User, order.user_id)
    assert user is not None
    return user


async def test_main_pages_cost_a_fixed_number_of_statements_however_much_they_show(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, _buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    batch = await a_batch(app, world.shop, world.sku_ids[0], "L1")
    scene = Scene(world, batch.code, [mine])
    small = await count_pages(app, client, scene)
    await grow(app, client, session, settings, frozen_clock, scene)
    for n in range(60):  # more than a page of the journey
        await record(app, world.shop.organisation.id, step(lot_class(batch), n))
    large = await count_pages(app, client, scene)
    column = 0 if DATABASE_KIND == "sqlite" else 1
    pinned = {name: counts[column] for name, counts in PINNED.items()}
    assert small == large, "a page's statements grew with what it shows"
    assert large == pinned
