"""Goods coming back, from the outside: the merchant may collect them instead of the pickup
point (condition and photos recorded, the 7-day refund clock from then), the merchant may
refuse the refund of goods received damaged (with a reason the resident is told, and a link to
complain), and the resident sees the receipt's condition and photos on their return page."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.config import Settings
from linli.files import service as file_service
from linli.files.models import StoredFile
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.protection import returns
from tests.factories import make_user, png_bytes
from tests.groupbuy.helpers import a_shop, count
from tests.groupbuy.test_fulfilment_pages import browser
from tests.protection.helpers import RETURNS, Bought, ask, body, collected, return_rows


async def events(app: FastAPI, name: str) -> list[dict[str, object]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == name))
        return [dict(row.payload) for row in rows]


async def audited(app: FastAPI, action: str) -> list[dict[str, object]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return [dict(row.details or {}) for row in rows]


async def approved(client: httpx.AsyncClient, bought: Bought, line_id: int, quantity: int) -> int:
    made = body(await ask(client, bought, line_id, quantity))
    answered = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.merchant
    )
    assert answered.status_code == 200, answered.text
    return int(made["id"])


async def photo(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post(
        url, files={"file": ("p.png", png_bytes(), "image/png")}, headers=headers
    )


async def test_the_merchant_collects_the_goods_and_the_refund_clock_starts(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    rid = await approved(client, bought, bought.oil_line, 1)
    rival = await a_shop(client, session, name="别家超市")
    # Nobody but the merchant concerned collects: another merchant 404, a leader or the
    # resident 403 (no merchant permission), and nothing is stored.
    for headers, status in (
        (rival.headers, 404),
        (bought.leader.headers, 403),
        (bought.buyer.headers, 403),
    ):
        refused = await client.post(
            f"{RETURNS}/{rid}/collect", json={"condition": "intact"}, headers=headers
        )
        assert refused.status_code == status, refused.text
        uploaded = await photo(client, f"{RETURNS}/{rid}/collection-photos", headers)
        assert uploaded.status_code == status
    # Damaged needs a photo; a photo someone else uploaded is refused.
    leaders = await photo(client, f"{RETURNS}/{rid}/photos", bought.leader.headers)
    assert leaders.status_code == 201, leaders.text
    for data, code in (
        ({"condition": "damaged"}, "photo_required"),
        ({"condition": "intact", "photo_file_ids": [leaders.json()["id"]]}, "photo_not_found"),
        ({"condition": "broken"}, None),
    ):
        bad = await client.post(f"{RETURNS}/{rid}/collect", json=data, headers=bought.merchant)
        assert bad.status_code == 422, bad.text
        if code:
            assert bad.json()["error"]["code"] == code
    assert (await return_rows(app))[0].status == "approved"

    mine = await photo(client, f"{RETURNS}/{rid}/collection-photos", bought.merchant)
    assert mine.status_code == 201, mine.text
    collected_at = frozen_clock.now()
    received = body(
        await client.post(
            f"{RETURNS}/{rid}/collect",
            json={"condition": "intact", "note": "上门取回", "photo_file_ids": [mine.json()["id"]]},
            headers=bought.merchant,
        )
    )
    assert received["status"] == "received"
    assert received["received_how"] == "merchant_collected"
    assert received["photo_file_ids"] == [mine.json()["id"]]
    due = datetime.fromisoformat(received["refund_due_at"].replace("Z", "+00:00"))
    assert due == collected_at + timedelta(days=7)
    (event,) = await events(app, "protection.ReturnReceived")
    assert event["received_how"] == "merchant_collected"
    (entry,) = await audited(app, "protection.return_received")
    assert entry["received_how"] == "merchant_collected"
    # Received once: the leader (or the merchant again) cannot receive it a second time.
    again = await client.post(
        f"{RETURNS}/{rid}/receive", json={"condition": "intact"}, headers=bought.leader.headers
    )
    assert again.status_code == 409
    # The refund clock runs as for a pickup-point receipt: 7 days, then flagged.
    frozen_clock.advance(timedelta(days=7, minutes=1))
    await app.state.dispatcher.run_once()
    assert len(await events(app, "protection.ReturnRefundOverdue")) == 1
    paid = body(await client.post(f"{RETURNS}/{rid}/refund", headers=bought.merchant))
    assert (paid["status"], paid["refunded_fen"], paid["refund_overdue"]) == (
        "refunded",
        4500,
        True,
    )


async def test_the_merchant_collects_through_its_returns_page(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    rid = await approved(client, bought, bought.rice_line, 2)
    shop = bought.world.shop
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/returns")
        assert f'action="/merchant/returns/{rid}/collect"' in listing.text
        no_photo = await merchant.post(
            f"/merchant/returns/{rid}/collect", data={"csrf_token": csrf, "condition": "damaged"}
        )
        assert no_photo.status_code == 303  # back with "Attach a photo of the damage."
        assert (await return_rows(app))[0].status == "approved"
        done = await merchant.post(
            f"/merchant/returns/{rid}/collect",
            data={"csrf_token": csrf, "condition": "damaged", "note": "<i>袋子破了</i>"},
            files={"photo": ("bag.png", png_bytes(), "image/png")},
        )
        assert done.status_code == 303, done.text
        listing = await merchant.get("/merchant/returns")
        assert "Collected by the merchant" in listing.text
        assert "&lt;i&gt;袋子破了&lt;/i&gt;" in listing.text
    (row,) = await return_rows(app)
    assert (row.status, row.received_how, row.condition) == (
        "received",
        "merchant_collected",
        "damaged",
    )
    assert len(row.photo_file_ids) == 1


async def received_damaged(
    client: httpx.AsyncClient, bought: Bought, line_id: int, quantity: int
) -> int:
    rid = await approved(client, bought, line_id, quantity)
    taken = await photo(client, f"{RETURNS}/{rid}/photos", bought.leader.headers)
    assert taken.status_code == 201, taken.text
    received = await client.post(
        f"{RETURNS}/{rid}/receive",
        json={"condition": "damaged", "note": "瓶身碎裂", "photo_file_ids": [taken.json()["id"]]},
        headers=bought.leader.headers,
    )
    assert received.status_code == 200, received.text
    return rid


async def test_the_merchant_refuses_the_refund_of_goods_received_damaged(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    intact = await approved(client, bought, bought.rice_line, 1)
    body(
        await client.post(
            f"{RETURNS}/{intact}/receive",
            json={"condition": "intact"},
            headers=bought.leader.headers,
        )
    )
    damaged = await received_damaged(client, bought, bought.oil_line, 2)
    url = f"{RETURNS}/{damaged}/refuse-refund"
    # Goods received intact: the refund is due, no refusal.
    not_damaged = await client.post(
        f"{RETURNS}/{intact}/refuse-refund", json={"reason": "不想退"}, headers=bought.merchant
    )
    assert not_damaged.status_code == 409
    assert not_damaged.json()["error"]["code"] == "not_damaged"
    rival = await a_shop(client, session, name="别家超市")
    for headers, status in (
        (rival.headers, 404),
        (bought.leader.headers, 403),
        (bought.buyer.headers, 403),
    ):
        refused = await client.post(url, json={"reason": "摔坏的"}, headers=headers)
        assert refused.status_code == status, refused.text
    for bad in ({"reason": "   "}, {}, {"reason": "x" * 501}):
        wrong = await client.post(url, json=bad, headers=bought.merchant)
        assert wrong.status_code == 422, wrong.text
    assert [r.status for r in await return_rows(app)] == ["received", "received"]

    refused = body(
        await client.post(url, json={"reason": "瓶子被摔碎，非运输损坏"}, headers=bought.merchant)
    )
    assert refused["status"] == "refund_refused"
    assert refused["refusal_reason"] == "瓶子被摔碎，非运输损坏"
    assert refused["deadline"] is None
    (event,) = await events(app, "protection.ReturnRefundRefused")
    assert (event["return_id"], event["order_id"]) == (damaged, bought.order_id)
    (entry,) = await audited(app, "protection.return_refund_refused")
    assert entry["reason"] == "瓶子被摔碎，非运输损坏"
    # Refused once: neither refunded nor refused again, and the refusal is not flagged late.
    for action in ("refund", "refuse-refund"):
        again = await client.post(
            f"{RETURNS}/{damaged}/{action}", json={"reason": "再次"}, headers=bought.merchant
        )
        assert again.status_code == 409, again.text
    # The units stay with the dispute: not asked for again as a new return.
    asked = await ask(client, bought, bought.oil_line, 1)
    assert asked.status_code == 422
    assert asked.json()["error"]["code"] == "return_exceeds_collected"
    frozen_clock.advance(timedelta(days=8))
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once()
    overdue = await events(app, "protection.ReturnRefundOverdue")
    assert [e["return_id"] for e in overdue] == [intact]
    # The resident is told, with a link to complain, in the inbox and on the return page.
    async with app.state.sessionmaker() as s:
        notice = await s.scalar(
            select(Notification).where(
                Notification.user_id == bought.buyer.user.id,
                Notification.kind == "return_refund_refused",
            )
        )
    assert notice is not None
    assert notice.link == f"/protection/complaints/new?order_id={bought.order_id}"
    async with browser(app, bought.buyer.user) as (me, _csrf):
        page = await me.get("/returns")
        assert "瓶子被摔碎，非运输损坏" in page.text
        assert f'href="/protection/complaints/new?order_id={bought.order_id}"' in page.text
        complain = await me.get(f"/protection/complaints/new?order_id={bought.order_id}")
        assert complain.status_code == 200


async def test_the_merchant_refuses_through_its_returns_page(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    rid = await received_damaged(client, bought, bought.oil_line, 1)
    shop = bought.world.shop
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/returns")
        assert f'action="/merchant/returns/{rid}/refuse-refund"' in listing.text
        empty = await merchant.post(
            f"/merchant/returns/{rid}/refuse-refund", data={"csrf_token": csrf, "reason": ""}
        )
        assert empty.status_code == 303
        assert (await return_rows(app))[0].status == "received"
        done = await merchant.post(
            f"/merchant/returns/{rid}/refuse-refund",
            data={"csrf_token": csrf, "reason": "<b>人为损坏</b>"},
        )
        assert done.status_code == 303, done.text
        listing = await merchant.get("/merchant/returns")
        assert "&lt;b&gt;人为损坏&lt;/b&gt;" in listing.text
    assert (await return_rows(app))[0].status == "refund_refused"


async def test_the_resident_sees_the_receipt_condition_and_photos_of_their_return(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    rid = await received_damaged(client, bought, bought.oil_line, 1)
    (row,) = await return_rows(app)
    (file_id,) = row.photo_file_ids
    api_url = f"{RETURNS}/{rid}/photos/{file_id}"
    shown = await client.get(api_url, headers=bought.buyer.headers)
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["cache-control"] == "private, no-store"
    seen = body(await client.get(f"{RETURNS}/{rid}", headers=bought.buyer.headers))
    assert (seen["condition"], seen["condition_note"]) == ("damaged", "瓶身碎裂")
    assert seen["received_how"] == "pickup_point"
    # Someone else (here another merchant's owner), a file not of this return: 404.
    neighbour = await a_shop(client, session, name="别家超市")
    assert (await client.get(api_url, headers=neighbour.headers)).status_code == 404
    other = await photo(client, f"{RETURNS}/{rid}/photos", bought.leader.headers)
    assert other.status_code == 409  # received already: no more receipt photos
    assert (
        await client.get(f"{RETURNS}/{rid}/photos/{file_id + 1}", headers=bought.buyer.headers)
    ).status_code == 404
    page_url = f"/returns/{rid}/photos/{file_id}"
    async with browser(app, bought.buyer.user) as (me, _csrf):
        page = await me.get("/returns")
        assert 'data-condition="damaged"' in page.text
        assert "瓶身碎裂" in page.text
        assert f'<img src="{page_url}"' in page.text
        assert (await me.get(page_url)).status_code == 200
        assert (await me.get(f"/files/{file_id}")).status_code == 404  # kept for the merchant
    nosy = await make_user(session, name="邻居")
    async with browser(app, nosy) as (them, _csrf):
        assert (await them.get(page_url)).status_code == 404


async def test_receipt_photos_are_capped_per_return_and_a_leaders_do_not_fill_the_merchants_quota(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    at_point = await approved(client, bought, bought.rice_line, 1)
    leader_url = f"{RETURNS}/{at_point}/photos"
    for _ in range(returns.MAX_UPLOADS):
        taken = await photo(client, leader_url, bought.leader.headers)
        assert taken.status_code == 201, taken.text
    stored = await count(app, StoredFile)
    over = await photo(client, leader_url, bought.leader.headers)
    assert over.status_code == 422, over.text
    assert over.json()["error"]["code"] == "photo_limit_reached"
    assert str(returns.MAX_UPLOADS) in over.json()["error"]["message"]
    assert await count(app, StoredFile) == stored  # nothing kept
    # The leader's photos are kept for the merchant but count against the leader's account:
    # with room for about one photo, the merchant still uploads its own.
    async with app.state.sessionmaker() as s:
        size = await s.scalar(select(func.max(StoredFile.size)))
    assert size is not None
    monkeypatch.setattr(file_service, "ORGANISATION_QUOTA_BYTES", size * 3 // 2)
    by_merchant = await approved(client, bought, bought.oil_line, 1)
    mine = await photo(client, f"{RETURNS}/{by_merchant}/collection-photos", bought.merchant)
    assert mine.status_code == 201, mine.text
    full = await photo(client, f"{RETURNS}/{by_merchant}/collection-photos", bought.merchant)
    assert full.status_code == 413  # its own second photo is over the (tiny) quota
    assert full.json()["error"]["code"] == "upload_quota_exceeded"
