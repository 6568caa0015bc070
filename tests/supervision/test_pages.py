"""The console and public pages in both languages, from outside: a regulator opens an alert
into a case, records a penalty and the public page shows it; internal notes and rule
parameters reach nobody outside the authority."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.supervision import rule_defaults as R
from linli.supervision import rule_gouging
from tests.factories import form_login, login
from tests.supervision.world import a_sku, a_world, alerts


def _client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


async def test_alert_to_case_to_public_penalty_through_the_pages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await login(client, w.officer, organisation=w.regulator)
    declared = await client.post(
        "/api/v1/supervision/emergencies",
        json={
            "title": "寒潮保供",
            "region_code": "310000",
            "categories": ["fresh_food"],
            "starts_at": clock.now().isoformat(),
            "ends_at": (clock.now() + timedelta(days=3)).isoformat(),
        },
    )
    assert declared.status_code == 201
    frozen_clock.advance(timedelta(minutes=5))
    sku = await a_sku(session, w.merchant, 800)
    assert await rule_gouging.price_gouging(session, sku.id, 1000)  # +25 % > 15 %
    await session.commit()
    (alert,) = await alerts(session, R.PRICE_GOUGING)

    page = _client(client)
    csrf = await form_login(page, w.officer.phone)
    await page.put(
        "/api/v1/accounts/me/active-organisation",
        json={"organisation_id": w.regulator.id},
        headers={"X-CSRF-Token": csrf},
    )
    queue = await page.get("/regulator/alerts", headers={"Accept-Language": "zh-CN"})
    assert queue.status_code == 200
    assert "价格欺诈" in queue.text or "哄抬" in queue.text
    assert f'data-alert="{alert.id}"' in queue.text
    opened = await page.post(
        f"/regulator/alerts/{alert.id}/case",
        data={"csrf_token": csrf, "title": "<b>哄抬</b>", "strategy": "least_loaded"},
    )
    assert opened.status_code == 303, opened.text
    case_url = opened.headers["location"]
    noted = await page.post(
        f"{case_url}/entries",
        data={"csrf_token": csrf, "kind": "note", "text": "内部意见：从重"},
    )
    assert noted.status_code == 303
    refused = await page.post(
        f"{case_url}/decision",
        data={"csrf_token": csrf, "decision": "penalty", "summary": "罚款", "penalty": "abc"},
    )
    assert refused.status_code == 422
    decided = await page.post(
        f"{case_url}/decision",
        data={
            "csrf_token": csrf,
            "decision": "penalty",
            "summary": "哄抬蔬菜价格",
            "legal_basis": "价格法第十四条",
            "penalty": "50,000.00",
        },
    )
    assert decided.status_code == 303, decided.text
    shown = await page.get(case_url)
    assert "&lt;b&gt;哄抬&lt;/b&gt;" in shown.text
    assert "内部意见" in shown.text
    english = await page.get(case_url, headers={"Accept-Language": "en"})
    assert "Timeline" in english.text
    assert "¥50,000.00" in english.text

    anon = _client(client)
    public = await anon.get("/supervision/penalties", headers={"Accept-Language": "zh-CN"})
    assert public.status_code == 200
    assert "哄抬蔬菜价格" in public.text
    assert "上海市场监管局" in public.text
    assert "内部意见" not in public.text
    assert "threshold_pct" not in public.text
    emergencies = await anon.get("/supervision/emergencies")
    assert "寒潮保供" in emergencies.text
    assert "threshold_pct" not in emergencies.text
    # Console pages: nobody outside the authority gets in.
    assert (await anon.get(case_url)).status_code in (302, 303, 401)
    merchant = _client(client)
    await login(merchant, w.owner, organisation=w.merchant)
    for url in (case_url, "/regulator/alerts", "/regulator/supervision-rules"):
        assert (await merchant.get(url)).status_code == 403
    far = _client(client)
    await login(far, w.far_officer, organisation=w.far)
    assert (await far.get(case_url)).status_code == 404
    assert f'data-alert="{alert.id}"' not in (await far.get("/regulator/alerts")).text
    rules = await page.get("/regulator/supervision-rules")
    assert "threshold_pct" in rules.text
    for c in (page, anon, merchant, far):
        await c.aclose()
