"""A refund the payment provider refuses changes nothing in group buying: the collected units
stay collected, the settlement and the leader's commission stay booked, the order's totals
stay; the refusal itself is on record, and the next attempt (with a fresh idempotency key)
goes through. For the merchant's refund of collected goods, a return's refund and a recall."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.errors import Conflict
from linli.groupbuy import lines
from linli.groupbuy.models import Commission, Order, OrderLine
from linli.payments.models import PaymentRefund
from linli.payments.providers import RefundResult, SandboxProvider
from tests.groupbuy.helpers import count
from tests.payments.helpers import balances
from tests.protection.helpers import RETURNS, Bought, ask, body, collected

API = "/api/v1/groupbuy"


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox provider refuses every refund until `allow()` is called."""
    state = {"refuse": True}
    real = SandboxProvider.refund

    async def refund(self: SandboxProvider, intent: Any, row: Any) -> RefundResult:
        if state["refuse"]:
            return RefundResult(status="failed", message="账户异常")
        return await real(self, intent, row)

    monkeypatch.setattr(SandboxProvider, "refund", refund)

    class Switch:
        @staticmethod
        def allow() -> None:
            state["refuse"] = False

    return Switch


async def snapshot(app: FastAPI, bought: Bought) -> tuple[Any, ...]:
    """Everything a refund would move in group buying and the books."""
    async with app.state.sessionmaker() as s:
        line_rows = (
            await s.scalars(
                select(OrderLine)
                .where(OrderLine.order_id == bought.order_id)
                .order_by(OrderLine.id)
            )
        ).all()
        order = await s.get(Order, bought.order_id)
        assert order is not None
        reversals = await s.scalar(
            select(func.count()).select_from(Commission).where(Commission.kind == "reversal")
        )
        moved = (
            [(r.id, r.returned_qty, r.refunded_fen) for r in line_rows],
            (order.status, order.refunded_fen, order.cancel_reason),
            reversals,
        )
    return (*moved, await balances(app))


async def refunds(app: FastAPI) -> list[tuple[int, str, str | None]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.scalars(select(PaymentRefund).order_by(PaymentRefund.id))).all()
        return [(r.amount_fen, r.status, r.idempotency_key) for r in rows]


async def test_a_refused_refund_of_collected_goods_leaves_line_settlement_and_ledger(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    refusing: Any,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    before = await snapshot(app, bought)
    url = f"{API}/orders/{bought.order_id}/lines/{bought.oil_line}/refund"
    refused = await client.post(
        url, json={"quantity": 1, "reason": "瓶子漏油"}, headers=bought.merchant
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "refund_failed"
    assert "账户异常" in refused.json()["error"]["message"]
    assert await snapshot(app, bought) == before
    (failed,) = await refunds(app)
    assert failed[:2] == (4500, "failed")  # the refusal is on record
    # Asked again, refused again: still nothing moved (and no refusal is taken for a refund).
    again = await client.post(
        url, json={"quantity": 1, "reason": "瓶子漏油"}, headers=bought.merchant
    )
    assert again.status_code == 409
    assert await snapshot(app, bought) == before

    refusing.allow()
    done = await client.post(
        url, json={"quantity": 1, "reason": "瓶子漏油"}, headers=bought.merchant
    )
    assert done.status_code == 200, done.text
    assert done.json()["amount_fen"] == 4500
    after = await snapshot(app, bought)
    oil = next(row for row in after[0] if row[0] == bought.oil_line)
    assert oil[1:] == (1, 4500)
    assert after[2] == before[2] + 1
    keys = [key for _, status, key in await refunds(app) if status == "succeeded"]
    assert len(keys) == 1
    assert keys[0] is not None
    assert keys[0].endswith("#3")  # two refused attempts before it, each under its own key


async def test_a_refused_return_refund_leaves_the_return_received_and_nothing_moved(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    refusing: Any,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    made = body(await ask(client, bought, bought.rice_line, 2))
    rid = made["id"]
    body(
        await client.post(
            f"{RETURNS}/{rid}/answer", json={"approve": True}, headers=bought.merchant
        )
    )
    body(
        await client.post(
            f"{RETURNS}/{rid}/receive", json={"condition": "intact"}, headers=bought.leader.headers
        )
    )
    before = await snapshot(app, bought)
    refused = await client.post(f"{RETURNS}/{rid}/refund", headers=bought.merchant)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "refund_failed"
    assert await snapshot(app, bought) == before
    seen = body(await client.get(f"{RETURNS}/{rid}", headers=bought.buyer.headers))
    assert (seen["status"], seen["refunded_fen"]) == ("received", 0)

    refusing.allow()
    refunded = body(await client.post(f"{RETURNS}/{rid}/refund", headers=bought.merchant))
    assert (refunded["status"], refunded["refunded_fen"]) == ("refunded", 3000)
    assert [(a, s) for a, s, _ in await refunds(app)] == [(3000, "failed"), (3000, "succeeded")]


async def test_a_refused_recall_refund_leaves_the_line_and_the_order(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    refusing: Any,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    before = await snapshot(app, bought)
    async with app.state.sessionmaker() as s:
        with pytest.raises(Conflict) as refused:
            await lines.recall_line(
                s, bought.rice_line, refund=True, note="召回", key="recall-test-rice"
            )
        assert refused.value.code == "refund_failed"
        assert refused.value.keep_changes
        await s.commit()  # what the request would do: keep the refusal on record
    assert await snapshot(app, bought) == before
    assert await count(app, PaymentRefund) == 1

    refusing.allow()
    async with app.state.sessionmaker() as s:
        outcome = await lines.recall_line(
            s, bought.rice_line, refund=True, note="召回", key="recall-test-rice"
        )
        await s.commit()
    assert outcome.refunded_fen == 4500
    after = await snapshot(app, bought)
    rice = next(row for row in after[0] if row[0] == bought.rice_line)
    assert rice[1:] == (3, 4500)
    assert after[2] == before[2] + 1
