"""The return pages, as three people's browsers: the resident asks from the order page, the
merchant answers and refunds (overdue in red), the leader receives the goods with a photo;
bad forms come back with the reason, never a 500, and other people's ids are 404."""

from __future__ import annotations

import html
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from tests.factories import make_user, png_bytes
from tests.groupbuy.helpers import a_shop
from tests.groupbuy.test_fulfilment_pages import browser
from tests.protection.helpers import collected, return_rows


async def test_a_return_through_the_pages_from_request_to_refund(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    shop = bought.world.shop
    async with browser(app, bought.buyer.user) as (me, csrf):
        order = await me.get(f"/groupbuy/orders/{bought.order_id}")
        assert f'href="/returns/new/{bought.oil_line}"' in order.text
        form = await me.get(f"/returns/new/{bought.oil_line}")
        assert form.status_code == 200
        assert "Changed my mind" in form.text
        too_many = await me.post(
            "/returns",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.oil_line),
                "quantity": "9",
                "reason_code": "changed_mind",
            },
        )
        assert too_many.status_code == 303
        assert too_many.headers["location"] == f"/returns/new/{bought.oil_line}"
        assert await return_rows(app) == []
        garbage = await me.post(
            "/returns",
            data={"csrf_token": csrf, "line_id": "x", "quantity": "", "reason_code": "?"},
        )
        assert garbage.status_code == 303
        asked = await me.post(
            "/returns",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.oil_line),
                "quantity": "1",
                "reason_code": "changed_mind",
                "reason_text": "<b>买多了</b>",
            },
        )
        assert asked.status_code == 303, asked.text
        assert asked.headers["location"] == "/returns"
        mine = await me.get("/returns")
        assert "Waiting for the merchant" in mine.text
        assert "&lt;b&gt;买多了&lt;/b&gt;" in mine.text  # the resident's words, escaped
        assert "2 d 0 h left" in mine.text  # the merchant's 48 hours, counting down
    (made,) = await return_rows(app)

    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/returns")
        assert f'data-return="{made.id}"' in listing.text
        assert "data-overdue" not in listing.text
        rejected = await merchant.post(
            f"/merchant/returns/{made.id}/answer", data={"csrf_token": csrf, "approve": "0"}
        )
        assert rejected.status_code == 303  # a rejection needs a note: back with the reason
        approved = await merchant.post(
            f"/merchant/returns/{made.id}/answer", data={"csrf_token": csrf, "approve": "1"}
        )
        assert approved.status_code == 303

    async with browser(app, bought.leader.user) as (leader, csrf):
        desk = await leader.get("/leader/returns")
        assert f'action="/leader/returns/{made.id}/receive"' in desk.text
        received = await leader.post(
            f"/leader/returns/{made.id}/receive",
            data={"csrf_token": csrf, "condition": "damaged", "note": "瓶盖松了"},
            files={"photo": ("cap.png", png_bytes(), "image/png")},
        )
        assert received.status_code == 303, received.text
    (made,) = await return_rows(app)
    assert made.status == "received"
    assert len(made.photo_file_ids) == 1
    # The photo is the leader's and the merchant's to see (linked on the merchant's page),
    # nobody else's.
    photo_url = f"/files/{made.photo_file_ids[0]}"
    async with browser(app, bought.leader.user) as (leader, _csrf):
        assert (await leader.get(photo_url)).status_code == 200
    async with browser(app, shop.owner, shop.organisation) as (merchant, _csrf):
        assert f'href="{photo_url}"' in (await merchant.get("/merchant/returns")).text
        shown = await merchant.get(photo_url)
        assert shown.status_code == 200
        assert shown.headers["content-type"] == "image/png"
    rival = await a_shop(client, session, name="别家超市")
    async with browser(app, rival.owner, rival.organisation) as (other, _csrf):
        assert (await other.get(photo_url)).status_code == 404
    async with browser(app, bought.buyer.user) as (me, _csrf):
        assert (await me.get(photo_url)).status_code == 404

    frozen_clock.advance(timedelta(days=7, minutes=1))
    await app.state.dispatcher.run_once()
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/returns")
        assert "data-overdue" in listing.text  # shown in red
        assert 'class="bad"' in listing.text
        paid = await merchant.post(f"/merchant/returns/{made.id}/refund", data={"csrf_token": csrf})
        assert paid.status_code == 303
        listing = await merchant.get("/merchant/returns")
        assert "Refunded" in html.unescape(listing.text)
    (made,) = await return_rows(app)
    assert (made.status, made.refunded_fen, made.refund_overdue) == ("refunded", 4500, True)
    async with browser(app, bought.buyer.user) as (me, _csrf):
        order = await me.get(f"/groupbuy/orders/{bought.order_id}")
        assert "1 returned" in order.text


async def test_other_peoples_returns_are_404_on_the_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    nosy = await make_user(session, name="邻居")
    async with browser(app, nosy) as (other, csrf):
        assert (await other.get(f"/returns/new/{bought.rice_line}")).status_code == 404
        asked = await other.post(
            "/returns",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.rice_line),
                "quantity": "1",
                "reason_code": "changed_mind",
            },
        )
        assert asked.status_code == 303  # back with "No such order line."
        assert await return_rows(app) == []
        assert "No returns yet." in (await other.get("/returns")).text
        assert "No returns to receive." in (await other.get("/leader/returns")).text
