"""Rendered public pages kept per process (middleware.ResponseCacheMiddleware): a write shows
on the next request, in this process or after another one wrote; logged-in visitors are never
answered from the cache nor fill it; one locale never answers another; each visitor gets its
own CSRF token in a kept page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message, Receive, Scope, Send

from linli import clock
from linli.catalog.models import Sku
from linli.config import Settings
from linli.db import READ_GENERATION, make_engine, written_table, written_tables
from linli.middleware import PAGE_FRESH_FOR, PUBLIC_PAGE, ResponseCacheMiddleware
from tests.factories import login, make_user
from tests.groupbuy.helpers import PRODUCTS, a_shop, listed_sku
from tests.statements import statements_of

CSRF = "linli_csrf"


def token_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert found, "no CSRF field"
    return found.group(1)


async def a_product(
    client: httpx.AsyncClient, session: AsyncSession
) -> tuple[int, int, dict[str, str]]:
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, price_fen=1990)
    product_id = await session.scalar(select(Sku.product_id).where(Sku.id == sku_id))
    assert product_id is not None
    return product_id, sku_id, shop.headers


def anonymous(locale: str = "en") -> dict[str, str]:
    return {"Accept-Language": locale}


async def test_a_kept_page_is_served_until_a_price_changes(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product_id, sku_id, merchant = await a_product(client, session)
    path = f"/p/{product_id}"
    first = await client.get(path, headers=anonymous())
    assert first.status_code == 200
    assert "¥19.90" in first.text
    kept, statements = await statements_of(app, client, path)
    assert kept.text == first.text
    # Answered from the cache: the generation is read, the page is not rendered.
    assert [s for s in statements if s.startswith("SELECT")] == [READ_GENERATION]
    changed = await client.put(
        f"{PRODUCTS.removesuffix('/products')}/skus/{sku_id}/price",
        json={"price_fen": 2590},
        headers=merchant,
    )
    assert changed.status_code == 200, changed.text
    fresh = await client.get(path, headers=anonymous())
    assert "¥25.90" in fresh.text
    assert "¥19.90" not in fresh.text


async def test_a_write_by_another_process_is_seen_on_the_next_request(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    product_id, sku_id, _merchant = await a_product(client, session)
    path = f"/p/{product_id}"
    assert "¥19.90" in (await client.get(path, headers=anonymous())).text
    other = make_engine(settings.resolved_database_url)  # another worker's engine
    try:
        async with other.begin() as connection:
            await connection.execute(
                text("UPDATE skus SET price_fen = 990 WHERE id = :id"), {"id": sku_id}
            )
    finally:
        await other.dispose()
    assert "¥9.90" in (await client.get(path, headers=anonymous())).text


async def test_logged_in_visitors_are_never_answered_from_the_cache_nor_fill_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    product_id, _sku, _merchant = await a_product(client, session)
    path = f"/p/{product_id}"
    resident = await make_user(session, name="居民")
    signed_in = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with signed_in:
        await login(signed_in, resident)
        before = await signed_in.get(path, headers=anonymous())
        assert "/inbox" in before.text  # the resident's own menu
        kept = await client.get(path, headers=anonymous())  # anonymous: kept now
        assert "/inbox" not in kept.text
        again, statements = await statements_of(app, signed_in, path)
        assert "/inbox" in again.text
        assert len(statements) > 1  # rendered, not the kept page
        assert again.headers["cache-control"] == "private, no-store"
    assert "/inbox" not in (await client.get(path, headers=anonymous())).text


async def test_one_locale_never_answers_another(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.get("/healthz")
    english = await client.get("/catalog", headers=anonymous("en"))
    chinese = await client.get("/catalog", headers=anonymous("zh-CN"))
    assert '<html lang="en">' in english.text
    assert '<html lang="zh-Hans">' in chinese.text
    assert "Catalogue" in english.text
    assert "Catalogue" not in chinese.text
    assert (await client.get("/catalog", headers=anonymous("en"))).text == english.text
    assert (await client.get("/catalog", headers=anonymous("zh-CN"))).text == chinese.text
    client.cookies.set("linli_lang", "zh_Hans")  # the remembered choice wins over the header
    assert (await client.get("/catalog", headers=anonymous("en"))).text == chinese.text


async def test_every_visitor_gets_its_own_csrf_token_escaped(client: httpx.AsyncClient) -> None:
    tokens = ["a" * 43, "b" * 43, "x&<script>alert(1)</script>" + "c" * 20]
    pages = []
    for token in tokens:
        client.cookies.set(CSRF, token)
        pages.append((await client.get("/", headers=anonymous())).text)
    assert token_in(pages[0]) == tokens[0]
    assert token_in(pages[1]) == tokens[1]
    assert "<script>alert(1)" not in pages[2]
    assert token_in(pages[2]).startswith("x&amp;&lt;script&gt;")
    assert pages[0].replace(tokens[0], "") == pages[1].replace(tokens[1], "")
    client.cookies.clear()
    first_visit = await client.get("/", headers=anonymous())  # a fresh token, set as a cookie
    assert token_in(first_visit.text) == first_visit.cookies[CSRF]


async def test_reading_and_bookkeeping_do_not_move_the_generation(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    async def generation() -> int:
        value = await session.scalar(text(READ_GENERATION))
        await session.commit()
        assert value is not None
        return int(value)

    before = await generation()
    await client.get("/catalog")
    async with app.state.sessionmaker() as writing:
        await writing.execute(text("DELETE FROM rate_counters"))  # bookkeeping
        await writing.commit()
        await writing.execute(text("UPDATE skus SET stock = stock WHERE id = -1"))
        await writing.rollback()  # nothing committed
    assert await generation() == before
    async with app.state.sessionmaker() as writing:
        await writing.execute(text("UPDATE skus SET stock = stock WHERE id = -1"))
        await writing.commit()
    assert await generation() == before + 1


async def test_static_files_uploads_and_the_api_do_not_read_the_generation(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for path in ("/healthz", "/api/v1/catalog/products", "/static/linli.css"):
        _answer, statements = await statements_of(app, client, path)
        assert READ_GENERATION not in statements, path


def test_the_written_table_is_read_from_the_statement() -> None:
    assert written_table('INSERT INTO "skus" (id) VALUES (1)') == "skus"
    assert written_table("  update price_changes set x = 1") == "price_changes"
    assert written_table("DELETE FROM products WHERE id = 1") == "products"
    assert written_table("INSERT OR IGNORE INTO categories VALUES (1)") == "categories"
    assert written_table("WITH t AS (SELECT 1) UPDATE skus SET stock = 1") == "skus"
    assert written_table("SELECT * FROM skus WHERE note = 'UPDATE skus'") is None
    assert written_table("WITH t AS (SELECT 1) SELECT * FROM t") is None


def test_every_table_a_statement_with_data_modifying_ctes_writes_counts() -> None:
    """A one-statement unit of work (the group-buy checkout) writes untracked tables first
    and the tracked stock later: every written table is seen, an upsert's DO UPDATE is not."""
    statement = (
        "WITH q AS (INSERT INTO groupbuy_resident_quotas (user_id) SELECT 1 ON CONFLICT "
        "(user_id) DO UPDATE SET quantity = 2 RETURNING quantity), "
        'o AS (INSERT INTO "groupbuy_orders" (id) SELECT 1 RETURNING id), '
        "s AS (UPDATE groupbuy_campaign_items SET remaining = 0 RETURNING id) SELECT * FROM s"
    )
    assert written_tables(statement) == [
        "groupbuy_resident_quotas",
        "groupbuy_orders",
        "groupbuy_campaign_items",
    ]
    assert written_tables("UPDATE skus SET stock = 1") == ["skus"]
    assert written_tables("WITH t AS (SELECT 1) SELECT * FROM t") == []
    assert written_tables("SELECT 'UPDATE skus'") == []


async def test_a_page_that_changes_with_time_is_kept_no_longer_than_it_says(app: FastAPI) -> None:
    rendered: list[str] = []

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        rendered.append(scope["path"])
        scope["state"][PUBLIC_PAGE] = True
        if scope["path"] == "/soon":
            scope["state"][PAGE_FRESH_FOR] = 0.0
        body = f"<p>{scope['state']['csrf_token']}</p>".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    kept = ResponseCacheMiddleware(page, engine=app.state.engine, max_age=60)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def get(path: str) -> None:
        scope: Scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
                 "headers": [], "state": {"csrf_token": "t" * 43, "locale": "en"}}  # fmt: skip
        await kept(scope, receive, send)

    with clock.frozen(datetime(2026, 12, 6, 12, tzinfo=UTC)) as frozen:
        for path in ("/soon", "/soon", "/later", "/later"):
            await get(path)
        assert rendered == ["/soon", "/soon", "/later"]
        frozen.advance(timedelta(seconds=59))
        await get("/later")
        assert rendered == ["/soon", "/soon", "/later"]
        frozen.advance(timedelta(seconds=1))  # the application's clock, not the wall's
        await get("/later")
        assert rendered == ["/soon", "/soon", "/later", "/later"]
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [
        b"<p>" + b"t" * 43 + b"</p>"
    ] * 6


async def test_a_page_rendered_before_a_write_is_never_served_after_it(app: FastAPI) -> None:
    """A slow request read the generation, a write committed, a quicker request rendered the
    new page; the slow one keeps its older page last: it must not be served."""
    rendered: list[str] = []

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"][PUBLIC_PAGE] = True
        version = f"v{len(rendered)}"
        rendered.append(version)
        if version == "v0":  # the slow one: a write and a quicker request meanwhile
            async with app.state.sessionmaker() as writing:
                await writing.execute(text("UPDATE skus SET stock = stock WHERE id = -1"))
                await writing.commit()
            await kept(request(), receive, ignore)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html")]})  # fmt: skip
        await send({"type": "http.response.body", "body": version.encode()})

    kept = ResponseCacheMiddleware(page, engine=app.state.engine, max_age=60)

    def request() -> Scope:
        return {"type": "http", "method": "GET", "path": "/p/1", "query_string": b"",
                "headers": [], "state": {"csrf_token": "t" * 43, "locale": "en"}}  # fmt: skip

    async def ignore(message: Message) -> None:
        pass

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    bodies: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])

    await kept(request(), receive, send)  # v0, with v1 rendered inside it
    await kept(request(), receive, send)
    assert rendered == ["v0", "v1", "v2"]  # v0 was kept last, under the older generation
    assert bodies == [b"v0", b"v2"]
