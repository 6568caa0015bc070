"""Rooms, pins, buying and streamers: what is refused, clearly; and the rules as data."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.rules.defaults import SINCE
from linli.rules.models import RuleVersion
from linli.rules.service import in_force
from tests.factories import make_org, make_token, make_user
from tests.groupbuy.helpers import a_shop, bearer, listed_sku, residents
from tests.live_selling.helpers import (
    LIVE,
    a_room,
    a_streamer,
    a_studio,
    buy,
    identity_number,
    pin,
    years_ago,
)


async def test_one_pin_at_a_time_and_only_the_pinned_item_sells_while_live(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, live=False, limit=2)
    second_sku = await listed_sku(client, studio.shop, code="BIG")
    other = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/goods",
        json={"sku_id": second_sku, "stream_price_fen": 500, "stock": 5},
        headers=studio.shop.headers,
    )
    assert other.status_code == 201, other.text
    (viewer,) = await residents(session, 1)
    # Not live yet: no pin, no buying.
    assert (await pin(client, studio)).json()["error"]["code"] == "room_not_live"
    assert (await buy(client, viewer.headers, studio)).json()["error"]["code"] == "not_on_sale"
    started = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/start", headers=studio.shop.headers
    )
    assert started.status_code == 200, started.text
    assert started.json()["stream_key"].startswith("live_")
    # Two pins at once: exactly one wins.
    first, second = await asyncio.gather(
        pin(client, studio), pin(client, studio, other.json()["id"])
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    loser = second if second.status_code == 409 else first
    assert loser.json()["error"]["code"] == "already_pinned"
    pinned_id = (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()["pinned_goods_id"]
    unpinned_id = other.json()["id"] if pinned_id == studio.goods_id else studio.goods_id
    refused = await buy(client, viewer.headers, studio, goods_id=unpinned_id)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_on_sale")
    key = "same-key-0001"
    placed = await buy(client, viewer.headers, studio, goods_id=pinned_id, key=key)
    assert placed.status_code == 201, placed.text
    replayed = await buy(client, viewer.headers, studio, goods_id=pinned_id, key=key)
    assert (replayed.status_code, replayed.json()["id"]) == (200, placed.json()["id"])
    reused = await buy(client, viewer.headers, studio, goods_id=pinned_id, key=key, quantity=2)
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    over = await buy(client, viewer.headers, studio, goods_id=pinned_id, quantity=2)
    assert over.json()["error"]["code"] == "limit_exceeded"
    # Paused: nothing sells; unpinned: nothing sells.
    paused = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/pause", headers=studio.shop.headers
    )
    assert paused.json()["status"] == "paused"
    assert (await buy(client, viewer.headers, studio, goods_id=pinned_id)).status_code == 409
    await client.post(f"{LIVE}/merchant/rooms/{studio.room_id}/resume", headers=studio.shop.headers)
    unpinned = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/unpin", headers=studio.shop.headers
    )
    assert unpinned.json()["pinned_goods_id"] is None
    gone = await buy(client, viewer.headers, studio, goods_id=pinned_id)
    assert gone.json()["error"]["code"] == "not_on_sale"
    # Anonymous buyers are asked to log in; another merchant cannot touch the room.
    anonymous = await client.post(
        f"{LIVE}/rooms/{studio.room_id}/orders",
        json={"goods_id": pinned_id},
        headers={"Idempotency-Key": "anon-key-001"},
    )
    assert anonymous.status_code == 401
    rival = await a_shop(client, session, name="别家")
    assert (
        await client.post(f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=rival.headers)
    ).status_code == 404
    replay = await client.get(f"{LIVE}/replays/{studio.room_id}")
    assert [p["goods_id"] for p in replay.json()["pins"]] == [pinned_id]
    async with app.state.sessionmaker() as s:
        actions = set(
            await s.scalars(
                select(AuditEntry.action).where(AuditEntry.target_id == str(studio.room_id))
            )
        )
    assert {"live.room_created", "live.session_started", "live.pinned", "live.unpinned"} <= actions


async def test_schedule_length_and_input_are_checked(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    streamer = (await a_streamer(client, shop)).json()
    now = clock.now()
    short = await a_room(
        client, shop, streamer["id"], scheduled_end=(now + timedelta(minutes=20)).isoformat()
    )
    assert (short.status_code, short.json()["error"]["code"]) == (422, "schedule_length")
    long = await a_room(
        client, shop, streamer["id"], scheduled_end=(now + timedelta(hours=25)).isoformat()
    )
    assert long.status_code == 422
    control = await a_room(client, shop, streamer["id"], title="bad\x07title")
    assert control.status_code == 422
    far = await a_room(
        client,
        shop,
        streamer["id"],
        scheduled_start="9999-12-31T23:00:00-14:00",
        scheduled_end="9999-12-31T23:40:00-14:00",
    )
    assert far.status_code == 422, far.text


async def test_streamers_real_name_age_guardian_and_blacklist(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop(client, session)
    valid = identity_number(years_ago(30))
    wrong = valid[:-1] + ("1" if valid[-1] == "0" else "0")  # a wrong check character
    bad = await a_streamer(client, shop, identity_number=wrong)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "identity_invalid")
    young = await a_streamer(client, shop, birth=years_ago(15))
    assert (young.status_code, young.json()["error"]["code"]) == (409, "streamer_too_young")
    minor = await a_streamer(client, shop, birth=years_ago(17))
    assert (minor.status_code, minor.json()["error"]["code"]) == (422, "guardian_consent_missing")
    consented = await a_streamer(
        client, shop, birth=years_ago(17), guardian_name="李父", guardian_consent=True
    )
    assert consented.status_code == 201, consented.text
    assert consented.json()["guardian_consent_at"] is not None
    assert "identity_number" not in consented.json()
    # The platform bars the identity; the same person cannot come back under a new account.
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    ops = bearer(await make_token(session, operator, organisation=platform))
    barred = await client.post(
        f"{LIVE}/platform/streamers/{consented.json()['id']}/blacklist",
        json={"reason": "虚假宣传"},
        headers=ops,
    )
    assert barred.json()["status"] == "suspended"
    elsewhere = await a_shop(client, session, name="新店")
    number = identity_number(years_ago(17), seq=1)
    first = await a_streamer(
        client, elsewhere, identity_number=number, guardian_name="李父", guardian_consent=True
    )
    assert first.status_code == 201, first.text
    (replay,) = await residents(session, 1)
    refused = await client.post(
        f"{LIVE}/platform/streamers/{first.json()['id']}/blacklist",
        json={"reason": "虚假宣传"},
        headers=replay.headers,
    )
    assert refused.status_code == 403
    await client.post(
        f"{LIVE}/platform/streamers/{first.json()['id']}/blacklist",
        json={"reason": "虚假宣传"},
        headers=ops,
    )
    third = await a_shop(client, session, name="第三家")
    dodging = await a_streamer(
        client, third, identity_number=number, guardian_name="李父", guardian_consent=True
    )
    assert (dodging.status_code, dodging.json()["error"]["code"]) == (409, "streamer_blacklisted")


async def test_regulated_goods_need_the_ad_review_before_going_live(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """The pre-review list is rule data: a new version naming groceries applies at once."""
    current = await in_force(session, "live.commerce")
    values = dict(current.values)
    values["pre_review_categories"] = [*values["pre_review_categories"], "groceries"]
    session.add(
        RuleVersion(
            rule_id="live.commerce",
            version=current.version + 1,
            jurisdiction="CN",
            title=current.title,
            legal_basis=current.legal_basis,
            effective_from=SINCE,
            effective_to=None,
            values=values,
            created_at=clock.now(),
        )
    )
    await session.commit()
    studio = await a_studio(client, session, live=False)
    room = (await client.get(f"{LIVE}/rooms/{studio.room_id}")).json()
    assert room["goods"][0]["needs_ad_review"] is True
    assert room["seller"]["name"] == "邻里鲜果"
    start = f"{LIVE}/merchant/rooms/{studio.room_id}/start"
    refused = await client.post(start, headers=studio.shop.headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "ad_review_required")
    reviewed = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/ad-review",
        json={"reference": "沪食健广审(文)第2026-001号"},
        headers=studio.shop.headers,
    )
    assert reviewed.status_code == 200, reviewed.text
    assert (await client.post(start, headers=studio.shop.headers)).status_code == 200


async def test_the_same_sku_added_twice_at_once_is_one_goods_and_one_reservation(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Two adds of one SKU racing past the duplicate check meet at the (room, SKU) unique
    constraint: one 201, the other 409 `goods_exists` (never a 500), one reservation."""
    shop = await a_shop(client, session)
    sku_id = await listed_sku(client, shop, stock=100)
    streamer = await a_streamer(client, shop)
    room = await a_room(client, shop, streamer.json()["id"])
    room_id = room.json()["id"]
    body = {"sku_id": sku_id, "stream_price_fen": 990, "stock": 30, "per_buyer_limit": 2}
    answers = await asyncio.gather(
        *(
            client.post(f"{LIVE}/merchant/rooms/{room_id}/goods", json=body, headers=shop.headers)
            for _ in range(4)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"goods_exists"}
    async with app.state.sessionmaker() as s:
        left = await s.scalar(select(Sku.stock).where(Sku.id == sku_id))
    assert left == 70
