"""Return lists are paged, for the resident, the merchant and the leader, in the API and on
the pages (a small page size here, three returns)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.protection import returns
from tests.groupbuy.test_fulfilment_pages import browser
from tests.protection.helpers import RETURNS, ask, body, collected


async def test_return_lists_are_paged_in_the_api_and_on_the_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(returns, "PAGE_SIZE", 2)
    bought = await collected(app, client, session, settings, frozen_clock)
    made = [body(await ask(client, bought, bought.rice_line, 1))["id"] for _ in range(3)]
    for rid in made:
        answered = await client.post(
            f"{RETURNS}/{rid}/answer", json={"approve": True}, headers=bought.merchant
        )
        assert answered.status_code == 200, answered.text
    newest_first = sorted(made, reverse=True)
    for url, headers in (
        (RETURNS, bought.buyer.headers),
        (f"{RETURNS}/merchant", bought.merchant),
        (f"{RETURNS}/leader", bought.leader.headers),
    ):
        first = body(await client.get(url, headers=headers))
        second = body(await client.get(url, params={"page": 2}, headers=headers))
        beyond = body(await client.get(url, params={"page": 3}, headers=headers))
        assert [r["id"] for r in first] == newest_first[:2], url
        assert [r["id"] for r in second] == newest_first[2:], url
        assert beyond == []
        for bad in ("0", "-1", "x", str(returns.MAX_PAGE + 1)):
            wrong = await client.get(url, params={"page": bad}, headers=headers)
            assert wrong.status_code == 422, (url, bad)
    shop = bought.world.shop
    for user, organisation, url in (
        (bought.buyer.user, None, "/returns"),
        (shop.owner, shop.organisation, "/merchant/returns"),
        (bought.leader.user, None, "/leader/returns"),
    ):
        async with browser(app, user, organisation) as (page, _csrf):
            first = await page.get(url)
            assert first.status_code == 200
            assert [i for i in made if f'data-return="{i}"' in first.text] == sorted(
                newest_first[:2]
            )
            assert f'href="{url}?page=2" rel="next"' in first.text
            assert 'rel="prev"' not in first.text
            second = await page.get(url, params={"page": 2})
            assert f'data-return="{newest_first[2]}"' in second.text
            assert f'href="{url}?page=1" rel="prev"' in second.text
            assert 'rel="next"' not in second.text
            assert (await page.get(url, params={"page": "0"})).status_code == 422
