"""The studio and the live room as pages, in both languages: a merchant registers a streamer,
schedules a room, adds goods, goes live (the stream key shown once), pins; a resident sees the
pinned item and buys it through the page form (then pays)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.identity import CSRF_COOKIE
from linli.clock import FrozenClock
from linli.live.models import ChatMessage, Room
from linli.web import CSRF_FIELD
from tests.factories import login, make_org, make_user
from tests.groupbuy.helpers import a_shop, listed_sku, residents
from tests.live_selling.helpers import a_studio, identity_number, years_ago


def _local(moment: datetime) -> str:
    return moment.astimezone(clock.LOCAL).strftime("%Y-%m-%dT%H:%M")


async def post(c: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    return await c.post(url, data={CSRF_FIELD: c.cookies.get(CSRF_COOKIE) or "", **data})


async def test_a_merchant_runs_a_room_from_the_studio_and_a_resident_buys_on_the_page(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, stock=30)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as viewer,
    ):
        await login(merchant, shop.owner, organisation=shop.organisation)
        merchant.headers.pop("X-CSRF-Token", None)
        assert (await merchant.get("/merchant/live")).status_code == 200
        registered = await post(
            merchant,
            "/merchant/live/streamers",
            user_id=shop.owner.id,
            real_name="李主播",
            identity_number=identity_number(years_ago(25)),
        )
        assert registered.status_code == 303, registered.text
        studio = await merchant.get("/merchant/live")
        streamer_id = re.search(r'name="streamer_id">\s*<option value="(\d+)"', studio.text)
        assert streamer_id is not None
        now = clock.now()
        created = await post(
            merchant,
            "/merchant/live",
            streamer_id=streamer_id.group(1),
            title="今晚苹果专场",
            scheduled_start=_local(now),
            scheduled_end=_local(now + timedelta(hours=1)),
        )
        assert created.status_code == 303, created.text
        room_url = created.headers["location"]
        room_id = int(room_url.rsplit("/", 1)[1])
        added = await post(merchant, f"{room_url}/goods", sku_id=sku_id, price="9.90", stock=10)
        assert added.status_code == 303, added.text
        # Not live without the after-sales contact the room must show; the owner sets it
        # on the merchant console.
        refused = await post(merchant, f"{room_url}/start")
        assert refused.status_code == 409
        assert "after-sales contact" in refused.text
        contact = await post(
            merchant, "/merchant/after-sales", phone="13913800013", terms="七天无理由退货"
        )
        assert contact.status_code == 303, contact.text
        console = await merchant.get("/merchant", headers={"Accept-Language": "zh-CN"})
        assert "售后联系方式" in console.text
        assert "+8613913800013" in console.text
        started = await post(merchant, f"{room_url}/start")
        assert started.status_code == 200
        assert "live_" in started.text
        assert "OBS" in started.text
        page = await merchant.get(room_url)
        goods_id = re.search(r'data-goods="(\d+)"', page.text)
        assert goods_id is not None
        pinned = await post(merchant, f"{room_url}/pin", goods_id=goods_id.group(1))
        assert pinned.status_code == 303, pinned.text

        (resident,) = await residents(session, 1)
        await login(viewer, resident.user)
        viewer.headers.pop("X-CSRF-Token", None)
        schedule = await viewer.get("/live", headers={"Accept-Language": "zh-CN"})
        assert schedule.status_code == 200
        assert "今晚苹果专场" in schedule.text
        room = await viewer.get(f"/live/{room_id}")
        assert "The video stream is offline." in room.text
        assert "+8613913800013 · 七天无理由退货" in room.text  # the seller's after-sales line
        assert "¥9.90" in room.text
        key = re.search(r'name="key" value="([^"]+)"', room.text)
        assert key is not None
        bought = await post(
            viewer, f"/live/{room_id}/buy", key=key.group(1), goods_id=goods_id.group(1), quantity=2
        )
        assert bought.status_code == 303, bought.text
        assert "/pay/" in bought.headers["location"] or "sandbox" in bought.headers["location"]
        zh = await viewer.get(f"/live/{room_id}", headers={"Accept-Language": "zh-CN"})
        assert zh.status_code == 200
        orders = await viewer.get("/live/orders", headers={"Accept-Language": "zh-CN"})
        assert "购于直播间" in orders.text
        assert f'href="/live/{room_id}" data-room-link>今晚苹果专场' in orders.text
        assert 'data-status="pending_payment"' in orders.text
        # Moderation from the studio: a message removed with a reason from the list.
        said = ChatMessage(room_id=room_id, user_id=resident.user.id, text="广告加微信", at=now)
        session.add(said)
        await session.commit()
        studio_zh = await merchant.get(room_url, headers={"Accept-Language": "zh-CN"})
        assert "刷屏或广告" in studio_zh.text
        assert 'data-testid="studio-statistics"' in studio_zh.text
        assert "转化率" in studio_zh.text
        removed = await post(
            merchant, f"{room_url}/remove", message_id=said.id, reason="spam", note="加微信"
        )
        assert removed.status_code == 303, removed.text
        negative = await post(merchant, f"{room_url}/remove", message_id=said.id, reason="bad")
        assert negative.status_code == 422
        ended = await post(merchant, f"{room_url}/end")
        assert ended.status_code == 303
        anonymous = await client.get(f"/live/{room_id}")
        assert anonymous.status_code == 200


async def test_the_platform_sees_the_rooms_on_air_and_bans_one_with_a_reason(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session)
    operator = await make_user(session, name="平台巡查")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as ops,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
    ):
        await login(ops, operator, organisation=platform)
        ops.headers.pop("X-CSRF-Token", None)
        await login(merchant, studio.shop.owner, organisation=studio.shop.organisation)
        merchant.headers.pop("X-CSRF-Token", None)
        assert (await merchant.get("/platform/live")).status_code == 403
        refused = await post(merchant, f"/platform/live/{studio.room_id}/ban", reason="不让播")
        assert refused.status_code == 403

        page = await ops.get("/platform/live", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        assert f'data-room="{studio.room_id}"' in page.text
        assert "烟台苹果直播" in page.text
        assert "李主播" in page.text
        assert "/platform/live" in (await ops.get("/account")).text  # in the menu
        no_reason = await post(ops, f"/platform/live/{studio.room_id}/ban", reason=" ")
        assert no_reason.status_code == 422
        banned = await post(ops, f"/platform/live/{studio.room_id}/ban", reason="虚假宣传")
        assert banned.status_code == 303, banned.text
        after = await ops.get("/platform/live")
        assert f'data-room="{studio.room_id}"' not in after.text
    async with app.state.sessionmaker() as s:
        room = await s.get(Room, studio.room_id)
    assert room is not None
    assert (room.status, room.banned_reason) == ("banned", "虚假宣传")
