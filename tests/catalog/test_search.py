"""Public search finds Chinese substrings on both databases, with filters and pagination."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.catalog.helpers import (
    PRODUCTS,
    as_merchant,
    certify_export,
    create_listed,
    create_product,
    make_merchant,
)
from tests.factories import login

SEARCH = "/api/v1/catalog/products"


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_chinese_substrings_find_the_product(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, name="鲜果铺", scope=("essentials",))
    await create_listed(client)
    await create_listed(
        client, name="赣南脐橙", description="", origin="江西赣州", gtin=None, sku={"code": "A"}
    )
    await create_listed(
        client,
        name="五常大米",
        category="groceries",
        description="东北稻花香",
        origin="黑龙江",
        gtin=None,
    )

    assert await names(client, q="苹果") == ["烟台红富士苹果"]
    assert await names(client, q="红富士") == ["烟台红富士苹果"]
    assert await names(client, q="烟台") == ["烟台红富士苹果"]
    assert await names(client, q="稻花香") == ["五常大米"]  # the description counts
    assert await names(client, q="江西") == ["赣南脐橙"]  # and the origin
    # Every word must match; category and merchant names count too.
    assert await names(client, q="红富士  山东") == ["烟台红富士苹果"]
    assert await names(client, q="红富士 江西") == []
    assert await names(client, q="生鲜") == ["赣南脐橙", "烟台红富士苹果"]
    assert await names(client, q="fresh FOOD") == ["赣南脐橙", "烟台红富士苹果"]
    assert len(await names(client, q="鲜果铺")) == 3
    assert await names(client, q="榴莲") == []
    assert len(await names(client, q="   ")) == 3


async def test_a_like_wildcard_in_the_query_is_literal(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    await create_listed(client, name="100%纯果汁", description="", gtin=None)
    await create_listed(client, name="苹果_礼盒", description="", gtin=None)
    await create_listed(client, name="香蕉", description="a\\b", gtin=None)
    assert await names(client, q="%") == ["100%纯果汁"]
    assert await names(client, q="0%纯") == ["100%纯果汁"]
    assert await names(client, q="_") == ["苹果_礼盒"]
    assert await names(client, q="果_礼") == ["苹果_礼盒"]
    assert await names(client, q="\\") == ["香蕉"]
    assert await names(client, q="%%") == []
    assert await names(client, q="苹%礼") == []


async def test_search_follows_edits_and_shows_only_what_is_on_sale(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    listed = await create_listed(client)
    await create_product(client, name="草莓（草稿）", gtin=None)  # a draft: never public
    assert await names(client, q="草莓") == []
    renamed = await client.patch(f"{PRODUCTS}/{listed['id']}", json={"name": "栖霞苹果"})
    assert renamed.status_code == 200, renamed.text
    assert await names(client, q="红富士") == []
    assert await names(client, q="栖霞") == ["栖霞苹果"]
    delisted = await client.post(f"{PRODUCTS}/{listed['id']}/delist")
    assert delisted.status_code == 200
    assert await names(client, q="栖霞") == []
    relisted = await client.post(f"{PRODUCTS}/{listed['id']}/list")
    assert relisted.json()["status"] == "listed"
    assert await names(client, q="栖霞") == ["栖霞苹果"]
    mine = await client.get(PRODUCTS, params={"q": "草莓"})
    assert [p["name"] for p in mine.json()["items"]] == ["草莓（草稿）"]


async def test_products_of_paused_merchants_disappear(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, organisation = await as_merchant(client, session)
    listed = await create_listed(client)
    assert await names(client, q="苹果") == ["烟台红富士苹果"]
    from linli.merchants.models import MerchantProfile

    profile = await session.get(MerchantProfile, organisation.id)
    assert profile is not None
    profile.listings_paused = True
    await session.commit()
    assert await names(client, q="苹果") == []
    assert (await client.get(f"{SEARCH}/{listed['id']}")).status_code == 404


async def test_filters(client: httpx.AsyncClient, session: AsyncSession) -> None:
    owner, shop = await make_merchant(session, name="鲜果铺", scope=("essentials", "health"))
    _exporter_owner, exporter = await make_merchant(session, name="出口食品厂")
    await certify_export(session, exporter)
    await login(client, owner, organisation=shop)
    await create_listed(client, sku={"price_fen": 5990})  # apples, fresh_food
    await create_listed(
        client, name="五常大米", category="groceries", gtin=None, sku={"price_fen": 8800}
    )
    rice = await create_listed(
        client, name="黑米", category="groceries", gtin=None, sku={"price_fen": 1500}
    )
    await client.post(f"{PRODUCTS}/{rice['id']}/skus", json={"code": "10KG", "price_fen": 12000})
    await create_listed(client, name="跑步机", category="fitness", gtin=None)
    await client.post("/api/v1/accounts/logout")
    await login(client, _exporter_owner, organisation=exporter)
    await create_listed(client, name="出口级苹果", gtin=None, sku={"price_fen": 9900})

    assert await names(client, category="groceries") == ["黑米", "五常大米"]
    assert await names(client, category="essentials") == [
        "出口级苹果",
        "黑米",
        "五常大米",
        "烟台红富士苹果",
    ]
    assert await names(client, consumption_type="health") == ["跑步机"]
    assert await names(client, min_price_fen=6000, max_price_fen=9000) == ["五常大米"]
    # A product matches when any of its SKUs is in the range.
    assert await names(client, min_price_fen=10000) == ["黑米"]
    assert await names(client, max_price_fen=1500) == ["黑米"]
    assert await names(client, badge="export_quality") == ["出口级苹果"]
    assert await names(client, q="苹果", badge="export_quality") == ["出口级苹果"]
    assert await names(client, q="苹果", category="groceries") == []

    unknown = await client.get(SEARCH, params={"category": "weapons"})
    assert unknown.status_code == 422
    assert "category" in unknown.json()["error"]["fields"]
    upside_down = await client.get(SEARCH, params={"min_price_fen": 900, "max_price_fen": 100})
    assert upside_down.status_code == 422
    assert "max_price_fen" in upside_down.json()["error"]["fields"]
    bad_type = await client.get(SEARCH, params={"consumption_type": "weapons"})
    assert bad_type.status_code == 422


async def test_results_carry_skus_price_range_merchant_thumbnail_and_badges(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, organisation = await as_merchant(client, session)
    await certify_export(session, organisation)
    product = await create_listed(client)
    await client.post(
        f"{PRODUCTS}/{product['id']}/skus",
        json={"code": "10KG", "specs": {"重量": "10 kg"}, "price_fen": 10990, "stock": 0},
    )
    from tests.catalog.helpers import image_bytes

    uploaded = await client.post(
        f"{PRODUCTS}/{product['id']}/images",
        files={"file": ("apple.jpg", image_bytes(), "image/jpeg")},
    )
    assert uploaded.status_code == 201, uploaded.text
    page = (await client.get(SEARCH, params={"q": "苹果"})).json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert item["merchant"] == {
        "id": organisation.id,
        "name": "鲜果铺",
        "url": f"/m/{organisation.id}",
    }
    assert (item["price_min_fen"], item["price_max_fen"]) == (5990, 10990)
    assert [(s["code"], s["price_fen"], s["in_stock"]) for s in item["skus"]] == [
        ("5KG", 5990, True),
        ("10KG", 10990, False),
    ]
    assert "stock" not in item["skus"][0]  # exact stock is the merchant's business
    assert item["thumbnail_url"] == uploaded.json()["thumbnail_url"]
    assert item["badges"] == ["export_quality"]
    assert item["category"] == {
        "code": "fresh_food",
        "name": "Fresh food",
        "consumption_type": "essentials",
    }
    detail = (await client.get(f"{SEARCH}/{product['id']}")).json()
    assert detail["gtin"] == "6901234567892"
    assert detail["images"][0]["url"] == uploaded.json()["url"]


async def test_pagination_with_a_total(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await as_merchant(client, session)
    for n in range(5):
        await create_listed(client, name=f"苹果{n}号", gtin=None)
    first = (await client.get(SEARCH, params={"q": "苹果", "limit": 2})).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [i["name"] for i in first["items"]] == ["苹果4号", "苹果3号"]
    last = (await client.get(SEARCH, params={"q": "苹果", "limit": 2, "offset": 4})).json()
    assert [i["name"] for i in last["items"]] == ["苹果0号"]
    assert last["total"] == 5
    beyond = (await client.get(SEARCH, params={"q": "苹果", "offset": 50})).json()
    assert (beyond["items"], beyond["total"]) == ([], 5)
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"offset": 10**30}):
        assert (await client.get(SEARCH, params=bad)).status_code == 422, bad


async def test_categories_are_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/catalog/categories")
    assert response.status_code == 200
    by_code = {c["code"]: c for c in response.json()}
    assert by_code["fresh_food"]["parent_code"] == "essentials"
    assert by_code["fresh_food"]["consumption_type"] == "essentials"
    assert by_code["essentials"]["parent_code"] is None
    assert {c["consumption_type"] for c in by_code.values()} == {
        "information",
        "smart",
        "health",
        "essentials",
        "culture_tourism",
        "education",
        "medical",
    }
    assert by_code["consultations"]["name_zh"] == "在线问诊"
    chinese = await client.get("/api/v1/catalog/categories", headers={"Accept-Language": "zh-CN"})
    assert {c["code"]: c["name"] for c in chinese.json()}["fresh_food"] == "生鲜食品"


async def test_name_matches_rank_first_and_merchant_filter(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, orchard = await as_merchant(client, session, name="红富士果业", scope=("fresh_food",))
    apple = await create_listed(client, gtin=None)
    await create_listed(client, name="琯溪蜜柚", description="", origin="福建", gtin=None)
    await create_listed(client, name="赣南脐橙", description="", origin="江西", gtin=None)
    await client.post("/api/v1/accounts/logout")
    await as_merchant(client, session, name="别家果行", scope=("fresh_food",))
    await create_listed(client, name="阿克苏苹果", description="", origin="新疆", gtin=None)
    # The merchant's name matches all three of its products; the one named so comes first.
    found = await names(client, q="红富士")
    assert found[0] == "烟台红富士苹果"
    assert sorted(found[1:]) == ["琯溪蜜柚", "赣南脐橙"]
    assert sorted(await names(client, merchant=orchard.id)) == sorted(
        ["烟台红富士苹果", "琯溪蜜柚", "赣南脐橙"]
    )
    assert await names(client, q="苹果", merchant=orchard.id) == [apple["name"]]
