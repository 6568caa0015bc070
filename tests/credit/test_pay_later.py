"""Pick up first, pay later (docs/pay-later.md): qualifying by grade, the limit from the
score, the limit under concurrent checkouts (both databases), bills, reminders, overdue with
the clock (score drops, facility suspended), repayment on time (+2), refunds lowering the
bill, the ledger balancing throughout, and nobody seeing another resident's bills."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit import pay_later
from linli.credit.models import CreditRecord
from linli.credit.pay_later_models import PayLaterAccount, PayLaterBill, PayLaterCharge
from linli.errors import Conflict
from linli.groupbuy.models import Order
from linli.notifications.models import Notification
from linli.payments import providers
from linli.payments import service as payments_service
from linli.payments.models import PaymentIntent
from linli.rules.defaults import DEFAULT_RULES
from tests.credit.helpers import CREDIT, publish, uncollected
from tests.factories import PASSWORD, form_login, make_org, make_token, make_user
from tests.groupbuy.helpers import (
    ORDERS,
    Resident,
    a_pickup_point,
    a_shop,
    bearer,
    item,
    listed_sku,
    live_in,
    new_key,
    pay,
    published_campaign,
    residents,
)
from tests.payments.helpers import balances

PAY_LATER = f"{CREDIT}/pay-later"
RULE = next(r for r in DEFAULT_RULES if r["rule_id"] == "credit.pay_later")["values"]
PRICE = 20_000  # ¥200 an item: three of them exceed the ¥500 limit of a new resident


async def world(
    client: httpx.AsyncClient,
    session: AsyncSession,
    n: int = 1,
    *,
    limit: int = 5,
    min_group: int = 1,
) -> tuple[dict[str, Any], int, list[Resident]]:
    shop = await a_shop(client, session)
    sku = await listed_sku(client, shop, price_fen=PRICE)
    campaign = await published_campaign(
        client,
        shop,
        item(sku, group_price_fen=PRICE, per_resident_limit=limit, min_group_qty=min_group),
    )
    point = await a_pickup_point(session)
    people = await residents(session, n)
    for person in people:
        await live_in(session, person.user, point)
    await make_org(session, "platform", owner=await make_user(session, name="运营"), name="邻里")
    await session.commit()
    return campaign, campaign["items"][0]["id"], people


def a_charge(user_id: int, amount_fen: int = 100) -> providers.DeferredCharge:
    return providers.DeferredCharge(
        intent_id=10**6,
        public_id="00000000-0000-0000-0000-000000000000",
        payer_user_id=user_id,
        payee_organisation_id=1,
        purpose="groupbuy_order",
        reference="1",
        amount_fen=amount_fen,
    )


async def checkout(
    client: httpx.AsyncClient, who: Resident, campaign_id: int, item_id: int, qty: int = 1
) -> httpx.Response:
    return await client.post(
        ORDERS,
        json={
            "campaign_id": campaign_id,
            "lines": [{"item_id": item_id, "quantity": qty}],
            "pay_later": True,
        },
        headers=who.headers | {"Idempotency-Key": new_key()},
    )


async def opened(client: httpx.AsyncClient, who: Resident) -> dict[str, Any]:
    response = await client.post(f"{PAY_LATER}/open", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def facility(client: httpx.AsyncClient, who: Resident) -> dict[str, Any]:
    response = await client.get(PAY_LATER, headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def pay_bill(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, who: Resident, bill_id: int
) -> dict[str, Any]:
    asked = await client.post(f"{PAY_LATER}/bills/{bill_id}/pay", headers=who.headers)
    assert asked.status_code == 200, asked.text
    payment: dict[str, Any] = asked.json()
    await pay(client, settings, payment)  # the sandbox's signed notification
    await app.state.dispatcher.run_once(jobs=False)
    return payment


def test_the_rule_bands_and_dates() -> None:
    rule = pay_later.PayLaterRule.of(1, RULE)
    assert [rule.band_limit(s) for s in (1000, 850, 849, 750, 600, 599, 0)] == [
        200_000,
        200_000,
        100_000,
        100_000,
        50_000,
        0,
        0,
    ]
    from datetime import UTC, datetime

    dates = pay_later.bill_dates(rule, datetime(2026, 12, 31, 17, 0, tzinfo=UTC))  # Jan 1 local
    assert dates.period == "2027-01"
    assert dates.due_date.isoformat() == "2027-02-10"
    assert dates.overdue_at - dates.due_at == timedelta(days=3)


async def test_qualifying_needs_the_grade_and_the_limit_follows_the_score(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    _campaign, _item, (good, poor) = await world(client, session, 2)
    await publish(app, uncollected(poor.user.id))  # 600 - 30 = 570: grade B
    before = await facility(client, good)
    assert (before["opened"], before["qualifies"], before["limit_fen"]) == (False, True, 50_000)

    body = await opened(client, good)
    assert (body["state"], body["limit_fen"], body["available_fen"]) == ("active", 50_000, 50_000)
    again = await opened(client, good)  # idempotent
    assert again["state"] == "active"

    refused = await client.post(f"{PAY_LATER}/open", headers=poor.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "pay_later_not_qualified"
    async with app.state.sessionmaker() as s:
        assert (
            await s.scalar(select(PayLaterAccount).where(PayLaterAccount.user_id == poor.user.id))
            is None
        )
        score = await s.scalar(
            select(PayLaterAccount.limit_fen).where(PayLaterAccount.user_id == good.user.id)
        )
    assert score == 50_000


async def test_checkout_on_credit_is_refused_without_a_facility_or_over_the_limit(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id, (who,) = await world(client, session)
    no_facility = await checkout(client, who, campaign["id"], item_id)
    assert no_facility.status_code == 409
    assert no_facility.json()["error"]["code"] == "pay_later_not_open"
    await opened(client, who)
    too_much = await checkout(client, who, campaign["id"], item_id, qty=3)  # ¥600 > ¥500
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "pay_later_limit_exceeded"
    bad = await client.post(
        ORDERS,
        json={
            "campaign_id": campaign["id"],
            "lines": [{"item_id": item_id, "quantity": 1}],
            "pay_later": "yes",
        },
        headers=who.headers | {"Idempotency-Key": new_key()},
    )
    assert bad.status_code == 422
    async with app.state.sessionmaker() as s:
        assert (await s.scalars(select(Order))).all() == []  # nothing of the refusals stayed
        assert (await s.scalars(select(PayLaterCharge))).all() == []

    placed = await checkout(client, who, campaign["id"], item_id, qty=2)
    assert placed.status_code == 201, placed.text
    payment = placed.json()["payment"]
    assert (payment["status"], payment["amount_fen"]) == ("succeeded", 40_000)
    await app.state.dispatcher.run_once(jobs=False)
    async with app.state.sessionmaker() as s:
        order = await s.get(Order, placed.json()["order"]["id"])
        assert order is not None
        assert order.status == "paid"
    state = await facility(client, who)
    assert (state["used_fen"], state["available_fen"]) == (40_000, 10_000)
    (bill,) = state["bills"]
    assert (bill["period"], bill["due_date"], bill["amount_fen"]) == (
        "2026-11",
        "2026-12-10",
        40_000,
    )
    ledger = await balances(app)
    assert ledger["cash:pay_later"] == 40_000  # what the resident owes
    assert sum(ledger.values()) == 0


@pytest.mark.parametrize("attempts", [6])
async def test_concurrent_checkouts_never_exceed_the_limit(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    frozen_clock: FrozenClock,
    attempts: int,
) -> None:
    campaign, item_id, (who,) = await world(client, session, limit=attempts)
    await opened(client, who)
    results = await asyncio.gather(
        *(checkout(client, who, campaign["id"], item_id) for _ in range(attempts))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201] + [409] * (attempts - 2), [r.text for r in results]
    refused = {r.json()["error"]["code"] for r in results if r.status_code == 409}
    assert refused == {"pay_later_limit_exceeded"}
    async with app.state.sessionmaker() as s:
        account = await s.scalar(select(PayLaterAccount))
        charges = (await s.scalars(select(PayLaterCharge))).all()
        bills = (await s.scalars(select(PayLaterBill))).all()
    assert account is not None
    assert account.used_fen == 2 * PRICE <= account.limit_fen
    assert sum(c.amount_fen for c in charges) == 2 * PRICE
    assert [b.amount_fen for b in bills] == [2 * PRICE]


async def test_an_overdue_bill_lowers_the_score_and_suspends_the_facility(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id, (who,) = await world(client, session)
    await opened(client, who)
    placed = await checkout(client, who, campaign["id"], item_id)
    assert placed.status_code == 201, placed.text
    await app.state.dispatcher.run_once(jobs=False)
    (bill,) = (await facility(client, who))["bills"]

    frozen_clock.advance(timedelta(days=11, hours=1))  # 2026-12-07 11:00 Shanghai: reminder
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once(jobs=False)
    async with app.state.sessionmaker() as s:
        kinds = list(
            await s.scalars(select(Notification.kind).where(Notification.user_id == who.user.id))
        )
    assert "pay_later_due_soon" in kinds
    assert (await facility(client, who))["state"] == "active"

    frozen_clock.advance(timedelta(days=4))  # 12-11: past the due date, within grace
    await app.state.dispatcher.run_once()
    assert (await facility(client, who))["bills"][0]["status"] == "open"

    frozen_clock.advance(timedelta(days=3))  # 12-14 11:00: due date + 3 grace days passed
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once(jobs=False)
    state = await facility(client, who)
    assert state["state"] == "suspended"
    assert state["bills"][0]["status"] == "overdue"
    assert state["available_fen"] == 0
    async with app.state.sessionmaker() as s:
        records = (
            await s.scalars(select(CreditRecord).where(CreditRecord.subject_id == who.user.id))
        ).all()
        kinds = list(
            await s.scalars(select(Notification.kind).where(Notification.user_id == who.user.id))
        )
    assert [(r.kind, r.weight, r.reference) for r in records] == [
        ("pay_later_overdue", -80, f"bill:{bill['id']}")
    ]
    assert "pay_later_overdue" in kinds
    me = (await client.get(f"{CREDIT}/me", headers=who.headers)).json()
    assert me["score"] == 520
    async with app.state.sessionmaker() as s:  # (the campaign has closed: asked directly)
        with pytest.raises(Conflict) as refused:
            await pay_later.PayLaterDeferredAccount().charge(s, a_charge(who.user.id))
    assert refused.value.code == "pay_later_suspended"

    # paying the overdue bill reactivates the facility (rule), with no on-time credit
    await pay_bill(app, client, settings, who, bill["id"])
    state = await facility(client, who)
    assert state["state"] == "active"
    assert state["bills"][0]["status"] == "paid"
    assert state["qualifies"] is False  # grade B now: orders on credit wait for the grade
    async with app.state.sessionmaker() as s:
        kinds = list(
            await s.scalars(select(CreditRecord.kind).where(CreditRecord.subject_id == who.user.id))
        )
    assert kinds == ["pay_later_overdue"]
    ledger = await balances(app)
    assert ledger.get("cash:pay_later", 0) == 0
    assert ledger["cash:sandbox"] == PRICE
    assert sum(ledger.values()) == 0


async def test_a_bill_repaid_on_time_counts_and_the_ledger_balances_after_a_refund(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id, (who,) = await world(client, session)
    await opened(client, who)
    placed = await checkout(client, who, campaign["id"], item_id, qty=2)
    assert placed.status_code == 201, placed.text
    await app.state.dispatcher.run_once(jobs=False)

    # one of the two is refunded (as a failed group or a return would): no money is sent,
    # the bill is lowered
    async with app.state.sessionmaker() as s:
        intent = await s.scalar(select(PaymentIntent).where(PaymentIntent.provider == "pay_later"))
        assert intent is not None
        from linli.authz import Actor
        from linli.payments.reasons import RefundReason

        await payments_service.refund(
            s,
            Actor.for_system(),
            intent.id,
            PRICE,
            "group failed",
            reason_code=RefundReason.GROUP_FAILED,
        )
        await s.commit()
    await app.state.dispatcher.run_once(jobs=False)
    state = await facility(client, who)
    (bill,) = state["bills"]
    assert (bill["amount_fen"], bill["outstanding_fen"], state["used_fen"]) == (PRICE, PRICE, PRICE)
    ledger = await balances(app)
    assert ledger["cash:pay_later"] == PRICE
    assert ledger.get("cash:sandbox", 0) == 0  # nothing paid out
    assert sum(ledger.values()) == 0

    frozen_clock.advance(timedelta(days=13))  # 12-09: before the due date
    await pay_bill(app, client, settings, who, bill["id"])
    state = await facility(client, who)
    assert state["bills"][0]["status"] == "paid"
    assert (state["used_fen"], state["available_fen"]) == (0, 50_000)
    async with app.state.sessionmaker() as s:
        records = (
            await s.scalars(select(CreditRecord).where(CreditRecord.subject_id == who.user.id))
        ).all()
        jobs_done = await s.scalar(select(PayLaterBill.status))
    assert [(r.kind, r.weight) for r in records] == [("pay_later_repaid", 2)]
    assert jobs_done == "paid"
    ledger = await balances(app)
    assert ledger.get("cash:pay_later", 0) == 0
    assert ledger["cash:sandbox"] == PRICE
    assert sum(ledger.values()) == 0
    settled = await client.post(f"{PAY_LATER}/bills/{bill['id']}/pay", headers=who.headers)
    assert settled.status_code == 409
    assert settled.json()["error"]["code"] == "bill_settled"
    frozen_clock.advance(timedelta(days=10))  # the overdue job finds it paid: nothing happens
    await app.state.dispatcher.run_once()
    assert (await facility(client, who))["state"] == "active"


async def test_nobody_sees_or_pays_another_residents_bill(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id, (who, other) = await world(client, session, 2)
    await opened(client, who)
    assert (await checkout(client, who, campaign["id"], item_id)).status_code == 201
    (bill,) = (await facility(client, who))["bills"]
    assert (await facility(client, other))["bills"] == []
    for method, path in (
        ("GET", f"{PAY_LATER}/bills/{bill['id']}"),
        ("POST", f"{PAY_LATER}/bills/{bill['id']}/pay"),
    ):
        response = await client.request(method, path, headers=other.headers)
        assert response.status_code == 404, response.text
    assert (
        await client.get(f"{PAY_LATER}/bills/{bill['id']}", headers=who.headers)
    ).status_code == 200
    assert (await client.get(f"{PAY_LATER}/bills/0", headers=who.headers)).status_code == 422
    assert (await client.get(f"{PAY_LATER}/bills/abc", headers=who.headers)).status_code == 422
    assert (await client.get(PAY_LATER)).status_code == 401
    async with app.state.sessionmaker() as s:
        assert (
            await s.scalars(select(PaymentIntent).where(PaymentIntent.purpose == "pay_later_bill"))
        ).all() == []


async def test_bills_are_in_my_export_and_an_unpaid_one_keeps_the_account_open(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    user = await make_user(session)
    headers = bearer(await make_token(session, user, scopes=("account", "resident")))
    now = frozen_clock.now()
    session.add(
        PayLaterBill(
            user_id=user.id,
            period="2026-11",
            due_date="2026-12-10",
            due_at=now + timedelta(days=15),
            overdue_at=now + timedelta(days=18),
            amount_fen=12_345,
            paid_fen=0,
            status="open",
            rule_version=1,
            created_at=now,
        )
    )
    await session.commit()
    exported = await client.get("/api/v1/privacy/export", headers=headers)
    assert exported.status_code == 200, exported.text
    (bill,) = exported.json()["sections"]["pay_later"]["bills"]
    assert (bill["period"], bill["amount_fen"], bill["status"]) == ("2026-11", 12_345, "open")

    closing = await client.post(
        "/api/v1/privacy/close-account",
        json={"password": PASSWORD, "confirm": True},
        headers=headers,
    )
    assert closing.status_code == 409, closing.text
    assert closing.json()["error"]["code"] == "open_obligations"
    assert (
        "pay-later bill for 2026-11 has ¥123.45 left to pay" in closing.json()["error"]["message"]
    )


async def test_the_pages_open_the_facility_order_on_credit_and_pay_the_bill_in_both_languages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id, (who,) = await world(client, session)
    csrf = await form_login(client, who.user.phone)
    page = await client.get("/credit/pay-later")
    assert page.status_code == 200
    assert "Open pay later" in page.text
    assert "¥500.00" in page.text
    opened_ = await client.post("/credit/pay-later/open", data={"csrf_token": csrf})
    assert opened_.status_code == 303
    ordered = await client.post(
        "/groupbuy/order",
        data={
            "csrf_token": csrf,
            "campaign_id": str(campaign["id"]),
            f"qty_{item_id}": "1",
            "pay_later": "on",
            "order_key": "page-order-key-1",
        },
    )
    assert ordered.status_code == 303, ordered.text
    assert ordered.headers["location"] == "/groupbuy/orders"
    await app.state.dispatcher.run_once(jobs=False)
    zh = await client.get("/credit/pay-later", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200
    assert "先提后付" in zh.text
    assert "¥200.00" in zh.text
    async with app.state.sessionmaker() as s:
        bill = await s.scalar(select(PayLaterBill))
    assert bill is not None
    assert bill.amount_fen == PRICE
    paying = await client.post(f"/credit/pay-later/bills/{bill.id}/pay", data={"csrf_token": csrf})
    assert paying.status_code == 303
    assert paying.headers["location"].startswith("/pay/")
    no_csrf = await client.post(f"/credit/pay-later/bills/{bill.id}/pay")
    assert no_csrf.status_code in (400, 403)


async def test_only_a_domains_own_payments_go_to_the_platform(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    """A resident's `direct` payment may not be made to the platform (only a pay-later bill's
    repayment is), so no one can pose as paying a bill."""
    _campaign, _item, (who,) = await world(client, session)
    async with app.state.sessionmaker() as s:
        platform = await s.scalar(select(Organisation.id).where(Organisation.kind == "platform"))
    response = await client.post(
        "/api/v1/payments/intents",
        json={
            "payee_organisation_id": platform,
            "reference": "bill",
            "amount_fen": 100,
            "idempotency_key": "direct-to-platform-1",
        },
        headers=who.headers,
    )
    assert response.status_code == 422, response.text
    assert "payee_organisation_id" in response.json()["error"]["fields"]


async def test_a_failed_group_lowers_the_bill_instead_of_sending_money(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    campaign, item_id, (who,) = await world(client, session, min_group=5)
    await opened(client, who)
    assert (await checkout(client, who, campaign["id"], item_id, qty=2)).status_code == 201
    await app.state.dispatcher.run_once(jobs=False)
    frozen_clock.advance(timedelta(days=1, minutes=1))  # past the cut-off: the group failed
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once(jobs=False)
    state = await facility(client, who)
    (bill,) = state["bills"]
    assert (bill["amount_fen"], bill["status"], state["used_fen"]) == (0, "paid", 0)
    assert [c["refunded_fen"] for c in bill["charges"]] == [2 * PRICE]
    ledger = await balances(app)
    assert ledger.get("cash:pay_later", 0) == 0
    assert ledger.get("cash:sandbox", 0) == 0  # no money moved at all
    assert sum(ledger.values()) == 0
    async with app.state.sessionmaker() as s:
        kinds = list(await s.scalars(select(CreditRecord.kind)))
    assert "pay_later_repaid" not in kinds  # emptied by a refund is no repayment


async def test_one_open_payment_per_bill_and_one_repayment_credit_per_bill(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    campaign, item_id, (who,) = await world(client, session)
    await opened(client, who)
    assert (await checkout(client, who, campaign["id"], item_id)).status_code == 201
    await app.state.dispatcher.run_once(jobs=False)
    (bill,) = (await facility(client, who))["bills"]
    ask = f"{PAY_LATER}/bills/{bill['id']}/pay"
    first = (await client.post(ask, headers=who.headers)).json()
    assert (await client.post(ask, headers=who.headers)).json()["public_id"] == first["public_id"]
    # a new charge changes what is owed: the first payment is closed, one for the new total
    assert (await checkout(client, who, campaign["id"], item_id)).status_code == 201
    await app.state.dispatcher.run_once(jobs=False)
    second = await pay_bill(app, client, settings, who, bill["id"])
    assert second["amount_fen"] == 2 * PRICE != first["amount_fen"]
    async with app.state.sessionmaker() as s:
        closed = await s.scalar(
            select(PaymentIntent.status).where(PaymentIntent.public_id == first["public_id"])
        )
    assert closed == "cancelled"
    state = await facility(client, who)
    assert (state["bills"][0]["status"], state["used_fen"]) == ("paid", 0)
    # a charge reopens the month's paid bill; settling it again earns no second credit
    assert (await checkout(client, who, campaign["id"], item_id)).status_code == 201
    await app.state.dispatcher.run_once(jobs=False)
    assert (await facility(client, who))["bills"][0]["status"] == "open"
    await pay_bill(app, client, settings, who, bill["id"])
    state = await facility(client, who)
    assert (state["bills"][0]["status"], state["bills"][0]["outstanding_fen"]) == ("paid", 0)
    assert state["used_fen"] == 0
    async with app.state.sessionmaker() as s:
        kinds = list(
            await s.scalars(select(CreditRecord.kind).where(CreditRecord.subject_id == who.user.id))
        )
    assert kinds == ["pay_later_repaid"]
    ledger = await balances(app)
    assert ledger.get("cash:pay_later", 0) == 0
    assert ledger["cash:sandbox"] == 3 * PRICE
    assert sum(ledger.values()) == 0


async def test_an_overdue_bill_emptied_by_a_refund_lifts_the_suspension(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    from linli.authz import Actor
    from linli.payments.reasons import RefundReason

    campaign, item_id, (who,) = await world(client, session)
    await opened(client, who)
    assert (await checkout(client, who, campaign["id"], item_id)).status_code == 201
    await app.state.dispatcher.run_once(jobs=False)
    frozen_clock.advance(timedelta(days=18, hours=1))  # past the due date and the grace days
    await app.state.dispatcher.run_once()
    await app.state.dispatcher.run_once(jobs=False)
    assert (await facility(client, who))["state"] == "suspended"
    async with app.state.sessionmaker() as s:
        intent = await s.scalar(select(PaymentIntent).where(PaymentIntent.provider == "pay_later"))
        assert intent is not None
        await payments_service.refund(
            s, Actor.for_system(), intent.id, PRICE, "returned", reason_code=RefundReason.RETURN
        )
        await s.commit()
    await app.state.dispatcher.run_once(jobs=False)
    state = await facility(client, who)
    assert (state["state"], state["bills"][0]["status"], state["used_fen"]) == ("active", "paid", 0)
