"""Live selling's part of personal data (docs/privacy.md, docs/live.md): live orders, chat,
streamer records and mutes in the export; an open live order keeps the account open; after
closing the chat names nobody, and its texts go at the purge."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor, UserRef
from linli.clock import FrozenClock
from linli.config import Settings
from linli.live import channel
from linli.live import personal_data as live_personal_data
from linli.live.models import (
    ChatMessage,
    LiveOrder,
    Recording,
    RoomEvent,
    RoomViewer,
    Streamer,
)
from linli.privacy.models import AccountClosure
from tests.factories import PASSWORD, grant
from tests.groupbuy.helpers import Resident, a_shop, pay, residents
from tests.live_selling.helpers import (
    LIVE,
    Studio,
    a_studio,
    buy,
    identity_number,
    years_ago,
)

PRIVACY = "/api/v1/privacy"


async def chat(app: FastAPI, viewer: Resident, studio: Studio, text: str) -> int:
    async with app.state.sessionmaker() as s, s.begin():
        message = await channel.post_chat(
            s, Actor(user=UserRef.of(viewer.user)), studio.room_id, text
        )
        return message.id


async def close(client: httpx.AsyncClient, viewer: Resident) -> httpx.Response:
    return await client.post(
        f"{PRIVACY}/close-account",
        json={"password": PASSWORD, "confirm": True},
        headers=viewer.headers,
    )


async def test_export_holds_live_orders_chat_mutes_and_the_streamer_record(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    viewer, other = await residents(session, 2)
    bought = await buy(client, viewer.headers, studio, quantity=2)
    assert bought.status_code == 201, bought.text
    await pay(client, settings, bought.json()["payment"])
    await app.state.dispatcher.run_once()
    kept = await chat(app, viewer, studio, "苹果甜吗？")
    spam = await chat(app, viewer, studio, "加我微信买更便宜")
    await chat(app, other, studio, "邻居的消息")
    room = f"{LIVE}/merchant/rooms/{studio.room_id}"
    removed = await client.post(
        f"{room}/chat/{spam}/remove",
        json={"reason": "spam", "note": "站外交易"},
        headers=studio.shop.headers,
    )
    assert removed.status_code == 200, removed.text
    async with app.state.sessionmaker() as s:  # as the channel counts a viewer connecting
        await channel.count_viewer(s, studio.room_id, viewer.user.id)
        await s.commit()
    muted = await client.post(
        f"{room}/mutes",
        json={"user_id": viewer.user.id, "minutes": 30, "reason": "刷屏"},
        headers=studio.shop.headers,
    )
    assert muted.status_code in (200, 201), muted.text

    exported = await client.get(f"{PRIVACY}/export", headers=viewer.headers)
    assert exported.status_code == 200, exported.text
    live = exported.json()["sections"]["live"]
    [order] = live["orders"]
    assert order["room_id"] == studio.room_id
    assert order["room"] == "烟台苹果直播"
    assert (order["quantity"], order["unit_price_fen"], order["total_fen"]) == (2, 990, 1980)
    assert order["status"] == "paid"
    assert order["paid_at"] is not None
    assert order["product_name"]
    messages = {m["id"]: m for m in live["chat_messages"]}
    assert set(messages) == {kept, spam}  # never the neighbour's
    assert messages[kept]["text"] == "苹果甜吗？"
    assert messages[kept]["removed"] is False
    assert messages[spam]["removed"] is True
    assert messages[spam]["removed_reason"] == "spam: 站外交易"
    assert [(m["room_id"], m["reason"]) for m in live["mutes"]] == [(studio.room_id, "刷屏")]
    assert [(w["room_id"], w["room"]) for w in live["rooms_watched"]] == [
        (studio.room_id, "烟台苹果直播")
    ]
    assert live["streamers"] == []

    # The streamer's own export: real name and the stored last four characters, no digest.
    owner = await client.get(f"{PRIVACY}/export", headers=studio.shop.headers)
    assert owner.status_code == 200, owner.text
    [streamer] = owner.json()["sections"]["live"]["streamers"]
    async with app.state.sessionmaker() as s:
        row = await s.get(Streamer, studio.streamer_id)
        assert row is not None
        digest, hint = row.identity_digest, row.identity_hint
    assert streamer["real_name"] == "李主播"
    assert streamer["identity_hint"] == hint
    assert len(hint) == 4
    assert streamer["status"] == "active"
    assert digest not in owner.text
    assert "identity_digest" not in owner.text
    # Streaming a room that is live keeps the streamer's account open (as does their role).
    refused = await client.post(
        f"{PRIVACY}/close-account",
        json={"password": PASSWORD, "confirm": True},
        headers=studio.shop.headers,
    )
    assert refused.status_code == 409, refused.text
    assert "Live rooms you stream" in refused.text


async def test_an_open_live_order_keeps_the_account_open_and_closing_anonymises_the_chat(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    viewer, payer = await residents(session, 2)
    unpaid = await buy(client, viewer.headers, studio)
    assert unpaid.status_code == 201, unpaid.text
    paid = await buy(client, payer.headers, studio)
    await pay(client, settings, paid.json()["payment"])
    await app.state.dispatcher.run_once()
    message_id = await chat(app, viewer, studio, "住3号楼，今天能送吗")
    async with app.state.sessionmaker() as s:
        await channel.count_viewer(s, studio.room_id, viewer.user.id)
        await s.commit()

    for who in (viewer, payer):  # awaiting payment, or paid and neither delivered nor refunded
        refused = await close(client, who)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "open_obligations"
        assert "Live orders still open" in refused.text

    # The unpaid order expires (cancelled): nothing is open any more.
    frozen_clock.advance(timedelta(minutes=16))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        assert (await s.get(LiveOrder, unpaid.json()["id"])).status == "cancelled"
    closed = await close(client, viewer)
    assert closed.status_code == 200, closed.text

    async with app.state.sessionmaker() as s:
        message = await s.get(ChatMessage, message_id)
        assert message is not None
        # Kept as the room's record (rule live.commerce), by a user row naming nobody.
        assert message.text == "住3号楼，今天能送吗"
        events = (await s.scalars(select(RoomEvent).where(RoomEvent.kind == "chat"))).all()
        [event] = [e for e in events if e.payload["id"] == message_id]
        assert event.payload["user"] == "—"
        assert viewer.user.display_name not in str([e.payload for e in events])
        closure = await s.get(AccountClosure, viewer.user.id)
        assert closure is not None
        retain_until = closure.retain_until
        # Which rooms they watched is no record anyone must keep.
        assert await s.get(RoomViewer, (studio.room_id, viewer.user.id)) is None

    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200, ended.text
    frozen_clock.set(retain_until + timedelta(days=1))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        # The room's own retention ended by then too (the account's ran from the room's
        # scheduled end): its chat and channel events are deleted (live.purge_records), so
        # nothing of the text is left anywhere.
        assert await s.get(ChatMessage, message_id) is None
        events = await s.scalars(select(RoomEvent).where(RoomEvent.room_id == studio.room_id))
        assert list(events) == []
        assert (await s.get(AccountClosure, viewer.user.id)).purged_at is not None


async def test_the_purge_erases_chat_texts_of_a_room_still_kept(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    frozen_clock: FrozenClock,
) -> None:
    """At the account's purge, chat in a room whose own retention has not ended yet (rule
    live.commerce longer than the privacy rule, or a room that ended late) keeps its row for
    the room's record but loses its text, in the stored events too."""
    studio = await a_studio(client, session)
    (viewer,) = await residents(session, 1)
    message_id = await chat(app, viewer, studio, "住3号楼，今天能送吗")
    async with app.state.sessionmaker() as s, s.begin():
        await live_personal_data.erase_live(s, viewer.user.id)
    async with app.state.sessionmaker() as s:
        message = await s.get(ChatMessage, message_id)
        assert message is not None
        assert message.text == ""
        events = (await s.scalars(select(RoomEvent).where(RoomEvent.kind == "chat"))).all()
        [event] = [e for e in events if e.payload["id"] == message_id]
        assert event.payload["text"] == ""


async def test_closing_and_purge_handle_the_streamer_record(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    studio = await a_studio(client, session, live=False)
    other_shop = await a_shop(client, session, name="第二家店")
    await grant(session, other_shop.organisation, studio.shop.owner, "staff")
    unused = await client.post(
        f"{LIVE}/merchant/streamers",
        json={
            "user_id": studio.shop.owner.id,
            "real_name": "李主播",
            "identity_number": identity_number(years_ago(30)),
        },
        headers=other_shop.headers,
    )
    assert unused.status_code == 201, unused.text
    user_id = studio.shop.owner.id
    async with app.state.sessionmaker() as s, s.begin():
        await live_personal_data.forget_live(s, user_id)
    async with app.state.sessionmaker() as s:
        assert await s.get(Streamer, unused.json()["id"]) is None  # no room: nothing to keep
        kept = await s.get(Streamer, studio.streamer_id)
        assert kept is not None
        assert kept.status == "suspended"
        assert kept.real_name == "李主播"  # the room's record, until the purge
    async with app.state.sessionmaker() as s, s.begin():
        await live_personal_data.erase_live(s, user_id)
    async with app.state.sessionmaker() as s:
        erased = await s.get(Streamer, studio.streamer_id)
        assert erased is not None
        assert (erased.real_name, erased.identity_hint, erased.identity_digest) == ("—", "", "")
        assert erased.guardian_name is None


async def test_the_streamers_export_lists_the_recordings_of_their_rooms_not_the_video(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    viewer, _ = await residents(session, 2)
    bought = await buy(client, viewer.headers, studio)
    assert bought.status_code == 201, bought.text
    now = frozen_clock.now()
    async with app.state.sessionmaker() as s, s.begin():
        ready = Recording(
            room_id=studio.room_id,
            source_name=f"room-{studio.room_id}-1700000000.flv",
            status="ready",
            file_name=f"room-{studio.room_id}-1700000000.mp4",
            bytes=123456,
            duration_ms=61000,
            attempts=1,
            recorded_at=now,
            retain_until=now + timedelta(days=3 * 365),
        )
        failed = Recording(
            room_id=studio.room_id,
            source_name=f"room-{studio.room_id}-1700000100.flv",
            status="failed",
            attempts=5,
            recorded_at=now,
            retain_until=now + timedelta(days=3 * 365),
        )
        s.add_all([ready, failed])
    owner = await client.get(f"{PRIVACY}/export", headers=studio.shop.headers)
    assert owner.status_code == 200, owner.text
    listed = {r["id"]: r for r in owner.json()["sections"]["live"]["recordings"]}
    assert set(listed) == {ready.id, failed.id}
    assert listed[ready.id]["url"] == f"/live/{studio.room_id}/recordings/{ready.id}.mp4"
    assert (listed[ready.id]["duration_ms"], listed[ready.id]["bytes"]) == (61000, 123456)
    assert listed[ready.id]["room"] == "烟台苹果直播"
    assert listed[failed.id]["url"] is None
    assert listed[failed.id]["status"] == "failed"
    # A viewer's export: their order with the room's link, nobody's recordings.
    mine = (await client.get(f"{PRIVACY}/export", headers=viewer.headers)).json()
    live = mine["sections"]["live"]
    assert live["recordings"] == []
    assert [o["room_url"] for o in live["orders"]] == [f"/live/{studio.room_id}"]
