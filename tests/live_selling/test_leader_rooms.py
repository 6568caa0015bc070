"""Rooms of group leaders (docs/live.md "Leader rooms"), from the outside: the leader streams
under the same real-name rules, only merchants with an accepted agreement supply goods, only
the point's residents see and buy, orders are collected at the point, the merchant is the
seller and the hand-over earns the agreement's rate; whoever else tries anything is refused
and nothing changes."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from linli import clock
from linli.accounts.identity import CSRF_COOKIE, SESSION_COOKIE
from linli.authz import Actor, UserRef
from linli.clock import FrozenClock
from linli.config import Settings
from linli.errors import DomainError
from linli.live import channel
from linli.live.models import (
    BlacklistedIdentity,
    ChatMessage,
    LiveCommission,
    LiveGoods,
    LiveOrder,
    Mute,
    Room,
    Streamer,
)
from linli.merchants.models import MerchantProfile
from linli.payments import ledger
from linli.payments.models import PaymentIntent
from linli.web import CSRF_FIELD
from tests.factories import login
from tests.groupbuy.helpers import a_shop, count, listed_sku, live_in, pay, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import (
    LIVE,
    a_studio,
    goods_row,
    identity_number,
    sku_stock,
    years_ago,
)
from tests.live_selling.leader_helpers import (
    LEADER_ROOMS,
    SUPPLIED,
    a_leader_studio,
    agree,
    buy_there,
    leader_room,
    register_leader,
    supply,
)
from tests.live_selling.test_channel import server as server  # the fixture
from tests.live_selling.test_fulfilment import ADDRESS, audited
from tests.live_selling.test_media import nginx_form
from tests.live_selling.test_uncollected import POINTS
from tests.payments.helpers import balances

FEE_BP = 200  # live.platform_fee v1


async def room_row(app: FastAPI, room_id: int) -> Room:
    async with app.state.sessionmaker() as s:
        room: Room | None = await s.get(Room, room_id)
    assert room is not None
    return room


async def goods_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(LiveGoods)) or 0)


async def test_a_leader_registers_as_a_streamer_under_the_same_rules(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    point = await a_led_point(session)
    (resident,) = await residents(session, 1)
    # Not a leader: refused (a resident's token has no leader scope).
    assert (
        await client.post(
            f"{LIVE}/leader/streamer",
            json={"real_name": "居民", "identity_number": identity_number(years_ago(30))},
            headers=resident.headers,
        )
    ).status_code == 403
    other = await a_led_point(session)
    for extra, status, code in (
        ({"identity_number": identity_number(years_ago(15))}, 409, "streamer_too_young"),
        ({"identity_number": identity_number(years_ago(17))}, 422, "guardian_consent_missing"),
        ({"identity_number": "110101199003071234"}, 422, "identity_invalid"),
    ):
        refused = await register_leader(client, other, **extra)
        assert (refused.status_code, refused.json()["error"].get("code")) == (status, code)
    minor = await register_leader(
        client,
        other,
        identity_number=identity_number(years_ago(17)),
        guardian_name="王家长",
        guardian_consent=True,
    )
    assert minor.status_code == 201, minor.text
    assert (minor.json()["organisation_id"], minor.json()["guardian_name"]) == (None, "王家长")
    again = await register_leader(client, other)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "streamer_exists")
    # The blacklist by identity reaches a leader's registration too.
    shop = await a_shop(client, session)
    barred = identity_number(years_ago(35), 777)
    merchant_streamer = await client.post(
        f"{LIVE}/merchant/streamers",
        json={"user_id": shop.owner.id, "real_name": "黑名单", "identity_number": barred},
        headers=shop.headers,
    )
    assert merchant_streamer.status_code == 201
    async with app.state.sessionmaker() as s:
        streamer = await s.get(Streamer, merchant_streamer.json()["id"])
        assert streamer is not None
        s.add(
            BlacklistedIdentity(
                identity_digest=streamer.identity_digest, reason="违规", created_at=clock.now()
            )
        )
        await s.commit()
    third = await a_led_point(session)
    blocked = await register_leader(client, third, identity_number=barred)
    assert (blocked.status_code, blocked.json()["error"]["code"]) == (409, "streamer_blacklisted")
    # A room needs the leader's own streamer record, and a point they lead.
    no_streamer = await leader_room(client, third)
    assert (no_streamer.status_code, no_streamer.json()["error"]["code"]) == (
        409,
        "streamer_missing",
    )
    foreign_point = await leader_room(client, other, pickup_point_id=point.id)
    assert foreign_point.status_code == 404
    assert await count(app, Room) == 0


async def test_residents_of_the_point_see_and_buy_collect_there_and_the_agreement_rate_is_paid(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_leader_studio(client, session, commission_bp=800)
    elsewhere = await a_led_point(session)
    buyer, neighbour, stranger = await residents(session, 3)
    await live_in(session, buyer.user, studio.point.id)
    await live_in(session, neighbour.user, studio.point.id)
    await live_in(session, stranger.user, elsewhere.id)
    # The schedule and the room: only the point's residents (others and anonymous: nothing, 404).
    mine = await client.get(f"{LIVE}/rooms", headers=buyer.headers)
    assert [r["id"] for r in mine.json()] == [studio.room_id]
    for headers in (stranger.headers, {}):
        assert (await client.get(f"{LIVE}/rooms", headers=headers)).json() == []
        hidden = await client.get(f"{LIVE}/rooms/{studio.room_id}", headers=headers)
        assert hidden.status_code == 404
    body = (await client.get(f"{LIVE}/rooms/{studio.room_id}", headers=buyer.headers)).json()
    assert (body["organisation_id"], body["pickup_point_id"], body["seller"]) == (
        None,
        studio.point.id,
        None,
    )
    assert [s["organisation_id"] for s in body["sellers"]] == [studio.shop.organisation.id]
    assert body["sellers"][0]["name"] == "邻里鲜果"
    assert body["goods"][0]["organisation_id"] == studio.shop.organisation.id
    # Buying: a stranger is refused as if the goods were not there; an address is refused.
    foreign = await buy_there(client, stranger.headers, studio)
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "goods_not_found")
    shipped = await buy_there(
        client,
        neighbour.headers,
        studio,
        delivery=ADDRESS,
    )
    assert (shipped.status_code, shipped.json()["error"]["code"]) == (422, "pickup_only")
    assert await count(app, LiveOrder) == 0
    placed = await buy_there(client, buyer.headers, studio, quantity=2)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    async with app.state.sessionmaker() as s:
        row = await s.get(LiveOrder, order["id"])
        intent = await s.scalar(
            select(PaymentIntent).where(PaymentIntent.reference == str(order["id"]))
        )
    assert row is not None
    assert intent is not None
    # The seller is the goods' merchant; it is collected at the room's point.
    assert (row.organisation_id, row.pickup_point_id) == (
        studio.shop.organisation.id,
        studio.point.id,
    )
    assert intent.payee_organisation_id == studio.shop.organisation.id
    await pay(client, settings, order["payment"])
    await app.state.dispatcher.run_once()
    # The merchant ships it to the point; the leader records the arrival and hands it over.
    to_ship = await client.get(f"{LIVE}/merchant/orders", headers=studio.shop.headers)
    assert [o["id"] for o in to_ship.json()] == [order["id"]]
    sent = await client.post(
        f"{LIVE}/merchant/orders/{order['id']}/ship",
        json={"carrier": "sf", "tracking_number": "sf1234567890"},
        headers=studio.shop.headers,
    )
    assert sent.status_code == 200, sent.text
    arrived = await client.post(
        f"{POINTS}/{studio.point.id}/orders/{order['id']}/arrive",
        headers=studio.point.leader.headers,
    )
    assert arrived.status_code == 200, arrived.text
    code = (await client.get(f"{LIVE}/orders/{order['id']}", headers=buyer.headers)).json()[
        "pickup_code"
    ]
    handed = await client.post(
        f"{POINTS}/{studio.point.id}/handover",
        json={"code": code},
        headers=studio.point.leader.headers,
    )
    assert handed.status_code == 200, handed.text
    total = order["total_fen"]  # 1980
    commission = total * 800 // 10_000  # the agreement's 8 %, not the point's 10 %
    fee = total * FEE_BP // 10_000
    after = await balances(app)
    leader = studio.point.leader.user.id
    assert after[ledger.leader_commission(leader)] == -commission
    assert after[ledger.merchant_payable(studio.shop.organisation.id)] == -(
        total - commission - fee
    )
    async with app.state.sessionmaker() as s:
        items = (await s.execute(select(LiveCommission.rate_bp, LiveCommission.amount_fen))).all()
    assert [tuple(i) for i in items] == [(800, commission)]


async def test_whoever_else_tries_is_refused_and_nothing_changes(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_leader_studio(client, session, live=False)
    merchant_room = await a_studio(client, session, live=False)
    rival = await a_leader_studio(client, session, live=False)  # another leader, own agreement
    leader = studio.point.leader.headers
    other_leader = rival.point.leader.headers
    goods_before = await goods_count(app)
    # The leader cannot add goods to, start or pin a merchant's room (no merchant: 403), nor
    # reach it through the leader routes (not theirs: 404).
    refused = await client.post(
        f"{LIVE}/merchant/rooms/{merchant_room.room_id}/goods",
        json={"sku_id": merchant_room.sku_id, "stream_price_fen": 100, "stock": 1},
        headers=leader,
    )
    assert refused.status_code == 403
    for action in ("start", "end"):
        assert (
            await client.post(
                f"{LIVE}/merchant/rooms/{merchant_room.room_id}/{action}", headers=leader
            )
        ).status_code == 403
        assert (
            await client.post(f"{LEADER_ROOMS}/{merchant_room.room_id}/{action}", headers=leader)
        ).status_code == 404
    # The leader cannot supply goods to their own room through the merchant route either.
    assert (
        await supply(client, studio.shop, rival.room_id, studio.sku_id)
    ).status_code == 404  # the shop's agreement is with the other leader
    # A merchant with only an offer (not accepted) cannot supply; nor one never agreed.
    offering = await a_shop(client, session, name="只报价")
    offered_sku = await listed_sku(client, offering, stock=50)
    made = await client.post(
        f"{LIVE}/merchant/agreements",
        json={"pickup_point_id": studio.point.id, "commission_bp": 500},
        headers=offering.headers,
    )
    assert made.status_code == 201
    assert (await supply(client, offering, studio.room_id, offered_sku)).status_code == 404
    stranger = await a_shop(client, session, name="陌生商家")
    stranger_sku = await listed_sku(client, stranger, stock=50)
    assert (await supply(client, stranger, studio.room_id, stranger_sku)).status_code == 404
    # A merchant's room is no leader room: the supply route does not reach it.
    assert (
        await supply(client, studio.shop, merchant_room.room_id, studio.sku_id)
    ).status_code == 404
    # An agreement ended: no more goods.
    ended = await client.post(
        f"{LIVE}/merchant/agreements/{studio.agreement_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200
    assert (await supply(client, studio.shop, studio.room_id, studio.sku_id)).status_code == 404
    assert await goods_count(app) == goods_before
    assert await sku_stock(app, offered_sku) == 50
    assert await sku_stock(app, stranger_sku) == 50
    # Another leader cannot start, pin, end or read this room; nor a merchant through leader routes.
    for headers in (other_leader, studio.shop.headers):
        for action in ("start", "pause", "resume", "end", "unpin"):
            attempt = await client.post(
                f"{LEADER_ROOMS}/{studio.room_id}/{action}", headers=headers
            )
            assert attempt.status_code in (403, 404), (action, attempt.text)
        pinned = await client.post(
            f"{LEADER_ROOMS}/{studio.room_id}/pin",
            json={"goods_id": studio.goods_id},
            headers=headers,
        )
        assert pinned.status_code in (403, 404)
        assert (
            await client.get(f"{LEADER_ROOMS}/{studio.room_id}", headers=headers)
        ).status_code in (
            403,
            404,
        )
        assert (
            await client.get(f"{LEADER_ROOMS}/{studio.room_id}/statistics", headers=headers)
        ).status_code in (403, 404)
    # The merchant's room routes do not reach a leader's room.
    assert (
        await client.post(
            f"{LIVE}/merchant/rooms/{studio.room_id}/start", headers=studio.shop.headers
        )
    ).status_code == 404
    room = await room_row(app, studio.room_id)
    assert (room.status, room.pinned_goods_id) == ("scheduled", None)
    assert await audited(app, "live.session_started") == []
    # The leader does it: live, pinned; another leader's unpin changes nothing.
    started = await client.post(f"{LEADER_ROOMS}/{studio.room_id}/start", headers=leader)
    assert started.status_code == 200, started.text
    assert started.json()["stream_key"]
    pinned = await client.post(
        f"{LEADER_ROOMS}/{studio.room_id}/pin", json={"goods_id": studio.goods_id}, headers=leader
    )
    assert pinned.status_code == 200, pinned.text
    assert (
        await client.post(f"{LEADER_ROOMS}/{studio.room_id}/unpin", headers=other_leader)
    ).status_code == 404
    assert (await room_row(app, studio.room_id)).pinned_goods_id == studio.goods_id
    # The merchant sees the leader rooms it supplies (its agreement ended: this one no more).
    listed = await client.get(SUPPLIED, headers=rival.shop.headers)
    assert [r["id"] for r in listed.json()] == [rival.room_id]
    assert (await client.get(SUPPLIED, headers=studio.shop.headers)).json() == []


BATCH = 50


async def test_200_residents_race_for_50_units_of_a_leader_rooms_stream_stock(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_leader_studio(client, session, sku_stock=500, stream_stock=50, limit=1)
    assert await sku_stock(app, studio.sku_id) == 450
    viewers = await residents(session, 200)
    for viewer in viewers:
        await live_in(session, viewer.user, studio.point.id)
    results: list[httpx.Response] = []
    for start in range(0, len(viewers), BATCH):
        results += await asyncio.gather(
            *(buy_there(client, v.headers, studio) for v in viewers[start : start + BATCH])
        )
    created = [r for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    assert len(created) == 50, sorted({r.text[:200] for r in refused})
    assert {r.json()["error"]["code"] for r in refused} == {"sold_out"}
    assert (await goods_row(app, studio.goods_id)).remaining == 0
    assert await count(app, LiveOrder) == 50
    assert await count(app, PaymentIntent) == 50
    ended = await client.post(
        f"{LEADER_ROOMS}/{studio.room_id}/end", headers=studio.point.leader.headers
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended"
    assert await sku_stock(app, studio.sku_id) == 450  # nothing unsold to give back
    again = await client.post(
        f"{LEADER_ROOMS}/{studio.room_id}/end", headers=studio.point.leader.headers
    )
    assert again.status_code == 409
    assert await sku_stock(app, studio.sku_id) == 450


async def test_unsold_stream_stock_of_a_leader_room_goes_back_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_leader_studio(client, session, sku_stock=100, stream_stock=20)
    assert await sku_stock(app, studio.sku_id) == 80
    ended = await client.post(
        f"{LEADER_ROOMS}/{studio.room_id}/end", headers=studio.point.leader.headers
    )
    assert ended.status_code == 200
    assert await sku_stock(app, studio.sku_id) == 100
    assert (await goods_row(app, studio.goods_id)).released_units == 20


async def test_a_leader_room_goes_live_by_the_media_server_channel_statistics_replay(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    server: str,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_leader_studio(client, session, live=False)
    leader = studio.point.leader.headers
    resident, stranger = await residents(session, 2)
    await live_in(session, resident.user, studio.point.id)
    elsewhere = await a_led_point(session)
    await live_in(session, stranger.user, elsewhere.id)
    started = await client.post(f"{LEADER_ROOMS}/{studio.room_id}/start", headers=leader)
    key = started.json()["stream_key"]
    ok = await client.post(f"{LIVE}/media/on_publish", data=nginx_form(key))
    assert (ok.status_code, ok.headers["location"]) == (302, f"room-{studio.room_id}")
    # The channel: the point's resident is let in; another point's resident and anonymous not.
    url = f"{server}{LIVE}/rooms/{studio.room_id}/ws"
    cookies = {}
    for who in (resident, stranger):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as browser:
            await login(browser, who.user)
            cookies[who.user.id] = {
                "Cookie": f"{SESSION_COOKIE}={browser.cookies.get(SESSION_COOKIE)}"
            }
    async with connect(url, additional_headers=cookies[resident.user.id]) as ws:
        hello = json.loads(await ws.recv())
        assert (hello["type"], hello["room"]["status"], hello["can_chat"]) == (
            "hello",
            "live",
            True,
        )
        assert hello["room"]["pickup_point_id"] == studio.point.id
    for headers in (cookies[stranger.user.id], {}):
        with pytest.raises(InvalidStatus, match="HTTP 403"):
            async with connect(url, additional_headers=headers) as ws:
                await ws.recv()
    # The room page: the resident's, with the supplier and a pickup-only buy form; others 404.
    pinned = await client.post(
        f"{LEADER_ROOMS}/{studio.room_id}/pin", json={"goods_id": studio.goods_id}, headers=leader
    )
    assert pinned.status_code == 200, pinned.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await login(browser, resident.user)
        page = await browser.get(f"/live/{studio.room_id}")
        assert 'data-testid="live-pickup-only"' in page.text
        assert "data-delivery-fields" not in page.text
        bought = await form(
            browser,
            f"/live/{studio.room_id}/buy",
            key="leader-room-page-1",
            goods_id=studio.goods_id,
            quantity=1,
            receive="pickup",
        )
        assert bought.status_code == 303, bought.text
        async with app.state.sessionmaker() as s:
            placed = await s.scalar(select(LiveOrder).where(LiveOrder.room_id == studio.room_id))
        assert placed is not None
        assert (placed.pickup_point_id, placed.organisation_id) == (
            studio.point.id,
            studio.shop.organisation.id,
        )
        for lang, words in (("en", "A group leader's room"), ("zh-CN", "本自提点居民")):
            page = await browser.get(f"/live/{studio.room_id}", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert 'data-testid="live-supplier"' in page.text
            assert words in page.text
            schedule = await browser.get("/live", headers={"Accept-Language": lang})
            assert f"/live/{studio.room_id}" in schedule.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await login(browser, stranger.user)
        assert (await browser.get(f"/live/{studio.room_id}")).status_code == 404
        assert f"/live/{studio.room_id}" not in (await browser.get("/live")).text
    # Statistics: the leader's; the merchant's statistics route does not reach it.
    stats = await client.get(f"{LEADER_ROOMS}/{studio.room_id}/statistics", headers=leader)
    assert stats.status_code == 200, stats.text
    assert stats.json()["room_id"] == studio.room_id
    assert (
        await client.get(
            f"{LIVE}/merchant/rooms/{studio.room_id}/statistics", headers=studio.shop.headers
        )
    ).status_code == 404
    # Ended: the replay is the resident's, 404 for anyone else.
    stopped = await client.post(f"{LIVE}/media/on_publish_done", data=nginx_form(key))
    assert stopped.status_code == 204
    assert (await room_row(app, studio.room_id)).status == "paused"
    assert (
        await client.post(f"{LEADER_ROOMS}/{studio.room_id}/end", headers=leader)
    ).status_code == 200
    replay = await client.get(f"{LIVE}/replays/{studio.room_id}", headers=resident.headers)
    assert replay.status_code == 200, replay.text
    assert [
        r["id"] for r in (await client.get(f"{LIVE}/replays", headers=resident.headers)).json()
    ] == [studio.room_id]
    for headers in (stranger.headers, {}):
        assert (
            await client.get(f"{LIVE}/replays/{studio.room_id}", headers=headers)
        ).status_code == 404
        assert (await client.get(f"{LIVE}/replays", headers=headers)).json() == []


async def form(c: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    return await c.post(url, data={CSRF_FIELD: c.cookies.get(CSRF_COOKIE) or "", **data})


async def test_the_leader_studio_and_the_supplying_merchants_pages_in_both_languages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    point, other = await a_led_point(session), await a_led_point(session)
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, stock=100)
    await agree(client, shop, point)
    (resident,) = await residents(session, 1)
    transport = httpx.ASGITransport(app=app)
    start = clock.now().astimezone(clock.LOCAL)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as leader,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as nobody,
    ):
        await login(leader, point.leader.user)
        await login(stranger, other.leader.user)
        await login(merchant, shop.owner, organisation=shop.organisation)
        await login(nobody, resident.user)
        for lang, words in (("en", "My live rooms"), ("zh-CN", "我的直播间")):
            page = await leader.get("/leader/live", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert words in page.text
        assert (await nobody.get("/leader/live")).status_code == 404  # no point led
        too_young = identity_number(years_ago(15))
        young = await form(
            leader, "/leader/live/streamer", real_name="王团长", identity_number=too_young
        )
        assert young.status_code == 409
        # The form again as typed, never with the identity number.
        assert 'value="王团长"' in young.text
        assert too_young not in young.text
        registered = await form(
            leader,
            "/leader/live/streamer",
            real_name="王团长",
            identity_number=identity_number(years_ago(40)),
        )
        assert registered.status_code == 303, registered.text
        bad = await form(
            leader,
            "/leader/live",
            pickup_point_id=point.id,
            title="",
            scheduled_start="tomorrow",
            scheduled_end="",
        )
        assert bad.status_code == 422
        made = await form(
            leader,
            "/leader/live",
            pickup_point_id=point.id,
            title="团长直播",
            scheduled_start=start.strftime("%Y-%m-%dT%H:%M"),
            scheduled_end=(start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        )
        assert made.status_code == 303, made.text
        room_id = int(made.headers["location"].split("?")[0].rsplit("/", 1)[1])
        assert (await stranger.get(f"/leader/live/{room_id}")).status_code == 404
        assert (await form(stranger, f"/leader/live/{room_id}/start")).status_code == 404
        assert (await merchant.get(f"/merchant/live/{room_id}")).status_code == 404
        # The merchant lists it and adds goods; the leader's page shows them with the merchant.
        for lang, words in (
            ("en", "Group leaders' rooms we supply"),
            ("zh-CN", "我们供货的团长直播间"),
        ):
            page = await merchant.get("/merchant/live-supplied", headers={"Accept-Language": lang})
            assert page.status_code == 200
            assert words in page.text
            assert f'data-room="{room_id}"' in page.text
        wrong = await form(
            merchant, f"/merchant/live-supplied/{room_id}/goods", sku_id=sku_id, price="x", stock=5
        )
        assert wrong.status_code == 422
        # No after-sales contact on file: supplying is refused until the owner sets it on
        # the merchant console (a bad phone: 422).
        refused = await form(
            merchant,
            f"/merchant/live-supplied/{room_id}/goods",
            sku_id=sku_id,
            price="9.90",
            stock=10,
        )
        assert refused.status_code == 409
        assert await sku_stock(app, sku_id) == 100
        bad_phone = await form(merchant, "/merchant/after-sales", phone="12345", terms="")
        assert bad_phone.status_code == 303  # back to the console with the error
        async with app.state.sessionmaker() as s:
            profile = await s.get(MerchantProfile, shop.organisation.id)
            assert profile is not None
            assert profile.after_sales_phone is None
        contact = await form(merchant, "/merchant/after-sales", phone="139-1380-0013", terms="")
        assert contact.status_code == 303, contact.text
        added = await form(
            merchant,
            f"/merchant/live-supplied/{room_id}/goods",
            sku_id=sku_id,
            price="9.90",
            stock=10,
        )
        assert added.status_code == 303, added.text
        assert await sku_stock(app, sku_id) == 90
        assert (await stranger.get("/merchant/live-supplied")).status_code in (403, 404)
        studio = await leader.get(f"/leader/live/{room_id}", headers={"Accept-Language": "zh-CN"})
        assert studio.status_code == 200
        assert "邻里鲜果" in studio.text
        assert "/merchant/live/" not in studio.text
        started = await form(leader, f"/leader/live/{room_id}/start")
        assert started.status_code == 200
        assert 'data-testid="stream-key"' in started.text
        async with app.state.sessionmaker() as s:
            goods_id = await s.scalar(select(LiveGoods.id).where(LiveGoods.room_id == room_id))
        assert (
            await form(stranger, f"/leader/live/{room_id}/pin", goods_id=goods_id)
        ).status_code == 404
        assert (
            await form(leader, f"/leader/live/{room_id}/pin", goods_id=goods_id)
        ).status_code == 303
        assert (await room_row(app, room_id)).pinned_goods_id == goods_id
        assert (await form(leader, f"/leader/live/{room_id}/dance")).status_code == 422
        ended = await form(leader, f"/leader/live/{room_id}/end")
        assert ended.status_code == 303
        assert (await room_row(app, room_id)).status == "ended"
        assert await sku_stock(app, sku_id) == 100


async def test_the_leader_moderates_their_rooms_chat_and_nobody_elses(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The leader removes a message (with a reason) and mutes its writer in their own room
    through the API; another leader, and the supplying merchant through the leader routes,
    are refused with 404 and nothing changes."""
    studio = await a_leader_studio(client, session)
    rival = await a_leader_studio(client, session, live=False)
    (viewer,) = await residents(session, 1)
    await live_in(session, viewer.user, studio.point.id)
    async with app.state.sessionmaker() as s, s.begin():
        message = await channel.post_chat(
            s, Actor(user=UserRef.of(viewer.user)), studio.room_id, "买三送一，加我微信"
        )
        message_id = message.id
    remove = f"{LEADER_ROOMS}/{studio.room_id}/chat/{message_id}/remove"
    mutes = f"{LEADER_ROOMS}/{studio.room_id}/mutes"
    mute_body = {"user_id": viewer.user.id, "minutes": 30, "reason": "spam"}
    for headers in (rival.point.leader.headers, studio.shop.headers):
        refused = await client.post(remove, json={"reason": "spam"}, headers=headers)
        assert refused.status_code in (403, 404), refused.text
        refused = await client.post(mutes, json=mute_body, headers=headers)
        assert refused.status_code in (403, 404), refused.text
    async with app.state.sessionmaker() as s:
        untouched = await s.get(ChatMessage, message_id)
        assert untouched is not None
        assert untouched.removed_at is None
        assert await s.get(Mute, (studio.room_id, viewer.user.id)) is None
    removed = await client.post(
        remove, json={"reason": "spam", "note": "广告"}, headers=studio.point.leader.headers
    )
    assert removed.status_code == 200, removed.text
    muted = await client.post(mutes, json=mute_body, headers=studio.point.leader.headers)
    assert muted.status_code == 200, muted.text
    async with app.state.sessionmaker() as s:
        row = await s.get(ChatMessage, message_id)
        assert row is not None
        assert row.removed_reason == "spam: 广告"
        assert row.removed_by_user_id == studio.point.leader.user.id
        assert await s.get(Mute, (studio.room_id, viewer.user.id)) is not None
    async with app.state.sessionmaker() as s, s.begin():
        with pytest.raises(DomainError):
            await channel.post_chat(
                s, Actor(user=UserRef.of(viewer.user)), studio.room_id, "再发一次"
            )
