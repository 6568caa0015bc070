"""Negative-list goods on sale (supervision.negative_list_goods), through the real events: a
product listed, a campaign published. A category the jurisdiction adds fires for a product in
it and stays silent for the category beside it; a category the market-access list prohibits
after the product was listed fires when a campaign puts it on sale. The rule's list parameter
is edited through the API and the rules page, unknown categories refused naming the field."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.categories import negative_list
from linli.clock import FrozenClock
from linli.rules.defaults import DEFAULT_RULES
from linli.rules.models import RuleVersion
from linli.supervision import rule_defaults as R
from tests.factories import form_login, login
from tests.groupbuy.helpers import a_shop, item, listed_sku, published_campaign
from tests.supervision.world import a_world, alerts, set_rule

API = "/api/v1/supervision"


async def _drain(app: FastAPI) -> None:
    for _ in range(2):
        await app.state.dispatcher.run_once()


async def test_goods_in_a_listed_category_fire_and_the_category_beside_it_does_not(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    await set_rule(session, R.NEGATIVE_LIST_GOODS, extra_categories=["fresh_food"])
    shop = await a_shop(client, session)
    shop_id = shop.organisation.id
    rice = await listed_sku(client, shop, code="RICE")  # groceries: beside fresh food
    await _drain(app)
    assert await alerts(session, R.NEGATIVE_LIST_GOODS) == []
    cabbage = await listed_sku(client, shop, fresh=True, code="VEG")  # fresh_food: on it
    await _drain(app)
    await session.rollback()
    (alert,) = await alerts(session, R.NEGATIVE_LIST_GOODS)
    assert alert.organisation_id == shop_id
    assert alert.rule_version == 2
    assert alert.inputs["category"] == "fresh_food"
    assert alert.inputs["extra_categories_matched"] == ["fresh_food"]
    assert alert.inputs["on_market_access_list"] is False
    assert alert.inputs["via"] == "listed"
    assert alert.evidence[0]["type"] == "product"

    campaign = await published_campaign(client, shop, item(rice), item(cabbage))
    await _drain(app)
    await session.rollback()
    (merged,) = await alerts(session, R.NEGATIVE_LIST_GOODS)  # the rice still silent
    assert merged.id == alert.id
    assert merged.count == 2
    assert merged.inputs["via"] == "campaign_published"
    assert {"type": "campaign", "campaign_id": campaign["id"]} in merged.evidence


async def test_a_category_prohibited_after_listing_fires_when_a_campaign_sells_it(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    rice = await listed_sku(client, shop, code="RICE")
    await _drain(app)
    (national,) = [r for r in DEFAULT_RULES if r["rule_id"] == negative_list.NEGATIVE_LIST]
    values = dict(national["values"])
    values["prohibited"] = [*values["prohibited"], "groceries"]
    session.add(
        RuleVersion(
            rule_id=negative_list.NEGATIVE_LIST,
            version=2,
            jurisdiction="CN",
            title="Negative list, groceries added",
            legal_basis="test",
            effective_from=clock.now(),
            effective_to=None,
            values=values,
            created_at=clock.now(),
        )
    )
    await session.commit()
    await published_campaign(client, shop, item(rice))
    await _drain(app)
    await session.rollback()
    (alert,) = await alerts(session, R.NEGATIVE_LIST_GOODS)
    assert alert.inputs["on_market_access_list"] is True
    assert alert.inputs["market_access_list"] == f"{negative_list.NEGATIVE_LIST}@2"
    assert alert.inputs["extra_categories_matched"] == []
    # A jurisdiction that does not apply the platform's list is not alerted by it.
    await set_rule(session, R.NEGATIVE_LIST_GOODS, use_market_access_list=0)
    await published_campaign(client, shop, item(rice, stock=10))
    await _drain(app)
    await session.rollback()
    (same,) = await alerts(session, R.NEGATIVE_LIST_GOODS)
    assert same.count == 1


async def test_list_parameters_through_the_api_and_the_rules_page(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await login(client, w.officer, organisation=w.regulator)
    url = f"{API}/rules/{R.NEGATIVE_LIST_GOODS}"
    for bad in (["fresh_food", "no_such_category"], "fresh_food", [1]):
        refused = await client.post(
            url, json={"params": {"extra_categories": bad}, "reason": "本地禁售"}
        )
        assert refused.status_code == 422, refused.text
        assert list(refused.json()["error"]["fields"]) == ["extra_categories"]
    refused = await client.post(
        f"{API}/rules/{R.HISTORY_PRICING}",
        json={"params": {"min_buyers": 0, "window_minutes": 30}, "reason": "本地规定"},
    )
    assert refused.status_code == 422
    assert list(refused.json()["error"]["fields"]) == ["min_buyers"]
    saved = await client.post(
        url, json={"params": {"extra_categories": ["tobacco", "fresh_food"]}, "reason": "本地禁售"}
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["params"]["extra_categories"] == ["fresh_food", "tobacco"]

    page = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    csrf = await form_login(page, w.officer.phone)
    await page.put(
        "/api/v1/accounts/me/active-organisation",
        json={"organisation_id": w.regulator.id},
        headers={"X-CSRF-Token": csrf},
    )
    shown = await page.get("/regulator/supervision-rules")
    assert shown.status_code == 200
    assert "extra_categories=fresh_food, tobacco" in shown.text
    assert 'value="fresh_food, tobacco"' in shown.text  # the form starts from what is in force
    posted = await page.post(
        f"/regulator/supervision-rules/{R.NEGATIVE_LIST_GOODS}",
        data={"csrf_token": csrf, "extra_categories": "groceries， fresh_food", "reason": "调整"},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    again = await page.post(
        f"/regulator/supervision-rules/{R.NEGATIVE_LIST_GOODS}",
        data={"csrf_token": csrf, "extra_categories": "groceries, nothing", "reason": "调整"},
    )
    assert again.status_code == 422
    rules = (await client.get(f"{API}/rules")).json()
    newest = max(
        (r for r in rules if r["rule_id"] == R.NEGATIVE_LIST_GOODS and r["jurisdiction"] != "CN"),
        key=lambda r: r["version"],
    )
    assert newest["params"]["extra_categories"] == ["fresh_food", "groceries"]
    await page.aclose()
