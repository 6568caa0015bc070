"""End to end through HTTP: an emergency declared, a price raised, the alert with its
evidence, a case, a penalty and its public disclosure; other authorities, the merchant and
the public see none of the regulator's data."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.events import CaseDecided
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.supervision import rule_defaults as R
from tests.factories import login
from tests.supervision.world import a_sku, a_world, alerts

API = "/api/v1/supervision"


async def test_gouging_from_declaration_to_public_penalty(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    sku = await a_sku(session, w.merchant, 1000, at=clock.now() - timedelta(days=10))
    await login(client, w.officer, organisation=w.regulator)
    declared = await client.post(
        f"{API}/emergencies",
        json={
            "title": "台风应急",
            "region_code": "310000",
            "categories": ["essentials"],
            "starts_at": clock.now().isoformat(),
            "ends_at": (clock.now() + timedelta(days=14)).isoformat(),
        },
    )
    assert declared.status_code == 201, declared.text
    public = (
        await httpx.AsyncClient(transport=client._transport, base_url="http://testserver").get(
            f"{API}/public/emergencies"
        )
    ).json()
    assert [e["title"] for e in public] == ["台风应急"]
    async with app.state.sessionmaker() as s:
        told = (
            await s.scalars(
                select(Notification).where(
                    Notification.user_id == w.owner.id, Notification.kind == "supervision_emergency"
                )
            )
        ).all()
    assert len(told) == 1

    frozen_clock.advance(timedelta(hours=1))
    owner = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await login(owner, w.owner, organisation=w.merchant)
    under = await owner.put(
        f"/api/v1/catalog/merchant/skus/{sku.id}/price", json={"price_fen": 1350}
    )
    assert under.status_code == 200, under.text
    await app.state.dispatcher.run_once()
    assert await alerts(session, R.PRICE_GOUGING) == []  # +35 %: not over
    raised = await owner.put(
        f"/api/v1/catalog/merchant/skus/{sku.id}/price", json={"price_fen": 1351}
    )
    assert raised.status_code == 200, raised.text
    await app.state.dispatcher.run_once()

    queue = await client.get(f"{API}/alerts", params={"rule_id": R.PRICE_GOUGING})
    assert queue.status_code == 200, queue.text
    (alert,) = queue.json()
    assert alert["inputs"]["reference_fen"] == 1000
    assert alert["inputs"]["price_fen"] == 1351
    assert alert["inputs"]["base"] == "sale_price"
    assert [e["role"] for e in alert["evidence"]] == ["reference", "current"]
    assert alert["evidence"][1]["new_price_fen"] == 1351

    # Nobody else reads it: another authority 404, the merchant 403, the public 401.
    far = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    await login(far, w.far_officer, organisation=w.far)
    assert (await far.get(f"{API}/alerts/{alert['id']}")).status_code == 404
    assert (await far.get(f"{API}/alerts")).json() == []
    assert (await owner.get(f"{API}/alerts/{alert['id']}")).status_code == 403
    anon = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    assert (await anon.get(f"{API}/alerts/{alert['id']}")).status_code == 401
    assert (await anon.get(f"{API}/rules")).status_code == 401

    opened = await client.post(f"{API}/cases", json={"alert_id": alert["id"], "title": "哄抬价格"})
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert case["inspector_user_id"] == w.inspector.id  # the only inspector
    assert (await far.get(f"{API}/cases/{case['id']}")).status_code == 404
    noted = await client.post(
        f"{API}/cases/{case['id']}/entries",
        data={"kind": "finding", "text": "内部：进货价未涨"},
        files={
            "file": (
                "evidence.pdf",
                b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n",
                "application/pdf",
            )
        },
    )
    assert noted.status_code == 201, noted.text
    assert noted.json()["file_id"] is not None
    bad = await client.post(
        f"{API}/cases/{case['id']}/decision",
        json={"decision": "penalty", "summary": "罚款", "penalty_fen": 0},
    )
    assert bad.status_code == 422
    assert set(bad.json()["error"]["fields"]) == {"penalty_fen", "legal_basis"}
    decided = await client.post(
        f"{API}/cases/{case['id']}/decision",
        json={
            "decision": "penalty",
            "summary": "哄抬白菜价格，罚款五万元",
            "legal_basis": "价格法第十四条",
            "penalty_fen": 5_000_000,
            "serious": False,
        },
    )
    assert decided.status_code == 200, decided.text
    assert [e["kind"] for e in decided.json()["timeline"]] == [
        "opened",
        "assigned",
        "finding",
        "decided",
    ]

    disclosed = (await anon.get(f"{API}/public/penalties")).json()
    assert disclosed == [
        {
            "case_id": case["id"],
            "authority": "上海市场监管局",
            "merchant": "浦东菜店",
            "decision": "penalty",
            "summary": "哄抬白菜价格，罚款五万元",
            "penalty_fen": 5_000_000,
            "serious": False,
            "legal_basis": "价格法第十四条",
            "decided_at": disclosed[0]["decided_at"],
        }
    ]
    async with app.state.sessionmaker() as s:
        row = await s.scalar(
            select(OutboxEvent).where(OutboxEvent.event_type == CaseDecided.event_name)
        )
    assert row is not None
    assert row.payload["penalty_fen"] == 5_000_000
    assert "进货价" not in str(row.payload)
    for c in (owner, far, anon):
        await c.aclose()


async def test_impossible_rule_parameters_are_refused_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await login(client, w.officer, organisation=w.regulator)
    bad = await client.post(
        f"{API}/rules/{R.PRICE_GOUGING}",
        json={"params": {"threshold_pct": -5, "no_reference_pct": 15}, "reason": "本地规定"},
    )
    assert bad.status_code == 422
    assert list(bad.json()["error"]["fields"]) == ["threshold_pct"]
    good = await client.post(
        f"{API}/rules/{R.PRICE_GOUGING}",
        json={"params": {"threshold_pct": 20}, "reason": "本地规定"},
    )
    assert good.status_code == 201, good.text
    assert good.json()["jurisdiction"] == "310000"
    assert good.json()["version"] == 1
    assert good.json()["params"]["threshold_pct"] == 20.0
    history = (await client.get(f"{API}/rules")).json()
    assert {
        (r["jurisdiction"], r["reason"]) for r in history if r["rule_id"] == R.PRICE_GOUGING
    } == {
        ("CN", "built-in default"),
        ("310000", "本地规定"),
    }
