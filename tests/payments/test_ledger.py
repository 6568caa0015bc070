"""The double-entry ledger: unbalanced entries are refused, the books always balance,
entries are append-only, settlement splits clearing, and who may read balances."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.payments import ledger
from linli.payments.models import LedgerEntry, LedgerPosting
from tests.factories import make_org, make_token, make_user
from tests.payments.helpers import a_merchant, balances, bearer, count, new_intent, pay

ACCOUNTS = st.sampled_from(
    [
        "cash:sandbox",
        ledger.CLEARING,
        "resident:1",
        "resident:2",
        "merchant:3:payable",
        "leader:4:commission",
        ledger.PLATFORM_REVENUE,
        ledger.REFUNDS,
    ]
)
AMOUNTS = st.integers(min_value=-(10**12), max_value=10**12).filter(lambda n: n != 0)


@st.composite
def balanced(draw: st.DrawFn) -> list[tuple[str, int]]:
    lines = draw(st.lists(st.tuples(ACCOUNTS, AMOUNTS), min_size=1, max_size=6))
    rest = -sum(amount for _code, amount in lines)
    if rest == 0:
        return [*lines, (draw(ACCOUNTS), 5), (draw(ACCOUNTS), -5)]
    return [*lines, (draw(ACCOUNTS), rest)]


@given(st.lists(st.tuples(ACCOUNTS, AMOUNTS), min_size=0, max_size=6))
def test_an_entry_is_accepted_exactly_when_it_balances(lines: list[tuple[str, int]]) -> None:
    if len(lines) >= 2 and sum(a for _c, a in lines) == 0:
        ledger.check_postings(lines)
    else:
        with pytest.raises(ledger.UnbalancedEntry):
            ledger.check_postings(lines)


@given(balanced())
def test_every_balanced_entry_is_accepted(lines: list[tuple[str, int]]) -> None:
    ledger.check_postings(lines)


@pytest.mark.parametrize(
    "lines",
    [
        [("cash:sandbox", 5), ("nowhere", -5)],
        [("cash:sandbox", 5), ("resident:x", -5)],
        [("cash:sandbox", 0), (ledger.CLEARING, 0)],
        [("cash:sandbox", True), (ledger.CLEARING, -1)],
        [("cash:sandbox", 1.0), (ledger.CLEARING, -1)],
        [("cash:sandbox", 10**16), (ledger.CLEARING, -(10**16))],
        [("cash:sandbox", 5)],
    ],
)
def test_malformed_entries_are_refused(lines: list[tuple[str, int]]) -> None:
    with pytest.raises(ledger.UnbalancedEntry):
        ledger.check_postings(lines)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(entries=st.lists(st.one_of(balanced(), st.lists(st.tuples(ACCOUNTS, AMOUNTS))), max_size=4))
async def test_the_trial_balance_stays_zero_whatever_is_posted(
    app: FastAPI, entries: list[list[tuple[str, int]]]
) -> None:
    async with app.state.sessionmaker() as s:
        for lines in entries:
            try:
                async with s.begin():
                    await ledger.post(s, "test", uuid.uuid4().hex, lines)
            except ledger.UnbalancedEntry:
                pass
        result = await ledger.trial_balance(s)
        assert result.total == 0
        for code, total in result.accounts.items():
            assert await ledger.balance(s, code) == total


async def test_post_refuses_unbalanced_and_repeated_entries_and_keeps_them_unchanged(
    app: FastAPI,
) -> None:
    async with app.state.sessionmaker() as s:
        with pytest.raises(ledger.UnbalancedEntry):
            await ledger.post(s, "test", "r1", [("cash:sandbox", 10), (ledger.CLEARING, -9)])
        await s.rollback()
        async with s.begin():
            entry_id = await ledger.post(
                s, "test", "r1", [("cash:sandbox", 10), (ledger.CLEARING, -10)]
            )
        with pytest.raises(IntegrityError):
            async with s.begin():
                await ledger.post(s, "test", "r1", [("cash:sandbox", 1), (ledger.CLEARING, -1)])
    assert await count(app, LedgerEntry) == 1
    assert await count(app, LedgerPosting) == 2
    async with app.state.sessionmaker() as s:
        posting = await s.scalar(select(LedgerPosting).where(LedgerPosting.entry_id == entry_id))
        assert posting is not None
        posting.amount_fen = 99
        with pytest.raises(RuntimeError, match="append-only"):
            await s.flush()
        await s.rollback()
        entry = await s.get(LedgerEntry, entry_id)
        await s.delete(entry)
        with pytest.raises(RuntimeError, match="append-only"):
            await s.flush()
    assert (await balances(app))["cash:sandbox"] == 10


async def test_settlement_splits_clearing_and_balances(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner, shop = await a_merchant(session)
    payer = await make_user(session)
    leader = await make_user(session, name="团长")
    intent = await new_intent(app, payer, shop, 10000, reference="order-1")
    await pay(client, app.state.settings, intent)
    async with app.state.sessionmaker() as s, s.begin():
        with pytest.raises(ledger.UnbalancedEntry):
            await ledger.settle(
                s, "order-1", amount_fen=10000, merchant_organisation_id=shop.id, merchant_fen=1
            )
        with pytest.raises(ledger.UnbalancedEntry):
            await ledger.settle(
                s,
                "order-1",
                amount_fen=10000,
                merchant_organisation_id=shop.id,
                merchant_fen=9000,
                leader_fen=1000,
            )
        await ledger.settle(
            s,
            "order-1",
            amount_fen=10000,
            merchant_organisation_id=shop.id,
            merchant_fen=8800,
            leader_user_id=leader.id,
            leader_fen=500,
            platform_fen=700,
        )
    assert await balances(app) == {
        "cash:sandbox": 10000,
        ledger.CLEARING: 0,
        f"resident:{payer.id}": 0,
        f"merchant:{shop.id}:payable": -8800,
        f"leader:{leader.id}:commission": -500,
        ledger.PLATFORM_REVENUE: -700,
    }

    as_owner = bearer(await make_token(session, owner, organisation=shop))
    mine = await client.get("/api/v1/payments/merchant/balance", headers=as_owner)
    assert mine.json() == {"organisation_id": shop.id, "payable_fen": 8800}
    as_payer = bearer(await make_token(session, payer))
    assert (
        await client.get("/api/v1/payments/merchant/balance", headers=as_payer)
    ).status_code == 403
    trial = "/api/v1/payments/ledger/trial-balance"
    assert (await client.get(trial, headers=as_owner)).status_code == 403
    assert (await client.get(trial)).status_code == 401

    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    as_operator = bearer(await make_token(session, operator, organisation=platform))
    shown = await client.get(trial, headers=as_operator)
    assert shown.status_code == 200
    assert shown.json()["total"] == 0
    assert shown.json()["accounts"][ledger.PLATFORM_REVENUE] == -700
    account = await client.get(
        f"/api/v1/payments/ledger/accounts/merchant:{shop.id}:payable", headers=as_operator
    )
    assert account.json() == {"code": f"merchant:{shop.id}:payable", "balance_fen": -8800}
    for bad in ("nowhere", "cash:", "resident:abc", "x" * 101, "CASH:SANDBOX"):
        response = await client.get(f"/api/v1/payments/ledger/accounts/{bad}", headers=as_operator)
        assert response.status_code == 422, (bad, response.text)
    callbacks = await client.get("/api/v1/payments/callbacks", headers=as_operator)
    assert [c["outcome"] for c in callbacks.json()] == ["applied"]
    assert (await client.get("/api/v1/payments/callbacks", headers=as_owner)).status_code == 403
