"""The pages: public catalogue and product page, the merchant's console, in both languages."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.catalog.models import Product, Sku
from tests.catalog.helpers import (
    PRODUCTS,
    as_merchant,
    count,
    create_listed,
    create_product,
    product_row,
)
from tests.factories import login, make_user

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def new_product_form(csrf: str, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "category": "fresh_food",
        "name": "烟台红富士苹果",
        "description": "脆甜",
        "unit": "箱",
        "origin": "山东烟台",
        "shelf_life_days": "30",
        "storage_class": "chilled",
        "gtin": "6901234567892",
        "code": "5KG",
        "specs": "重量：5 kg\n果径=80 mm",
        "price": "59.9",
        "stock": "12",
    }
    form.update(overrides)
    return form


async def test_the_public_catalogue_in_both_languages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _owner, shop = await as_merchant(client, session)
    listed = await create_listed(client)
    await client.post(
        f"{PRODUCTS}/{listed['id']}/skus",
        json={"code": "10KG", "specs": {"重量": "10 kg"}, "price_fen": 109900, "stock": 0},
    )
    await create_product(client, name="草稿苹果", gtin=None)
    await client.post("/api/v1/accounts/logout")
    client.cookies.clear()

    page = await client.get("/catalog", params={"q": "苹果"})
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert 'href="/catalog"' in page.text  # in the menu
    assert f'href="/p/{listed["id"]}"' in page.text
    assert "烟台红富士苹果" in page.text
    assert "草稿苹果" not in page.text
    assert "¥59.90 – ¥1,099.00" in page.text
    assert "1 product" in page.text
    assert ">Fresh food</option>" in page.text

    chinese = await client.get("/catalog", params={"q": "红富士"}, headers=ZH)
    assert chinese.status_code == 200
    assert '<html lang="zh-Hans">' in chinese.text
    assert "烟台红富士苹果" in chinese.text
    assert ">生鲜食品</option>" in chinese.text

    product = await client.get(f"/p/{listed['id']}")
    assert product.status_code == 200
    assert f'href="/m/{shop.id}"' in product.text
    assert "鲜果铺" in product.text
    assert "¥59.90" in product.text
    assert "¥1,099.00" in product.text
    assert "Sold out" in product.text
    assert "重量: 10 kg" in product.text
    assert "6901234567892" in product.text
    assert (await client.get(f"/p/{listed['id']}", headers=ZH)).status_code == 200
    draft_id = (await session.scalars(select(Product.id).where(Product.status == "draft"))).one()
    missing = await client.get(f"/p/{draft_id}")
    assert missing.status_code == 404
    assert "Page not found" in missing.text


async def test_catalogue_filters_explain_bad_input_and_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    for n in range(21):
        await create_listed(client, name=f"苹果{n:02d}", gtin=None, sku={"price_fen": 100 + n})
    first = await client.get("/catalog", params={"q": "苹果", "category": "essentials"})
    assert "21 products" in first.text
    assert "苹果20" in first.text
    assert "苹果00" not in first.text
    (next_link,) = re.findall(r'href="([^"]*)" rel="next"', first.text)
    second = await client.get(next_link.replace("&amp;", "&"))
    assert "苹果00" in second.text
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    cheap = await client.get("/catalog", params={"min_price": "1.19", "max_price": "1.20"})
    assert "2 products" in cheap.text
    bad = await client.get("/catalog", params={"min_price": "cheap", "max_price": "1.5"})
    assert bad.status_code == 422
    assert 'class="field-error">Enter an amount in yuan, e.g. 12.50.' in bad.text
    assert 'value="cheap"' in bad.text
    upside_down = await client.get("/catalog", params={"min_price": "9", "max_price": "1"})
    assert upside_down.status_code == 422
    assert "The lowest price is above the highest." in upside_down.text
    for absurd in ("1e20", "1e1000000", "-1"):
        response = await client.get("/catalog", params={"max_price": absurd})
        assert response.status_code == 422, absurd
        assert 'class="field-error">' in response.text
    unknown = await client.get("/catalog", params={"category": "weapons"})
    assert unknown.status_code == 422
    nul = await client.get("/catalog", params={"q": "苹\x00果"})
    assert nul.status_code == 422
    wildcard = await client.get("/catalog", params={"q": "%"})
    assert "0 products" in wildcard.text


async def test_the_console_needs_a_merchant(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    anonymous = await client.get("/merchant/products")
    assert anonymous.status_code == 401
    assert "/login?next=" in anonymous.text
    resident = await make_user(session)
    await login(client, resident)
    refused = await client.get("/merchant/products")
    assert refused.status_code == 403
    assert "Act for your organisation first" in refused.text
    assert 'href="/merchant/products"' not in refused.text


async def test_create_a_product_in_the_console(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    listing = await client.get("/merchant/products")
    assert listing.status_code == 200
    assert 'href="/merchant/products"' in listing.text  # in the menu
    csrf = client.cookies.get(CSRF_COOKIE) or ""

    bad = await client.post(
        "/merchant/products",
        data=new_product_form(csrf, gtin="6901234567891", price="59.999", name=""),
    )
    assert bad.status_code == 422
    # Every problem of the form is shown at once, and what was typed is kept.
    assert 'class="field-error">Enter an amount in yuan, e.g. 12.50.' in bad.text
    assert 'class="field-error">Enter at least 1 characters.' in bad.text
    assert 'value="6901234567891"' in bad.text
    assert 'value="59.999"' in bad.text
    bad_gtin = await client.post(
        "/merchant/products", data=new_product_form(csrf, gtin="6901234567891")
    )
    assert bad_gtin.status_code == 422
    assert 'class="field-error">The last digit (check digit) should be 2.' in bad_gtin.text
    no_name = await client.post("/merchant/products", data=new_product_form(csrf, name="  "))
    assert no_name.status_code == 422
    assert 'class="field-error">Enter at least 1 characters.' in no_name.text
    bad_specs = await client.post(
        "/merchant/products", data=new_product_form(csrf, specs="just words")
    )
    assert bad_specs.status_code == 422
    assert "Write one attribute per line" in bad_specs.text
    assert await count(session, Product) == 0

    created = await client.post("/merchant/products", data=new_product_form(csrf))
    assert created.status_code == 303, created.text
    page = await client.get(created.headers["location"])
    assert "Saved as a draft." in page.text
    assert 'data-testid="status">Draft<' in page.text
    (sku,) = (await session.scalars(select(Sku))).all()
    assert (sku.code, sku.specs, sku.price_fen, sku.stock) == (
        "5KG",
        {"重量": "5 kg", "果径": "80 mm"},
        5990,
        12,
    )
    listing = await client.get("/merchant/products")
    assert "烟台红富士苹果" in listing.text
    assert "¥59.90" in listing.text
    assert "<td>12</td>" in listing.text
    chinese = await client.get("/merchant/products", headers=ZH)
    assert chinese.status_code == 200
    assert '<html lang="zh-Hans">' in chinese.text


async def test_edit_add_sku_list_and_delist_in_the_console(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=("smartphones",))
    product = await create_product(client, category="smartphones", gtin=None)
    url = f"/merchant/products/{product['id']}"
    csrf = client.cookies.get(CSRF_COOKIE) or ""

    edit = {
        "csrf_token": csrf,
        "category": "wearables",
        "name": "智能手表",
        "description": "",
        "unit": "块",
        "origin": "深圳",
        "shelf_life_days": "",
        "storage_class": "ambient",
        "gtin": "",
    }
    saved = await client.post(url, data=edit)
    assert saved.status_code == 303, saved.text
    row = await product_row(session, product["id"])
    assert (row.name, row.unit, row.origin, row.shelf_life_days, row.gtin) == (
        "智能手表",
        "块",
        "深圳",
        None,
        None,
    )
    refused = await client.post(url, data={**edit, "category": "drugs", "name": "改名"})
    assert refused.status_code == 422
    assert 'class="field-error">This category is prohibited.' in refused.text
    assert 'value="改名"' in refused.text  # the form shows what was typed
    assert (await product_row(session, product["id"])).name == "智能手表"

    duplicate = await client.post(
        f"{url}/skus", data={"csrf_token": csrf, "code": "5KG", "price": "1", "specs": ""}
    )
    assert duplicate.status_code == 409
    assert 'class="field-error">Already used for this product.' in duplicate.text
    added = await client.post(
        f"{url}/skus",
        data={"csrf_token": csrf, "code": "BLACK", "price": "1299", "specs": "颜色: 黑"},
    )
    assert added.status_code == 303

    listed = await client.post(f"{url}/list", data={"csrf_token": csrf})
    assert listed.status_code == 303
    page = await client.get(url)
    assert 'data-testid="status">Listed<' in page.text
    assert f'href="/p/{product["id"]}"' in page.text
    delisted = await client.post(f"{url}/delist", data={"csrf_token": csrf})
    assert delisted.status_code == 303
    assert (await product_row(session, product["id"])).status == "delisted"


async def test_a_refused_listing_is_explained_on_the_page(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session, scope=None)
    product = await create_product(client)
    csrf = client.cookies.get(CSRF_COOKIE) or ""
    refused = await client.post(
        f"/merchant/products/{product['id']}/list", data={"csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert "not a verified merchant yet" in refused.text
    assert (await product_row(session, product["id"])).status == "draft"
    no_csrf = await client.post(f"/merchant/products/{product['id']}/list")
    assert no_csrf.status_code == 403


async def test_the_export_channel_lists_only_certified_enterprises(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from tests.catalog.helpers import certify_export

    _owner, exporter = await as_merchant(
        client, session, name="宁波出口玩具", kind="supplier", scope=("fresh_food",)
    )
    await create_listed(client, name="出口欧盟 冻干草莓", gtin=None)
    await certify_export(session, exporter)
    await client.post("/api/v1/accounts/logout")
    await as_merchant(client, session, name="本地果铺", scope=("fresh_food",))
    await create_listed(client, name="本地草莓", gtin=None)
    page = await client.get("/export", params={"q": "草莓"})
    assert page.status_code == 200
    assert "出口欧盟 冻干草莓" in page.text
    assert "本地草莓" not in page.text
    everything = await client.get("/catalog", params={"q": "草莓"})
    assert "本地草莓" in everything.text
    assert "出口欧盟 冻干草莓" in everything.text
