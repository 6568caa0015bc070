"""A merchant's public after-sales contact: the owner sets it (normalised, audited with the old
and new values), anyone sees it on the public profile; nobody else can change it, bad input is
refused with 422 and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.merchants.models import MerchantProfile
from linli.merchants.queries import public_identity
from linli.web import CSRF_FIELD
from tests.factories import grant, login, make_token, make_user
from tests.groupbuy.helpers import Shop, a_shop, bearer, residents

AFTER_SALES = "/api/v1/merchants/me/after-sales"


async def contact_of(session: AsyncSession, shop: Shop) -> tuple[str | None, str | None]:
    row = await session.get(MerchantProfile, shop.organisation.id, populate_existing=True)
    assert row is not None
    return row.after_sales_phone, row.after_sales_terms


async def test_the_owner_sets_the_contact_and_everyone_sees_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    profile = f"/api/v1/merchants/{shop.organisation.id}/profile"
    before = (await client.get(profile)).json()
    assert (before["after_sales_phone"], before["after_sales_terms"]) == (None, None)
    page = await client.get(f"/m/{shop.organisation.id}", headers={"Accept-Language": "zh-CN"})
    assert "未登记售后联系方式" in page.text
    page = await client.get(f"/m/{shop.organisation.id}", headers={"Accept-Language": "en"})
    assert "No after-sales contact on file" in page.text

    first = await client.put(
        AFTER_SALES, json={"phone": "+86 139-1380-0013", "terms": None}, headers=shop.headers
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"phone": "+8613913800013", "terms": None}
    second = await client.put(
        AFTER_SALES,
        json={
            "phone": "１３９１３８０００１４",
            "terms": "  七天无理由退货  ",
        },  # full-width digits
        headers=shop.headers,
    )
    assert second.json() == {"phone": "+8613913800014", "terms": "七天无理由退货"}

    shown = (await client.get(profile)).json()
    assert (shown["after_sales_phone"], shown["after_sales_terms"]) == (
        "+8613913800014",
        "七天无理由退货",
    )
    page = await client.get(f"/m/{shop.organisation.id}")
    assert "+8613913800014 · 七天无理由退货" in page.text
    identity = await public_identity(session, shop.organisation.id)
    assert identity is not None
    assert (identity.after_sales_phone, identity.after_sales_terms) == (
        "+8613913800014",
        "七天无理由退货",
    )
    audits = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "merchants.after_sales_set")
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(a.user_id, a.target_id) for a in audits] == [
        (shop.owner.id, str(shop.organisation.id))
    ] * 2
    assert audits[1].details["old"] == {"phone": "+8613913800013", "terms": None}
    assert audits[1].details["new"] == {"phone": "+8613913800014", "terms": "七天无理由退货"}


async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    set_first = await client.put(AFTER_SALES, json={"phone": "13913800013"}, headers=shop.headers)
    assert set_first.status_code == 200
    bad: list[dict[str, Any]] = [
        {"phone": "12345"},
        {"phone": "021-12345678"},  # not a mobile line
        {"phone": "١٣٩١٣٨٠٠٠١٣"},  # another script's digits
        {"phone": ""},
        {"phone": "1" * 40},
        {"phone": "13913800015", "terms": "x" * 301},
        {"phone": "13913800015", "terms": "退货\x00"},
        {"phone": "13913800015\x07"},
        {"phone": "13913800015", "email": "a@b.c"},
        {"terms": "七天"},
        {"phone": 13913800015},
    ]
    for body in bad:
        refused = await client.put(AFTER_SALES, json=body, headers=shop.headers)
        assert refused.status_code == 422, (body, refused.text)
    assert await contact_of(session, shop) == ("+8613913800013", None)


async def test_nobody_else_can_change_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Another merchant's owner changes only their own; a staff member (no
    merchant.profile.manage), a resident and an anonymous caller are refused."""
    shop = await a_shop(client, session)
    other = await a_shop(client, session, name="别家")
    ok = await client.put(AFTER_SALES, json={"phone": "13913800013"}, headers=shop.headers)
    assert ok.status_code == 200
    staff = await make_user(session, name="店员")
    await grant(session, shop.organisation, staff, "staff")
    staff_headers = bearer(await make_token(session, staff, organisation=shop.organisation))
    (resident,) = await residents(session, 1)
    body = {"phone": "13700000000", "terms": "不退不换"}
    assert (await client.put(AFTER_SALES, json=body, headers=staff_headers)).status_code == 403
    assert (await client.put(AFTER_SALES, json=body, headers=resident.headers)).status_code in (
        401,
        403,
    )
    assert (await client.put(AFTER_SALES, json=body)).status_code == 401
    theirs = await client.put(AFTER_SALES, json=body, headers=other.headers)
    assert theirs.status_code == 200
    assert await contact_of(session, shop) == ("+8613913800013", None)
    assert await contact_of(session, other) == ("+8613700000000", "不退不换")
    # The console form is the owner's too: the staff member's post is refused.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as page_client:
        await login(page_client, staff, organisation=shop.organisation)
        posted = await page_client.post(
            "/merchant/after-sales",
            data={CSRF_FIELD: page_client.cookies.get(CSRF_COOKIE) or "", "phone": "13700000001"},
        )
        assert posted.status_code in (403, 404)
    assert await contact_of(session, shop) == ("+8613913800013", None)
