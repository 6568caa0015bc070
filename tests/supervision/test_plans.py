"""Double random inspection plans from the outside (HTTP): the draw fixed by the seed and
stored once, reproduced from its inputs, inspectors without conflicts of interest, results
recorded by the drawn inspectors and published, another authority answered 404."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.credit.risk import risk_classes
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.supervision.plan_models import InspectionAssignment, InspectionTarget
from tests.factories import form_login, make_token, png_bytes
from tests.groupbuy.helpers import bearer
from tests.supervision.helpers import (
    DISCLOSURE,
    PLANS,
    a_supervision,
    drawn_plan,
    plan_body,
)


async def test_a_plan_draws_merchants_of_its_jurisdiction_with_two_inspectors_each(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    plan = await drawn_plan(client, s)
    assert plan["status"] == "drawn"
    assert plan["rule_id"] == "supervision.random_inspection"
    assert plan["rule_version"] == 1
    assert len(plan["seed"]) == 32
    ours = {m.id for m in s.merchants}
    targets = plan["targets"]
    assert len(targets) == 3
    assert {t["merchant_organisation_id"] for t in targets} <= ours
    pool = {s.supervisor.user.id} | {i.user.id for i in s.inspectors}
    classes = await risk_classes(session, sorted(ours))
    for target in targets:
        # credit's regulator-only class, recorded with the draw
        assert target["risk_class"] == classes[target["merchant_organisation_id"]]
        assert len(set(target["inspector_user_ids"])) == 2
        assert set(target["inspector_user_ids"]) <= pool
        assert target["result"] is None
    actions = set(await session.scalars(select(AuditEntry.action)))
    assert {"supervision.plan_created", "supervision.plan_drawn"} <= actions


async def test_the_draw_is_stored_once_and_reproduced_from_its_seed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    plan = await drawn_plan(client, s)
    again = await client.post(f"{PLANS}/{plan['id']}/draw", headers=s.supervisor.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "plan_drawn"
    count = await session.scalar(
        select(func.count())
        .select_from(InspectionTarget)
        .where(InspectionTarget.plan_id == plan["id"])
    )
    assert count == 3
    checked = await client.get(f"{PLANS}/{plan['id']}/verify", headers=s.inspectors[0].headers)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["matches"] is True
    assert body["stored"] == body["recomputed"]
    assert [p["merchant_organisation_id"] for p in body["stored"]] == [
        t["merchant_organisation_id"] for t in plan["targets"]
    ]
    # The draw does not depend on the directory changing after it.
    read = await client.get(f"{PLANS}/{plan['id']}", headers=s.supervisor.headers)
    assert read.json()["targets"] == plan["targets"]


async def test_an_inspector_drawn_for_a_merchant_before_is_not_drawn_for_it_again(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Two inspectors and a supervisor for one merchant: the first plan uses two of the three;
    the second plan has only one inspector left without a conflict and is refused."""
    s = await a_supervision(session, inspectors=2, merchants=1)
    first = await drawn_plan(client, s, target_count=1)
    used = set(first["targets"][0]["inspector_user_ids"])
    created = await client.post(PLANS, json=plan_body(target_count=1), headers=s.supervisor.headers)
    refused = await client.post(
        f"{PLANS}/{created.json()['id']}/draw", headers=s.supervisor.headers
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "too_few_inspectors"
    assert (
        await session.scalar(
            select(func.count())
            .select_from(InspectionTarget)
            .where(InspectionTarget.plan_id == created.json()["id"])
        )
        == 0
    )
    # With a third inspector the draw goes through, without the two conflicted ones.
    from tests.factories import grant, make_user
    from tests.supervision.helpers import Officer

    newcomer = await make_user(session, name="新检查员")
    await grant(session, s.regulator, newcomer, "inspector")
    s.inspectors.append(
        Officer(newcomer, bearer(await make_token(session, newcomer, organisation=s.regulator)))
    )
    drawn = await client.post(f"{PLANS}/{created.json()['id']}/draw", headers=s.supervisor.headers)
    assert drawn.status_code == 200, drawn.text
    second = set(drawn.json()["targets"][0]["inspector_user_ids"])
    assert not second & used
    assert newcomer.id in second


async def test_another_authority_and_the_public_get_404_or_nothing_regulator_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    plan = await drawn_plan(client, s)
    target = plan["targets"][0]
    far = s.far_supervisor.headers
    for path in (f"{PLANS}/{plan['id']}", f"{PLANS}/{plan['id']}/verify"):
        assert (await client.get(path, headers=far)).status_code == 404
    assert (await client.post(f"{PLANS}/{plan['id']}/draw", headers=far)).status_code == 404
    recorded = await client.post(
        f"{PLANS.rsplit('/', 1)[0]}/targets/{target['id']}/result",
        json={"result": "passed", "inspected_on": "2026-11-20"},
        headers=far,
    )
    assert recorded.status_code == 404
    assert (await client.get(PLANS, headers=far)).json() == []
    # A merchant and the platform: no plan permission at all.
    owner_token = bearer(await make_token(session, s.supervisor.user, scopes=("resident",)))
    assert (await client.get(f"{PLANS}/{plan['id']}", headers=owner_token)).status_code == 403
    assert (
        await client.get(f"{PLANS}/{plan['id']}", headers=s.operator.headers)
    ).status_code == 403
    # An inspector (not a supervisor) may read but not create or draw plans.
    inspector = s.inspectors[0].headers
    assert (await client.post(PLANS, json=plan_body(), headers=inspector)).status_code == 403


async def test_results_are_recorded_by_a_drawn_inspector_once_and_published(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    plan = await drawn_plan(client, s)
    target = plan["targets"][0]
    url = f"/api/v1/supervision/targets/{target['id']}/result"
    drawn_ids = set(target["inspector_user_ids"])
    outsider = next(o for o in [s.supervisor, *s.inspectors] if o.user.id not in drawn_ids)
    body = {
        "result": "issues_found",
        "findings": "<b>冷柜</b>温度记录缺失",
        "inspected_on": "2026-11-20",
    }
    refused = await client.post(url, json=body, headers=outsider.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_drawn_inspector"
    inspector = s.officer(sorted(drawn_ids)[0])
    bad = await client.post(url, json=body | {"findings": ""}, headers=inspector.headers)
    assert bad.status_code == 422
    future = await client.post(
        url, json=body | {"inspected_on": "2026-12-30"}, headers=inspector.headers
    )
    assert future.status_code == 422  # the test clock is 2026-11-26
    wrong = await client.post(url, json=body | {"result": "great"}, headers=inspector.headers)
    assert wrong.status_code == 422
    ok = await client.post(url, json=body, headers=inspector.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"] == "issues_found"
    twice = await client.post(url, json=body | {"result": "passed"}, headers=inspector.headers)
    assert twice.status_code == 409
    # Evidence through the upload checks: a photo is taken, a fake is refused.
    evidence = f"/api/v1/supervision/targets/{target['id']}/evidence"
    photo = await client.post(
        evidence, files={"file": ("a.png", png_bytes(), "image/png")}, headers=inspector.headers
    )
    assert photo.status_code == 201, photo.text
    fake = await client.post(
        evidence, files={"file": ("a.png", b"<script>", "image/png")}, headers=inspector.headers
    )
    assert fake.status_code in (415, 422), fake.text
    got = await client.get(f"{evidence}/{photo.json()['file_id']}", headers=s.supervisor.headers)
    assert got.status_code == 200
    far = await client.get(
        f"{evidence}/{photo.json()['file_id']}", headers=s.far_supervisor.headers
    )
    assert far.status_code == 404
    # Published: authority, merchant, type, date, result; nothing regulator-only.
    public = await client.get(DISCLOSURE)
    assert public.status_code == 200
    (row,) = public.json()
    assert row["authority"] == "浦东新区市场监管局"
    assert row["merchant_organisation_id"] == target["merchant_organisation_id"]
    assert row["inspection_type"] == "food_safety"
    assert row["inspected_on"] == "2026-11-20"
    assert row["result"] == "issues_found"
    for private in ("risk_class", "findings", "inspector_user_ids", "seed"):
        assert private not in row
    async with app.state.sessionmaker() as s2:
        events = list(
            await s2.scalars(
                select(OutboxEvent.payload).where(
                    OutboxEvent.event_type == "supervision.InspectionResultPublished"
                )
            )
        )
    assert len(events) == 1
    assert events[0]["merchant_organisation_id"] == target["merchant_organisation_id"]
    assert "risk_class" not in events[0]  # credit's class stays regulator-only
    assert events[0]["authority_organisation_id"] == s.regulator.id
    assert events[0]["result"] == "issues_found"
    # The page shows it escaped, in both languages.
    page = await client.get("/disclosure/inspections")
    assert page.status_code == 200
    assert "浦东新区市场监管局" in page.text
    zh = await client.get("/disclosure/inspections", headers={"Accept-Language": "zh-CN"})
    assert "双随机" in zh.text
    await app.state.dispatcher.run_once()
    told = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == "inspection_result_published")
    )
    assert told == 0  # the merchants in the arrangement have no members


async def test_bad_plans_are_refused_with_the_field_named(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    for changes, field in (
        ({"period_end": "2026-10-01"}, "period_end"),
        ({"target_count": 0}, "target_count"),
        ({"target_count": 501}, "target_count"),
        ({"name": ""}, "name"),
        ({"inspection_type": "anything"}, "inspection_type"),
    ):
        refused = await client.post(PLANS, json=plan_body(**changes), headers=s.supervisor.headers)
        assert refused.status_code == 422, (changes, refused.text)
        assert field in refused.text
    extra: dict[str, Any] = plan_body() | {"seed": "mine"}
    assert (await client.post(PLANS, json=extra, headers=s.supervisor.headers)).status_code == 422
    assert await session.scalar(select(func.count()).select_from(InspectionAssignment)) == 0


async def test_the_pages_create_draw_and_record_a_plan_in_both_languages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session)
    csrf = await form_login(client, s.supervisor.user.phone)
    listed = await client.get("/regulator/inspections")
    assert listed.status_code == 200
    bad = await client.post(
        "/regulator/inspections",
        data={"csrf_token": csrf, **plan_body(target_count="many")},
    )
    assert bad.status_code == 422
    created = await client.post(
        "/regulator/inspections",
        data={"csrf_token": csrf, **plan_body(name="<i>抽查</i>", target_count="2")},
    )
    assert created.status_code == 303, created.text
    url = created.headers["location"]
    page = await client.get(url)
    assert "&lt;i&gt;抽查&lt;/i&gt;" in page.text
    assert 'data-status="planned"' in page.text
    drawn = await client.post(f"{url}/draw", data={"csrf_token": csrf})
    assert drawn.status_code == 303
    page = await client.get(url)
    assert 'data-verified="true"' in page.text
    plan_id = int(url.rsplit("/", 1)[1])
    row = await session.scalar(
        select(InspectionTarget)
        .where(InspectionTarget.plan_id == plan_id)
        .order_by(InspectionTarget.position)
    )
    assert row is not None
    drawn_for = set(
        await session.scalars(
            select(InspectionAssignment.inspector_user_id).where(
                InspectionAssignment.target_id == row.id
            )
        )
    )
    if s.supervisor.user.id not in drawn_for:  # record as one of the drawn inspectors
        inspector = s.officer(min(drawn_for))
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token", None)
        csrf = await form_login(client, inspector.user.phone)
    recorded = await client.post(
        f"/regulator/inspections/targets/{row.id}/result",
        data={
            "csrf_token": csrf,
            "result": "failed",
            "findings": "<b>过期</b>食品在售",
            "inspected_on": "2026-11-25",
        },
        files={"file": ("e.png", png_bytes(), "image/png")},
    )
    assert recorded.status_code == 303, recorded.text
    page = await client.get(url)
    assert 'data-result="failed"' in page.text
    assert "&lt;b&gt;过期&lt;/b&gt;" in page.text
    assert "/evidence/" in page.text
    zh = await client.get(url, headers={"Accept-Language": "zh-CN"})
    assert "按种子重新计算：完全一致" in zh.text
    public = await client.get("/disclosure/inspections", headers={"Accept-Language": "zh-CN"})
    assert 'data-result="failed"' in public.text
    assert "双随机" in public.text
