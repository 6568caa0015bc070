"""Seven-day no-reason returns from the outside: the window on the Shanghai calendar, the
merchant's 48 hours, the leader's receipt, the refund through group buying and its deadline,
who may do what, and bad input refused with nothing stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy.models import CampaignItem, Order, OrderLine
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.payments.models import PaymentRefund
from linli.protection.return_models import ReturnRequest
from tests.factories import make_token, make_user, png_bytes
from tests.groupbuy.helpers import a_shop, bearer, count, residents
from tests.payments.helpers import balances
from tests.protection.helpers import RETURNS, ask, body, collected, return_rows

# Collected on 2026-11-27 (Shanghai): the window is 11-28 .. 12-04.
DAY_7_LATE = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)  # 23:30 on 12-04 in Shanghai
DAY_8_EARLY = datetime(2026, 12, 4, 16, 10, tzinfo=UTC)  # 00:10 on 12-05 in Shanghai


async def events(app: FastAPI, name: str) -> list[dict[str, object]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == name))
        return [dict(row.payload) for row in rows]


async def inbox(app: FastAPI, user_id: int) -> set[str]:
    async with app.state.sessionmaker() as s:
        kinds = await s.scalars(select(Notification.kind).where(Notification.user_id == user_id))
        return set(kinds)


async def test_a_return_on_day_7_is_accepted_and_on_day_8_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    frozen_clock.set(DAY_7_LATE)
    accepted = await ask(client, bought, bought.rice_line, 1)
    assert accepted.status_code == 201, accepted.text
    made = accepted.json()
    assert made["status"] == "requested"
    assert made["received_on"] == "2026-11-27"
    assert made["last_day"] == "2026-12-04"
    assert (made["rule_id"], made["rule_version"]) == ("consumer.no_reason_return", 2)
    assert made["deadline"] == made["answer_due_at"]
    assert made["answer_due_at"].startswith("2026-12-06T15:30")  # 48 hours

    frozen_clock.set(DAY_8_EARLY)
    refused = await ask(client, bought, bought.oil_line, 1)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "return_window_closed"
    assert "2026-12-04" in refused.json()["error"]["fields"]["line_id"]
    assert len(await return_rows(app)) == 1  # nothing stored for the refused one
    assert len(await events(app, "protection.ReturnRequested")) == 1


async def test_unanswered_for_48_hours_the_return_is_approved_automatically(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await ask(client, bought, bought.rice_line, 2, "not_as_described"))
    frozen_clock.advance(timedelta(hours=47, minutes=59))
    await app.state.dispatcher.run_once()
    mine = body(await client.get(f"{RETURNS}/{made['id']}", headers=bought.buyer.headers))
    assert mine["status"] == "requested"
    frozen_clock.advance(timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    mine = body(await client.get(f"{RETURNS}/{made['id']}", headers=bought.buyer.headers))
    assert mine["status"] == "approved"
    assert mine["decided_automatically"] is True
    (decided,) = await events(app, "protection.ReturnDecided")
    assert decided["decision"] == "approved"
    assert decided["automatic"] is True
    assert (decided["rule_id"], decided["rule_version"]) == ("consumer.no_reason_return", 2)
    late = await client.post(
        f"{RETURNS}/{made['id']}/answer",
        json={"approve": False, "note": "太晚了"},
        headers=bought.merchant,
    )
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "already_answered"


async def test_the_whole_return_refunds_through_group_buying_and_the_books_balance(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    before = await balances(app)
    made = body(await ask(client, bought, bought.oil_line, 1))
    # The merchant sees it, nearest deadline first, and approves.
    listed = body(await client.get(f"{RETURNS}/merchant", headers=bought.merchant))
    assert [r["id"] for r in listed] == [made["id"]]
    approved = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.merchant
    )
    assert body(approved)["status"] == "approved"
    # Not refundable before the goods are back.
    early = await client.post(f"{RETURNS}/{made['id']}/refund", headers=bought.merchant)
    assert early.status_code == 409
    # The leader has it to receive, photographs the damage and records the condition.
    to_receive = body(await client.get(f"{RETURNS}/leader", headers=bought.leader.headers))
    assert [r["id"] for r in to_receive] == [made["id"]]
    no_photo = await client.post(
        f"{RETURNS}/{made['id']}/receive",
        json={"condition": "damaged"},
        headers=bought.leader.headers,
    )
    assert no_photo.status_code == 422
    assert no_photo.json()["error"]["code"] == "photo_required"
    photo = await client.post(
        f"{RETURNS}/{made['id']}/photos",
        files={"file": ("dent.png", png_bytes(), "image/png")},
        headers=bought.leader.headers,
    )
    assert photo.status_code == 201, photo.text
    received = body(
        await client.post(
            f"{RETURNS}/{made['id']}/receive",
            json={
                "condition": "damaged",
                "note": "瓶身凹陷",
                "photo_file_ids": [photo.json()["id"]],
            },
            headers=bought.leader.headers,
        )
    )
    assert received["status"] == "received"
    assert received["photo_file_ids"] == [photo.json()["id"]]

    assert received["deadline"] == received["refund_due_at"]
    # The merchant refunds: settlement and the leader's commission reversed, books balanced.
    frozen_clock.advance(timedelta(days=2))
    refunded = body(await client.post(f"{RETURNS}/{made['id']}/refund", headers=bought.merchant))
    assert refunded["status"] == "refunded"
    assert refunded["refunded_fen"] == 4500
    assert refunded["refund_overdue"] is False
    after = await balances(app)
    leader = f"leader:{bought.leader.user.id}:commission"
    merchant = f"merchant:{bought.world.shop.organisation.id}:payable"
    assert after[leader] - before[leader] == 450  # 10% of 4500 reversed
    assert after[merchant] - before[merchant] == 4500 - 450 - 4500 * 200 // 10_000
    assert sum(after.values()) == 0
    async with app.state.sessionmaker() as s:
        line = await s.get(OrderLine, bought.oil_line)
        order = await s.get(Order, bought.order_id)
        refunds = (await s.scalars(select(PaymentRefund))).all()
    assert line is not None
    assert order is not None
    assert (line.returned_qty, line.refunded_fen, order.refunded_fen) == (1, 4500, 4500)
    assert [(r.amount_fen, r.reason_code) for r in refunds] == [(4500, "return")]
    (paid,) = await events(app, "protection.ReturnRefunded")
    assert paid["amount_fen"] == 4500
    assert paid["commission_reversed_fen"] == 450
    # Asked again: the same answer, nothing paid twice.
    again = body(await client.post(f"{RETURNS}/{made['id']}/refund", headers=bought.merchant))
    assert again["refunded_fen"] == 4500
    assert await count(app, PaymentRefund) == 1
    # The refund deadline passes: nothing to flag for a refunded return.
    frozen_clock.advance(timedelta(days=8))
    await app.state.dispatcher.run_once()
    assert await events(app, "protection.ReturnRefundOverdue") == []
    # Each step reached the inbox of whom it concerns.
    await app.state.dispatcher.run_once()
    assert await inbox(app, bought.buyer.user.id) >= {
        "return_approved",
        "return_received",
        "refunded",
    }
    assert await inbox(app, bought.world.shop.owner.id) >= {"return_requested", "return_to_refund"}
    assert "return_to_receive" in await inbox(app, bought.leader.user.id)


async def test_a_refund_not_out_within_7_days_of_receipt_is_flagged_and_published(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await ask(client, bought, bought.rice_line, 3))
    body(
        await client.post(
            f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.merchant
        )
    )
    received = body(
        await client.post(
            f"{RETURNS}/{made['id']}/receive",
            json={"condition": "intact"},
            headers=bought.leader.headers,
        )
    )
    frozen_clock.advance(timedelta(days=7) - timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    assert await events(app, "protection.ReturnRefundOverdue") == []
    frozen_clock.advance(timedelta(seconds=1))
    await app.state.dispatcher.run_once()
    (overdue,) = await events(app, "protection.ReturnRefundOverdue")
    assert overdue["return_id"] == made["id"]
    assert overdue["refund_due_at"] == received["refund_due_at"]
    assert overdue["rule_version"] == 2
    mine = body(await client.get(f"{RETURNS}/{made['id']}", headers=bought.buyer.headers))
    assert mine["refund_overdue"] is True
    # Late, the refund still goes out, and says it was late.
    late = body(await client.post(f"{RETURNS}/{made['id']}/refund", headers=bought.merchant))
    assert late["refunded_fen"] == 3 * 1500
    (paid,) = await events(app, "protection.ReturnRefunded")
    assert paid["overdue"] is True
    await app.state.dispatcher.run_once()
    assert "return_refund_overdue" in await inbox(app, bought.buyer.user.id)
    assert "return_refund_overdue" in await inbox(app, bought.world.shop.owner.id)


async def test_concurrent_requests_and_refunds_never_exceed_what_was_collected(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    # Two requests for the same two bottles at once: one holds them, the other is refused.
    first, second = await asyncio.gather(
        ask(client, bought, bought.oil_line, 2), ask(client, bought, bought.oil_line, 2)
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    loser = second if second.status_code == 422 else first
    assert loser.json()["error"]["code"] == "return_exceeds_collected"
    (made,) = await return_rows(app)
    body(
        await client.post(
            f"{RETURNS}/{made.id}/answer", json={"approve": True}, headers=bought.merchant
        )
    )
    body(
        await client.post(
            f"{RETURNS}/{made.id}/receive",
            json={"condition": "intact"},
            headers=bought.leader.headers,
        )
    )
    # Two refunds at once: one pays, the other answers the refunded return.
    paid = await asyncio.gather(
        *(client.post(f"{RETURNS}/{made.id}/refund", headers=bought.merchant) for _ in range(2))
    )
    assert [p.status_code for p in paid] == [200, 200]
    assert {p.json()["refunded_fen"] for p in paid} == {9000}
    assert await count(app, PaymentRefund) == 1
    # The merchant's own refund of the same bottles finds none left.
    over = await client.post(
        f"/api/v1/groupbuy/orders/{bought.order_id}/lines/{bought.oil_line}/refund",
        json={"quantity": 1, "reason": "再退"},
        headers=bought.merchant,
    )
    assert over.status_code == 422
    assert sum((await balances(app)).values()) == 0


async def test_bad_requests_are_refused_with_the_reason_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    too_many = await ask(client, bought, bought.rice_line, 4)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "return_exceeds_collected"
    assert "quantity" in too_many.json()["error"]["fields"]
    body(await ask(client, bought, bought.rice_line, 2))
    twice = await ask(client, bought, bought.rice_line, 2)  # only one bag is left to ask for
    assert twice.status_code == 422
    assert twice.json()["error"]["code"] == "return_exceeds_collected"
    body(await ask(client, bought, bought.rice_line, 1))
    unknown_reason = await ask(client, bought, bought.oil_line, 1, "because")
    assert unknown_reason.status_code == 422
    zero = await ask(client, bought, bought.oil_line, 0)
    assert zero.status_code == 422
    # The oil is fresh food by law (as if chilled): refused, unless the goods are defective.
    async with app.state.sessionmaker() as s:
        line = await s.get(OrderLine, bought.oil_line)
        assert line is not None
        await s.execute(
            update(CampaignItem)
            .where(CampaignItem.id == line.item_id)
            .values(return_exclusion="storage:chilled")
        )
        await s.commit()
    by_law = await ask(client, bought, bought.oil_line, 1)
    assert by_law.status_code == 422
    assert by_law.json()["error"]["code"] == "excluded_by_law"
    assert "CRPL art. 25" in by_law.json()["error"]["fields"]["line_id"]
    assert len(await return_rows(app)) == 2
    defective = await ask(client, bought, bought.oil_line, 1, "defective")
    assert defective.status_code == 201, defective.text
    # Excluded because the resident confirmed it at checkout (stored on the line).
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(CampaignItem)
            .where(CampaignItem.id == line.item_id)
            .values(return_exclusion="category:custom_goods")
        )
        await s.execute(
            update(OrderLine)
            .where(OrderLine.id == bought.oil_line)
            .values(no_reason_return_excluded=True)
        )
        await s.commit()
    confirmed = await ask(client, bought, bought.oil_line, 1)
    assert confirmed.status_code == 422
    assert confirmed.json()["error"]["code"] == "excluded_at_checkout"
    assert len(await return_rows(app)) == 3
    assert len(await events(app, "protection.ReturnRequested")) == 3


async def test_nobody_else_sees_answers_or_receives_a_return(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    (other,) = await residents(session, 1)
    # Another resident's line: 404, as for a line that does not exist.
    theirs = await ask(client, bought, bought.rice_line, 1, headers=other.headers)
    assert theirs.status_code == 404
    made = body(await ask(client, bought, bought.rice_line, 1))
    assert (await client.get(f"{RETURNS}/{made['id']}", headers=other.headers)).status_code == 404
    assert body(await client.get(RETURNS, headers=other.headers)) == []
    # Another merchant neither sees nor answers it.
    rival = await a_shop(client, session, name="别家超市")
    assert body(await client.get(f"{RETURNS}/merchant", headers=rival.headers)) == []
    answered = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=rival.headers
    )
    assert answered.status_code == 404
    # A resident's token cannot answer; a merchant's cannot ask.
    as_resident = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.buyer.headers
    )
    assert as_resident.status_code == 403
    read_only = await make_token(
        session,
        bought.world.shop.owner,
        organisation=bought.world.shop.organisation,
        scopes=("org:read",),
    )
    narrowed = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bearer(read_only)
    )
    assert narrowed.status_code == 403
    rejected_without_reason = await client.post(
        f"{RETURNS}/{made['id']}/answer", json={"approve": False}, headers=bought.merchant
    )
    assert rejected_without_reason.status_code == 422
    body(
        await client.post(
            f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.merchant
        )
    )
    # The other point's leader neither sees nor receives it.
    elsewhere = bought.world.points[1].leader
    assert body(await client.get(f"{RETURNS}/leader", headers=elsewhere.headers)) == []
    wrong_point = await client.post(
        f"{RETURNS}/{made['id']}/receive", json={"condition": "intact"}, headers=elsewhere.headers
    )
    assert wrong_point.status_code == 404
    # Nor does a resident who leads nothing.
    nobody = await make_user(session, name="路人")
    token = await make_token(session, nobody, scopes=("leader",))
    stranger = await client.post(
        f"{RETURNS}/{made['id']}/receive", json={"condition": "intact"}, headers=bearer(token)
    )
    assert stranger.status_code == 404
    # Photos must be the leader's own uploads.
    foreign = await client.post(
        f"{RETURNS}/{made['id']}/receive",
        json={"condition": "intact", "photo_file_ids": [999_999]},
        headers=bought.leader.headers,
    )
    assert foreign.status_code == 422
    (row,) = await return_rows(app)
    assert row.status == "approved"


async def test_a_leader_cannot_receive_their_own_return(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """Receipt starts the merchant's refund clock: the person returning never records it."""
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await ask(client, bought, bought.rice_line, 1))
    body(
        await client.post(
            f"{RETURNS}/{made['id']}/answer", json={"approve": True}, headers=bought.merchant
        )
    )
    # The leader of the point bought these goods (arranged: the buyer's return becomes theirs).
    await session.execute(
        update(ReturnRequest)
        .where(ReturnRequest.id == made["id"])
        .values(user_id=bought.leader.user.id)
    )
    await session.commit()
    refused = await client.post(
        f"{RETURNS}/{made['id']}/receive",
        json={"condition": "intact"},
        headers=bought.leader.headers,
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "own_return")
    (row,) = await return_rows(app)
    assert row.status == "approved"
    assert row.received_at is None
