"""Cases through the API: assignment (least loaded, round robin, never a conflicted
inspector), only the assigned inspector works a case, decisions checked, the rectification
deadline watched by a due job; emergencies inside the jurisdiction only, merchants in scope
told; the gouging rule's lower threshold without a pre-emergency price."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.catalog.models import PriceChange
from linli.clock import FrozenClock
from linli.events import RectificationFulfilled, RectificationOverdue
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.supervision import rule_defaults as R
from linli.supervision import rule_gouging
from linli.supervision.case_models import Case
from tests.factories import grant, login, make_merchant, make_user
from tests.supervision.world import a_sku, a_world, alerts

API = "/api/v1/supervision"


def _client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


async def _events(app: FastAPI, name: str) -> list[dict[str, object]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == name))
        return [r.payload for r in rows.all()]


async def test_assignment_strategies_and_conflicts(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    second = await make_user(session, name="检查员二")
    await grant(session, w.regulator, second, "inspector")
    await login(client, w.officer, organisation=w.regulator)
    report = {"organisation_id": w.merchant.id, "title": "举报"}
    first_case = (await client.post(f"{API}/cases", json=report)).json()
    assert first_case["inspector_user_id"] == w.inspector.id  # both idle: the lower id
    second_case = (await client.post(f"{API}/cases", json=report)).json()
    assert second_case["inspector_user_id"] == second.id  # least loaded
    robin = (await client.post(f"{API}/cases", json={**report, "strategy": "round_robin"})).json()
    assert robin["inspector_user_id"] == w.inspector.id  # after `second`, back to the first

    declared = await client.post(
        f"{API}/conflicts",
        json={
            "inspector_user_id": w.inspector.id,
            "merchant_organisation_id": w.merchant.id,
            "reason": "亲属经营",
        },
    )
    assert declared.status_code == 201, declared.text
    for _ in range(3):
        case = (await client.post(f"{API}/cases", json=report)).json()
        assert case["inspector_user_id"] == second.id
    refused = await client.post(
        f"{API}/cases/{case['id']}/assign", json={"inspector_user_id": w.inspector.id}
    )
    assert refused.status_code == 422
    assert list(refused.json()["error"]["fields"]) == ["inspector_user_id"]

    # Only the assigned inspector writes on a case; the other gets 403.
    other = _client(client)
    await login(other, w.inspector, organisation=w.regulator)
    denied = await other.post(
        f"{API}/cases/{case['id']}/entries", data={"kind": "finding", "text": "x"}
    )
    assert denied.status_code == 403
    assigned = _client(client)
    await login(assigned, second, organisation=w.regulator)
    written = await assigned.post(
        f"{API}/cases/{case['id']}/entries", data={"kind": "task", "text": "现场检查"}
    )
    assert written.status_code == 201, written.text
    bad_file = await assigned.post(
        f"{API}/cases/{case['id']}/entries",
        data={"kind": "finding", "text": "x"},
        files={"file": ("x.exe", b"MZ\x90\x00 not a document", "application/pdf")},
    )
    assert bad_file.status_code in (415, 422), bad_file.text
    # an inspector cannot decide
    assert (
        await assigned.post(
            f"{API}/cases/{case['id']}/decision", json={"decision": "warning", "summary": "x"}
        )
    ).status_code == 403
    # a report about a merchant outside the jurisdiction is not found
    far = _client(client)
    await login(far, w.far_officer, organisation=w.far)
    assert (await far.post(f"{API}/cases", json=report)).status_code == 404
    for c in (other, assigned, far):
        await c.aclose()


async def test_rectification_deadline_and_fulfilment(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await login(client, w.officer, organisation=w.regulator)
    report = {"organisation_id": w.merchant.id, "title": "未明码标价"}
    late = (await client.post(f"{API}/cases", json=report)).json()
    on_time = (await client.post(f"{API}/cases", json=report)).json()
    past = await client.post(
        f"{API}/cases/{late['id']}/decision",
        json={
            "decision": "rectify",
            "summary": "限期整改",
            "legal_basis": "明码标价和禁止价格欺诈规定 第5条",
            "rectify_by": (clock.now() - timedelta(hours=1)).isoformat(),
        },
    )
    assert past.status_code == 422
    assert list(past.json()["error"]["fields"]) == ["rectify_by"]
    deadline = clock.now() + timedelta(days=7)
    for case in (late, on_time):
        decided = await client.post(
            f"{API}/cases/{case['id']}/decision",
            json={
                "decision": "rectify",
                "summary": "限期整改",
                "legal_basis": "明码标价和禁止价格欺诈规定 第5条",
                "rectify_by": deadline.isoformat(),
            },
        )
        assert decided.json()["status"] == "rectifying"
    fulfilled = await client.post(f"{API}/cases/{on_time['id']}/rectified", json={"note": "已复查"})
    assert fulfilled.json()["status"] == "closed"
    frozen_clock.advance(timedelta(days=6, hours=23))
    await app.state.dispatcher.run_once()
    assert await _events(app, RectificationOverdue.event_name) == []
    frozen_clock.advance(timedelta(hours=2))
    await app.state.dispatcher.run_once()
    (overdue,) = await _events(app, RectificationOverdue.event_name)
    assert overdue["case_id"] == late["id"]
    await session.rollback()
    row = await session.get(Case, late["id"])
    assert row is not None
    assert row.status == "overdue"
    (done,) = await _events(app, RectificationFulfilled.event_name)
    assert done["case_id"] == on_time["id"]
    assert done["on_time"] is True


async def test_emergency_scope_and_the_lower_threshold_without_a_reference(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    other_owner = await make_user(session, name="外地店主")
    elsewhere = await make_merchant(session, other_owner, name="杭州店")
    elsewhere.province_code, elsewhere.city_code = "330000", "330100"
    await session.commit()
    await a_sku(session, elsewhere, 500, at=clock.now() - timedelta(days=3))
    await login(client, w.officer, organisation=w.regulator)
    window = {
        "starts_at": clock.now().isoformat(),
        "ends_at": (clock.now() + timedelta(days=7)).isoformat(),
    }
    outside = await client.post(
        f"{API}/emergencies",
        json={"title": "疫情", "region_code": "330100", "categories": ["fresh_food"], **window},
    )
    assert outside.status_code == 422
    assert list(outside.json()["error"]["fields"]) == ["region_code"]
    unknown = await client.post(
        f"{API}/emergencies",
        json={"title": "疫情", "region_code": "310100", "categories": ["nope"], **window},
    )
    assert list(unknown.json()["error"]["fields"]) == ["categories"]
    declared = await client.post(
        f"{API}/emergencies",
        json={"title": "疫情", "region_code": "310100", "categories": ["fresh_food"], **window},
    )
    assert declared.status_code == 201, declared.text
    await session.rollback()
    told = await session.scalars(
        select(Notification.user_id).where(Notification.kind == "supervision_emergency")
    )
    assert told.all() == []  # the Shanghai merchant has no product yet; Hangzhou is outside

    # A SKU first priced during the emergency: 15 % over its first price.
    frozen_clock.advance(timedelta(hours=1))
    sku = await a_sku(session, w.merchant, 1000)
    sku_id = sku.id
    assert not await rule_gouging.price_gouging(session, sku.id, 1150)
    assert await rule_gouging.price_gouging(session, sku.id, 1151)
    await session.commit()
    (alert,) = await alerts(session, R.PRICE_GOUGING)
    assert alert.inputs["reference_basis"] == "first_price_in_emergency"
    assert alert.inputs["threshold_pct"] == 15.0
    assert (alert.count, alert.summary) == (
        1,
        "大白菜 1KG: +15.1 % over 1000 fen (first_price_in_emergency)",
    )
    raised = await _events(app, "supervision.AlertRaised")
    assert [e["alert_id"] for e in raised] == [alert.id]
    # The same price judged again (an event delivered twice): nothing more.
    assert not await rule_gouging.price_gouging(session, sku.id, 1151)
    # A new price of the same SKU merges into the open alert, citing its price row once.
    frozen_clock.advance(timedelta(minutes=5))
    raised_to = PriceChange(
        sku_id=sku.id,
        old_price_fen=1000,
        new_price_fen=1300,
        changed_at=clock.now(),
        organisation_id=w.merchant.id,
        source="edit",
    )
    session.add(raised_to)
    await session.flush()
    raised_id = raised_to.id
    await session.commit()
    assert await rule_gouging.price_gouging(session, sku.id, 1300)
    assert not await rule_gouging.price_gouging(session, sku.id, 1300)
    await session.commit()
    session.expire_all()  # the merge is a Core UPDATE: the alert read above is stale
    (alert,) = await alerts(session, R.PRICE_GOUGING)
    assert alert.count == 2
    assert alert.inputs["rise_pct"] == 30.0
    cited = [e["price_change_id"] for e in alert.evidence if e["role"] == "current"]
    assert cited.count(raised_id) == 1
    assert len(await _events(app, "supervision.AlertRaised")) == 1
    # after the window: silent
    frozen_clock.advance(timedelta(days=8))
    assert not await rule_gouging.price_gouging(session, sku_id, 5000)
