"""Quality claims from the outside: the fresh-produce 48 hours and the defect window on the
clock, the merchant's 24 hours and the escalation, refund without return (in part, too)
through group buying with the books balanced, racing claims and returns, who may do what,
bad input refused with nothing stored, and abuse flags an operator reviews."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.config import Settings
from linli.groupbuy import lines
from linli.groupbuy.models import CampaignItem, Order, OrderLine
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.payments import ledger
from linli.payments.models import PaymentRefund
from linli.protection import personal_data as claims_personal_data
from linli.protection.claim_models import ClaimAbuseFlag, QualityClaim
from linli.protection.claims import Pattern
from linli.rules.models import RuleVersion
from tests.factories import grant, make_org, make_token, make_user
from tests.files.test_service import GPS_IFD, jpeg_with_location
from tests.groupbuy.helpers import a_shop, bearer, count, residents
from tests.payments.helpers import balances
from tests.protection.helpers import (
    CLAIMS,
    ask,
    body,
    claim_photo,
    collected,
    file_claim,
)


async def events(app: FastAPI, name: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == name).order_by(OutboxEvent.seq)
        )
        return [dict(row.payload) for row in rows]


async def inbox(app: FastAPI, user_id: int) -> set[str]:
    async with app.state.sessionmaker() as s:
        kinds = await s.scalars(select(Notification.kind).where(Notification.user_id == user_id))
        return set(kinds)


async def claim_rows(app: FastAPI) -> list[QualityClaim]:
    async with app.state.sessionmaker() as s:
        return list((await s.scalars(select(QualityClaim).order_by(QualityClaim.id))).all())


async def line_of(app: FastAPI, line_id: int) -> OrderLine:
    async with app.state.sessionmaker() as s:
        line = await s.get(OrderLine, line_id)
        assert isinstance(line, OrderLine)
        return line


async def fresh(app: FastAPI, line_id: int) -> None:
    """The line's goods are fresh produce (chilled), as the catalogue stores it."""
    async with app.state.sessionmaker() as s:
        line = await s.get(OrderLine, line_id)
        assert line is not None
        await s.execute(
            update(CampaignItem)
            .where(CampaignItem.id == line.item_id)
            .values(return_exclusion="storage:chilled")
        )
        await s.commit()


async def operator(session: AsyncSession) -> dict[str, str]:
    return (await operator_and_id(session))[0]


async def operator_and_id(session: AsyncSession) -> tuple[dict[str, str], int]:
    user = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=user, role="operator")
    return bearer(await make_token(session, user, organisation=platform)), user.id


def decide(
    client: httpx.AsyncClient,
    claim_id: int,
    headers: dict[str, str],
    *,
    uphold: bool,
    amount_fen: int | None = None,
    note: str = "",
    platform: bool = False,
) -> Any:
    payload: dict[str, Any] = {"uphold": uphold, "note": note}
    if amount_fen is not None:
        payload["amount_fen"] = amount_fen
    path = "platform-decision" if platform else "decide"
    return client.post(f"{CLAIMS}/{claim_id}/{path}", json=payload, headers=headers)


async def test_a_fresh_produce_claim_at_47_hours_is_accepted_and_at_49_refused(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    picked_up = frozen_clock.now()
    await fresh(app, bought.rice_line)
    await fresh(app, bought.oil_line)
    frozen_clock.set(picked_up + timedelta(hours=47))
    accepted = await file_claim(client, bought, bought.rice_line, 1, reason="fresh_quality")
    assert accepted.status_code == 201, accepted.text
    made = accepted.json()
    assert made["status"] == "filed"
    assert (made["rule_id"], made["rule_version"]) == ("consumer.quality_claim", 1)
    assert made["requested_fen"] == 1500  # nothing said: the units' whole price
    assert made["claim_by"] == (picked_up + timedelta(hours=48)).isoformat().replace("+00:00", "Z")
    assert made["deadline"] == made["decision_due_at"]
    frozen_clock.set(picked_up + timedelta(hours=49))
    photo = body(await claim_photo(client, bought, bought.oil_line))
    refused = await file_claim(
        client, bought, bought.oil_line, 1, reason="fresh_quality", photos=[photo["id"]]
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "claim_window_closed"
    assert "line_id" in refused.json()["error"]["fields"]
    assert len(await claim_rows(app)) == 1
    assert (await line_of(app, bought.oil_line)).claimed_qty == 0
    # Defective goods (CRPL art. 24) are not held to the 48 hours, nor to the 7-day return
    # window: the rule's 15 days.
    frozen_clock.set(picked_up + timedelta(days=10))
    defective = await file_claim(
        client, bought, bought.oil_line, 1, reason="defective", photos=[photo["id"]]
    )
    assert defective.status_code == 201, defective.text
    frozen_clock.set(picked_up + timedelta(days=15, seconds=1))
    late = await file_claim(client, bought, bought.oil_line, 1, reason="defective")
    assert late.json()["error"]["code"] == "claim_window_closed"
    assert len(await claim_rows(app)) == 2


async def test_a_claim_upheld_in_part_refunds_without_return_and_the_books_balance(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    before = await balances(app)
    made = body(await file_claim(client, bought, bought.oil_line, 1, amount_fen=3000))
    assert made["requested_fen"] == 3000
    listed = body(await client.get(f"{CLAIMS}/merchant", headers=bought.merchant))
    assert [c["id"] for c in listed] == [made["id"]]
    # The merchant sees the photo (its metadata stripped on upload); so does the resident.
    (photo_id,) = made["photo_file_ids"]
    seen = await client.get(f"{CLAIMS}/{made['id']}/photos/{photo_id}", headers=bought.merchant)
    assert seen.status_code == 200
    assert seen.headers["content-type"] == "image/png"
    # More than asked for: refused.
    over = await decide(client, made["id"], bought.merchant, uphold=True, amount_fen=3001)
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "amount_above_claim"
    upheld = body(await decide(client, made["id"], bought.merchant, uphold=True, amount_fen=2000))
    assert upheld["status"] == "refunded"
    assert upheld["outcome"] == "partly"
    assert upheld["refunded_fen"] == 2000
    after = await balances(app)
    leader = f"leader:{bought.leader.user.id}:commission"
    merchant = f"merchant:{bought.world.shop.organisation.id}:payable"
    assert after[leader] - before[leader] == 200  # 10% of 2000 reversed
    assert after[merchant] - before[merchant] == 2000 - 200 - 2000 * 200 // 10_000
    assert sum(after.values()) == 0
    line = await line_of(app, bought.oil_line)
    assert (line.returned_qty, line.claimed_qty) == (0, 1)  # kept by the resident
    assert (line.refunded_fen, line.claim_refunded_fen) == (2000, 2000)
    async with app.state.sessionmaker() as s:
        order = await s.get(Order, bought.order_id)
        refunds = (await s.scalars(select(PaymentRefund))).all()
    assert order is not None
    assert order.refunded_fen == 2000
    assert [(r.amount_fen, r.reason_code) for r in refunds] == [(2000, "quality_claim")]
    (decided,) = await events(app, "protection.QualityClaimDecided")
    assert (decided["outcome"], decided["amount_fen"], decided["decided_by"]) == (
        "partly",
        2000,
        "merchant",
    )
    assert (decided["rule_id"], decided["rule_version"]) == ("consumer.quality_claim", 1)
    (paid,) = await events(app, "protection.QualityClaimRefunded")
    assert (paid["amount_fen"], paid["commission_reversed_fen"]) == (2000, 200)
    # Decided once: again is a conflict, nothing paid twice.
    again = await decide(client, made["id"], bought.merchant, uphold=True)
    assert again.status_code == 409
    assert await count(app, PaymentRefund) == 1
    # The claimed bottle is kept: only the other one can still be returned.
    assert (await ask(client, bought, bought.oil_line, 2)).status_code == 422
    assert (await ask(client, bought, bought.oil_line, 1)).status_code == 201
    # Each step reached the inbox of whom it concerns; the audit names the rule version.
    await app.state.dispatcher.run_once()
    assert await inbox(app, bought.buyer.user.id) >= {"claim_filed", "claim_upheld", "refunded"}
    assert "claim_filed" in await inbox(app, bought.world.shop.owner.id)
    async with app.state.sessionmaker() as s:
        audited = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "protection.claim_upheld")
            )
        ).one()
    assert audited.details["rule_version"] == 1
    assert audited.details["amount_fen"] == 2000


async def test_undecided_for_24_hours_the_claim_goes_to_the_platform(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    ops, operator_id = await operator_and_id(session)
    made = body(await file_claim(client, bought, bought.rice_line, 2))
    frozen_clock.advance(timedelta(hours=23, minutes=59))
    await app.state.dispatcher.run_once()
    assert (
        body(await client.get(f"{CLAIMS}/{made['id']}", headers=bought.buyer.headers))["status"]
        == "filed"
    )
    frozen_clock.advance(timedelta(minutes=1))
    await app.state.dispatcher.run_once()
    mine = body(await client.get(f"{CLAIMS}/{made['id']}", headers=bought.buyer.headers))
    assert (mine["status"], mine["escalation_cause"]) == ("escalated", "timeout")
    (escalated,) = await events(app, "protection.QualityClaimEscalated")
    assert (escalated["cause"], escalated["rule_version"]) == ("timeout", 1)
    late = await decide(client, made["id"], bought.merchant, uphold=False, note="太晚")
    assert late.status_code == 409
    queue = body(await client.get(f"{CLAIMS}/escalated", headers=ops))
    assert [c["id"] for c in queue] == [made["id"]]
    upheld = body(await decide(client, made["id"], ops, uphold=True, platform=True))
    assert (upheld["status"], upheld["outcome"], upheld["decided_by"]) == (
        "refunded",
        "upheld",
        "platform",
    )
    assert upheld["refunded_fen"] == 3000
    assert sum((await balances(app)).values()) == 0
    await app.state.dispatcher.run_once()
    assert "claim_escalated" in await inbox(app, bought.world.shop.owner.id)
    assert "claim_decided_by_platform" in await inbox(app, bought.world.shop.owner.id)
    assert "claim_escalated" in await inbox(app, operator_id)
    assert {"claim_escalated", "claim_upheld"} <= await inbox(app, bought.buyer.user.id)
    # The resident's data export carries the claim, and an open claim no longer holds
    # the account open once it is refunded.
    async with app.state.sessionmaker() as s:
        exported = await claims_personal_data.export_claims(s, bought.buyer.user.id)
        still_open = await claims_personal_data.open_cases(s, bought.buyer.user.id)
    assert [(c["id"], c["status"], c["refunded_fen"]) for c in exported] == [
        (made["id"], "refunded", 3000)
    ]
    assert still_open == []


async def test_a_rejection_the_resident_takes_to_the_platform(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    ops = await operator(session)
    made = body(await file_claim(client, bought, bought.rice_line, 3))
    no_reason = await decide(client, made["id"], bought.merchant, uphold=False)
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["code"] == "reason_required"
    rejected = body(
        await decide(client, made["id"], bought.merchant, uphold=False, note="照片不清楚")
    )
    assert rejected["status"] == "rejected"
    assert rejected["deadline"] == rejected["escalate_by"]
    assert (await line_of(app, bought.rice_line)).claimed_qty == 0  # released
    # Only the resident escalates their own claim; the platform cannot decide it before.
    early = await decide(client, made["id"], ops, uphold=True, platform=True)
    assert early.status_code == 409
    (other,) = await residents(session, 1)
    theirs = await client.post(
        f"{CLAIMS}/{made['id']}/escalate", json={"note": "x"}, headers=other.headers
    )
    assert theirs.status_code == 404
    escalated = body(
        await client.post(
            f"{CLAIMS}/{made['id']}/escalate",
            json={"note": "明明坏了"},
            headers=bought.buyer.headers,
        )
    )
    assert (escalated["status"], escalated["escalation_cause"]) == ("escalated", "resident")
    assert (await line_of(app, bought.rice_line)).claimed_qty == 3  # held again
    closed = body(
        await decide(client, made["id"], ops, uphold=False, note="证据不足", platform=True)
    )
    assert (closed["status"], closed["outcome"], closed["merchant_note"]) == (
        "closed",
        "rejected",
        "照片不清楚",
    )
    assert (await line_of(app, bought.rice_line)).claimed_qty == 0
    assert await count(app, PaymentRefund) == 0
    outcomes = [
        (e["outcome"], e["decided_by"]) for e in await events(app, "protection.QualityClaimDecided")
    ]
    assert outcomes == [("rejected", "merchant"), ("rejected", "platform")]
    # Once final, no more escalation.
    again = await client.post(
        f"{CLAIMS}/{made['id']}/escalate", json={}, headers=bought.buyer.headers
    )
    assert again.status_code == 409
    await app.state.dispatcher.run_once()
    assert "claim_rejected" in await inbox(app, bought.buyer.user.id)


async def test_the_escalation_of_a_rejection_closes_after_the_rule_days(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await file_claim(client, bought, bought.rice_line, 1))
    body(await decide(client, made["id"], bought.merchant, uphold=False, note="不是质量问题"))
    frozen_clock.advance(timedelta(days=7, seconds=1))
    late = await client.post(
        f"{CLAIMS}/{made['id']}/escalate", json={}, headers=bought.buyer.headers
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "escalation_window_closed")


async def test_racing_claims_and_returns_never_refund_more_than_was_paid(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    photos = [body(await claim_photo(client, bought, bought.oil_line))["id"] for _ in range(2)]
    # Two claims for the same two bottles at once: one holds them, the other is refused.
    first, second = await asyncio.gather(
        file_claim(client, bought, bought.oil_line, 2, photos=[photos[0]]),
        file_claim(client, bought, bought.oil_line, 2, photos=[photos[1]]),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    loser = second if second.status_code == 422 else first
    assert loser.json()["error"]["code"] == "claim_exceeds_collected"
    winner = (first if first.status_code == 201 else second).json()
    # A claim and a return for the same three bags at once: one of them gets them.
    rice_photo = body(await claim_photo(client, bought, bought.rice_line))["id"]
    claimed, returned = await asyncio.gather(
        file_claim(client, bought, bought.rice_line, 3, photos=[rice_photo]),
        ask(client, bought, bought.rice_line, 3),
    )
    assert sorted([claimed.status_code, returned.status_code]) == [201, 422]
    # Two decisions at once: one refunds, the other finds it decided.
    paid = await asyncio.gather(
        *(decide(client, winner["id"], bought.merchant, uphold=True) for _ in range(2))
    )
    assert sorted(p.status_code for p in paid) == [200, 409]
    assert await count(app, PaymentRefund) == 1
    line = await line_of(app, bought.oil_line)
    assert line.refunded_fen == 9000 == line.amount_fen
    # The merchant's own refund of the same bottles finds none left.
    over = await client.post(
        f"/api/v1/groupbuy/orders/{bought.order_id}/lines/{bought.oil_line}/refund",
        json={"quantity": 1, "reason": "再退"},
        headers=bought.merchant,
    )
    assert over.status_code == 422
    assert sum((await balances(app)).values()) == 0


async def test_a_claim_never_asks_for_more_than_is_left_refundable(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    # The merchant refunded one bag already (taken back): two are left, 3000 fen.
    refunded = await client.post(
        f"/api/v1/groupbuy/orders/{bought.order_id}/lines/{bought.rice_line}/refund",
        json={"quantity": 1, "reason": "破损"},
        headers=bought.merchant,
    )
    assert refunded.status_code < 300, refunded.text
    three = await file_claim(client, bought, bought.rice_line, 3)
    assert three.json()["error"]["code"] == "claim_exceeds_collected"
    above = await file_claim(client, bought, bought.rice_line, 2, amount_fen=3001)
    assert (above.status_code, above.json()["error"]["code"]) == (422, "amount_above_cap")
    assert "3000" in above.json()["error"]["fields"]["amount_fen"]
    first = body(await file_claim(client, bought, bought.rice_line, 1, amount_fen=1000))
    second = body(await file_claim(client, bought, bought.rice_line, 1))
    assert second["requested_fen"] == 1500
    for made in (first, second):
        body(await decide(client, made["id"], bought.merchant, uphold=True))
    line = await line_of(app, bought.rice_line)
    assert (line.refunded_fen, line.amount_fen) == (1500 + 1000 + 1500, 4500)
    nothing = await file_claim(client, bought, bought.rice_line, 1)
    assert nothing.json()["error"]["code"] == "claim_exceeds_collected"
    assert sum((await balances(app)).values()) == 0


async def test_bad_claims_are_refused_with_the_reason_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    (other,) = await residents(session, 1)

    async def refused(response: httpx.Response, code: str, field: str | None = None) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        if field is not None:
            assert field in response.json()["error"]["fields"]

    photo = body(await claim_photo(client, bought, bought.oil_line))["id"]
    await refused(await file_claim(client, bought, bought.oil_line, 1, photos=[]), "photo_required")
    await refused(
        await file_claim(client, bought, bought.oil_line, 1, photos=[999_999]), "photo_not_found"
    )
    await refused(
        await file_claim(client, bought, bought.oil_line, 3, photos=[photo]),
        "claim_exceeds_collected",
        "quantity",
    )
    await refused(
        await file_claim(client, bought, bought.oil_line, 1, amount_fen=4501, photos=[photo]),
        "amount_above_cap",
        "amount_fen",
    )
    await refused(
        await file_claim(
            client, bought, bought.oil_line, 1, reason="fresh_quality", photos=[photo]
        ),
        "not_fresh_produce",
        "reason_code",
    )
    # Someone else's line: 404, as for a line that does not exist (and no photo for it).
    other_photo = await claim_photo(client, bought, bought.oil_line, headers=other.headers)
    assert other_photo.status_code == 404
    stranger = await file_claim(
        client, bought, bought.oil_line, 1, photos=[photo], headers=other.headers
    )
    assert stranger.status_code == 404
    # Not collected.
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(OrderLine).where(OrderLine.id == bought.oil_line).values(picked_qty=0)
        )
        await s.commit()
    await refused(
        await file_claim(client, bought, bought.oil_line, 1, photos=[photo]), "not_collected"
    )
    async with app.state.sessionmaker() as s:
        await s.execute(
            update(OrderLine).where(OrderLine.id == bought.oil_line).values(picked_qty=2)
        )
        await s.commit()
    # Schema: no description, zero units, an unknown reason.
    for bad in (
        {"line_id": bought.oil_line, "quantity": 1, "reason_code": "defective", "description": ""},
        {"line_id": bought.oil_line, "quantity": 0, "reason_code": "defective", "description": "x"},
        {"line_id": bought.oil_line, "quantity": 1, "reason_code": "meh", "description": "x"},
    ):
        answer = await client.post(
            CLAIMS, json={**bad, "photo_file_ids": [photo]}, headers=bought.buyer.headers
        )
        assert answer.status_code == 422
    assert await claim_rows(app) == []
    assert (await line_of(app, bought.oil_line)).claimed_qty == 0
    # Twice for the same units: the second is refused.
    body(await file_claim(client, bought, bought.oil_line, 2, photos=[photo]))
    await refused(
        await file_claim(client, bought, bought.oil_line, 1, photos=[photo]),
        "claim_exceeds_collected",
    )
    assert len(await claim_rows(app)) == 1
    assert len(await events(app, "protection.QualityClaimFiled")) == 1


async def test_nobody_else_reads_or_decides_a_claim(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await file_claim(client, bought, bought.rice_line, 1))
    (photo_id,) = made["photo_file_ids"]
    (other,) = await residents(session, 1)
    rival = await a_shop(client, session, name="别家超市")
    leader = bought.leader.headers
    # 404 for those who may read claims (as for a missing one); the leader's token carries
    # no scope that reads claims at all: 403.
    for headers, status in ((other.headers, 404), (rival.headers, 404), (leader, 403)):
        seen = await client.get(f"{CLAIMS}/{made['id']}", headers=headers)
        assert seen.status_code == status, seen.text
        photo = await client.get(f"{CLAIMS}/{made['id']}/photos/{photo_id}", headers=headers)
        assert photo.status_code == status
    assert body(await client.get(CLAIMS, headers=other.headers)) == []
    assert body(await client.get(f"{CLAIMS}/merchant", headers=rival.headers)) == []
    assert (await decide(client, made["id"], rival.headers, uphold=True)).status_code == 404
    # A resident's or a leader's token cannot decide; nor a read-only merchant token.
    for headers in (bought.buyer.headers, leader, other.headers):
        assert (await decide(client, made["id"], headers, uphold=True)).status_code == 403
        assert (
            await decide(client, made["id"], headers, uphold=True, platform=True)
        ).status_code == 403
        assert (await client.get(f"{CLAIMS}/escalated", headers=headers)).status_code == 403
        assert (await client.get(f"{CLAIMS}/flags", headers=headers)).status_code == 403
    read_only = await make_token(
        session,
        bought.world.shop.owner,
        organisation=bought.world.shop.organisation,
        scopes=("org:read",),
    )
    narrowed = await decide(client, made["id"], bearer(read_only), uphold=True)
    assert narrowed.status_code == 403
    # The merchant is not the platform.
    as_platform = await decide(client, made["id"], bought.merchant, uphold=True, platform=True)
    assert as_platform.status_code == 403
    # The merchant's staff decide, but only those who may refund uphold (money goes out).
    staff = await make_user(session, name="店员")
    await grant(session, bought.world.shop.organisation, staff, "staff")
    staff_token = bearer(
        await make_token(session, staff, organisation=bought.world.shop.organisation)
    )
    assert body(await client.get(f"{CLAIMS}/merchant", headers=staff_token))[0]["id"] == made["id"]
    no_refund = await decide(client, made["id"], staff_token, uphold=True)
    assert no_refund.status_code == 403
    (row,) = await claim_rows(app)
    assert row.status == "filed"
    assert await count(app, PaymentRefund) == 0
    rejected = body(await decide(client, made["id"], staff_token, uphold=False, note="非质量问题"))
    assert rejected["status"] == "rejected"


async def test_a_claim_pattern_far_above_the_community_is_flagged_for_an_operator(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    ops, operator_id = await operator_and_id(session)
    # A version 2 of the rule, with a low bar: 2 claims, at least the community's rate.
    async with app.state.sessionmaker() as s:
        first = (
            await s.scalars(
                select(RuleVersion).where(RuleVersion.rule_id == "consumer.quality_claim")
            )
        ).one()
        s.add(
            RuleVersion(
                rule_id=first.rule_id,
                version=2,
                jurisdiction=first.jurisdiction,
                title=first.title,
                legal_basis=first.legal_basis,
                effective_from=clock.now() - timedelta(seconds=1),
                values={**first.values, "abuse_min_claims": 2, "abuse_rate_multiple": 1},
                created_at=clock.now(),
            )
        )
        await s.commit()
    body(await file_claim(client, bought, bought.rice_line, 1))
    assert await events(app, "protection.ClaimAbuseFlagged") == []
    second = body(await file_claim(client, bought, bought.oil_line, 1))
    assert second["rule_version"] == 2
    (flagged,) = await events(app, "protection.ClaimAbuseFlagged")
    assert (flagged["user_id"], flagged["claims"], flagged["rule_version"]) == (
        bought.buyer.user.id,
        2,
        2,
    )
    assert flagged["resident_rate_bp"] >= flagged["community_rate_bp"]
    # Never punished automatically: the resident still claims; no second flag while open.
    body(await file_claim(client, bought, bought.rice_line, 1))
    assert len(await events(app, "protection.ClaimAbuseFlagged")) == 1
    (flag,) = body(await client.get(f"{CLAIMS}/flags", headers=ops))
    history = body(await client.get(f"{CLAIMS}/residents/{bought.buyer.user.id}", headers=ops))
    assert len(history) == 3
    no_reason = await client.post(
        f"{CLAIMS}/flags/{flag['id']}/review", json={"confirm": False, "reason": ""}, headers=ops
    )
    assert no_reason.status_code == 422
    dismissed = body(
        await client.post(
            f"{CLAIMS}/flags/{flag['id']}/review",
            json={"confirm": False, "reason": "家里有老人, 确实坏了"},
            headers=ops,
        )
    )
    assert (dismissed["status"], dismissed["review_reason"]) == (
        "dismissed",
        "家里有老人, 确实坏了",
    )
    twice = await client.post(
        f"{CLAIMS}/flags/{flag['id']}/review", json={"confirm": True, "reason": "x"}, headers=ops
    )
    assert twice.status_code == 409
    assert await events(app, "protection.ClaimAbuseConfirmed") == []
    # The next claim raises a new flag; this one the operator confirms.
    body(await file_claim(client, bought, bought.oil_line, 1))
    async with app.state.sessionmaker() as s:
        open_flag = (
            await s.scalars(select(ClaimAbuseFlag).where(ClaimAbuseFlag.status == "open"))
        ).one()
    body(
        await client.post(
            f"{CLAIMS}/flags/{open_flag.id}/review",
            json={"confirm": True, "reason": "多次索赔无实据"},
            headers=ops,
        )
    )
    (confirmed,) = await events(app, "protection.ClaimAbuseConfirmed")
    assert (confirmed["user_id"], confirmed["reason"]) == (bought.buyer.user.id, "多次索赔无实据")
    async with app.state.sessionmaker() as s:
        reviews = await s.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.action == "protection.claim_abuse_reviewed"
            )
        )
    assert reviews == 2
    await app.state.dispatcher.run_once()
    assert "claim_abuse_flagged" in await inbox(app, operator_id)


def test_the_pattern_needs_the_claims_and_the_multiple_of_the_community_rate() -> None:
    values = {"abuse_min_claims": 3, "abuse_rate_multiple": 3}
    far_above = Pattern(3, 4, 7500, 5, 200, 250)
    assert far_above.holds(values)
    too_few = Pattern(2, 2, 10_000, 4, 200, 200)
    assert not too_few.holds(values)
    like_the_rest = Pattern(3, 4, 7500, 60, 200, 3000)
    assert not like_the_rest.holds(values)


async def test_a_recall_after_an_upheld_claim_refunds_the_rest_and_clearing_ends_even(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    before = await balances(app)
    made = body(await file_claim(client, bought, bought.oil_line, 1, amount_fen=2000))
    body(await decide(client, made["id"], bought.merchant, uphold=True))
    open_claim = body(await file_claim(client, bought, bought.oil_line, 1))
    # The batch is recalled: everything still paid for the line goes back.
    async with app.state.sessionmaker() as s:
        outcome = await lines.recall_line(
            s, bought.oil_line, refund=True, note="召回", key="recall-test"
        )
        await s.commit()
    assert outcome.refunded_fen == 9000 - 2000
    after = await balances(app)
    leader = f"leader:{bought.leader.user.id}:commission"
    assert after[ledger.CLEARING] == before[ledger.CLEARING]  # all that came back went out
    assert after[leader] - before[leader] == 900  # the whole 10% on 9000 reversed, once
    line = await line_of(app, bought.oil_line)
    assert line.refunded_fen == line.amount_fen == 9000
    # The open claim finds nothing left to refund: a conflict, nothing paid.
    late = await decide(client, open_claim["id"], bought.merchant, uphold=True)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "nothing_left_to_refund")
    # Rejected, its bottle is not returnable nor claimable again: it was refunded by the
    # recall.
    body(await decide(client, open_claim["id"], bought.merchant, uphold=False, note="已召回退款"))
    line = await line_of(app, bought.oil_line)
    assert (line.returned_qty, line.claimed_qty) == (1, 1)
    again = await ask(client, bought, bought.oil_line, 1)
    assert (again.status_code, again.json()["error"]["code"]) == (422, "return_exceeds_collected")
    assert sum((await balances(app)).values()) == 0


async def test_a_claim_photo_reaches_the_merchant_without_its_location(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    photo = jpeg_with_location()
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(GPS_IFD)
    uploaded = await client.post(
        f"{CLAIMS}/photos",
        data={"line_id": str(bought.rice_line)},
        files={"file": ("米.jpg", photo, "image/jpeg")},
        headers=bought.buyer.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    made = body(
        await file_claim(client, bought, bought.rice_line, 1, photos=[uploaded.json()["id"]])
    )
    served = await client.get(
        f"{CLAIMS}/{made['id']}/photos/{uploaded.json()['id']}", headers=bought.merchant
    )
    assert served.status_code == 200
    exif = Image.open(io.BytesIO(served.content)).getexif()
    assert not exif.get_ifd(GPS_IFD)
    assert 0x010F not in exif  # the phone's make
    # Not an image: refused at the upload, nothing stored.
    text = await client.post(
        f"{CLAIMS}/photos",
        data={"line_id": str(bought.rice_line)},
        files={"file": ("a.txt", b"hello", "text/plain")},
        headers=bought.buyer.headers,
    )
    assert text.status_code == 422
