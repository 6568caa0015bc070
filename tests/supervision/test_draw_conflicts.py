"""The draw's conflicts of interest from the one inspector directory (HTTP): declared
relations, the inspector's own previous cases of the merchant and their previous plan
inspections of it keep them off the merchant, are recorded in the draw's inputs with their
kinds, and the stored draw is reproduced from the seed and those inputs; too few inspectors
is a clear 422."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.credit.list_models import SeriousListEntry
from linli.supervision import inspectors
from linli.supervision.plan_models import InspectionPlan
from tests.supervision.helpers import PLANS, a_supervision, drawn_plan, plan_body

API = "/api/v1/supervision"


async def test_the_directory_has_one_list_per_duty(session: AsyncSession) -> None:
    s = await a_supervision(session, inspectors=2, merchants=1)
    cases = await inspectors.directory(session, s.regulator.id, inspectors.Duty.CASES)
    draws = await inspectors.directory(session, s.regulator.id, inspectors.Duty.RANDOM_INSPECTIONS)
    assert cases == sorted(i.user.id for i in s.inspectors)
    assert draws == sorted([s.supervisor.user.id, *cases])


async def test_declared_relations_cases_and_inspections_keep_an_inspector_off_the_draw(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session, inspectors=4, merchants=1)
    shop = s.merchants[0]
    first, second = s.inspectors[0].user.id, s.inspectors[1].user.id
    declared = await client.post(
        f"{API}/conflicts",
        json={"inspector_user_id": first, "merchant_organisation_id": shop.id, "reason": "亲属"},
        headers=s.supervisor.headers,
    )
    assert declared.status_code == 201, declared.text
    case = await client.post(
        f"{API}/cases",
        json={"organisation_id": shop.id, "title": "举报"},
        headers=s.supervisor.headers,
    )
    assert case.status_code == 201, case.text
    assert case.json()["inspector_user_id"] == second  # the first is conflicted
    plan = await drawn_plan(client, s, target_count=1)
    drawn = set(plan["targets"][0]["inspector_user_ids"])
    assert not drawn & {first, second}
    inputs = await session.scalar(
        select(InspectionPlan.draw_inputs).where(InspectionPlan.id == plan["id"])
    )
    assert inputs is not None
    assert [first, shop.id, ["declared"]] in inputs["conflicts"]
    assert [second, shop.id, ["case"]] in inputs["conflicts"]
    verified = await client.get(f"{PLANS}/{plan['id']}/verify", headers=s.supervisor.headers)
    assert verified.json()["matches"] is True

    # The two drawn have inspected the merchant now: one inspector is left, the next plan is
    # refused with the merchant named, and the previous inspections are recorded as such.
    created = await client.post(PLANS, json=plan_body(target_count=1), headers=s.supervisor.headers)
    refused = await client.post(
        f"{PLANS}/{created.json()['id']}/draw", headers=s.supervisor.headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "too_few_inspectors"
    assert f"#{shop.id}" in error["message"]
    assert await inspectors.conflicts(session, sorted(drawn), [shop.id]) == {
        (i, shop.id): ["inspection"] for i in drawn
    }


async def test_an_authority_with_too_few_inspectors_is_told_how_many_it_needs(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session, inspectors=0, merchants=2)
    created = await client.post(PLANS, json=plan_body(target_count=1), headers=s.supervisor.headers)
    refused = await client.post(
        f"{PLANS}/{created.json()['id']}/draw", headers=s.supervisor.headers
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "too_few_inspectors"
    assert "1" in error["message"]
    assert "2" in error["message"]


async def test_credit_list_weights_are_recorded_in_the_draw_inputs(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A merchant on the serious-dishonesty list is drawn at 200 % of the normal weight (rule
    credit.lists); the weights and the rule version are part of the recorded inputs."""
    s = await a_supervision(session, inspectors=2, merchants=3)
    listed = s.merchants[1]
    now = clock.now()
    session.add(
        SeriousListEntry(
            case_id=999_001,
            organisation_id=listed.id,
            regulator_organisation_id=s.regulator.id,
            legal_basis="《价格法》第四十条",
            decided_at=now - timedelta(days=1),
            listed_at=now - timedelta(days=1),
            listed_until=now + timedelta(days=1000),
            removable_from=now + timedelta(days=300),
            rule_id="credit.lists",
            rule_version=1,
        )
    )
    await session.commit()
    plan = await drawn_plan(client, s, target_count=1)
    inputs = await session.scalar(
        select(InspectionPlan.draw_inputs).where(InspectionPlan.id == plan["id"])
    )
    assert inputs is not None
    assert dict((m, w) for m, w in inputs["weights"]) == {
        s.merchants[0].id: 100,
        listed.id: 200,
        s.merchants[2].id: 100,
    }
    assert inputs["weights_rule"] == "credit.lists@1"


async def test_every_inspector_a_case_ever_had_stays_off_its_merchant(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await a_supervision(session, inspectors=3, merchants=1)
    shop = s.merchants[0]
    case = await client.post(
        f"{API}/cases",
        json={"organisation_id": shop.id, "title": "举报"},
        headers=s.supervisor.headers,
    )
    assert case.status_code == 201, case.text
    before = case.json()["inspector_user_id"]
    after = next(i.user.id for i in s.inspectors if i.user.id != before)
    moved = await client.post(
        f"{API}/cases/{case.json()['id']}/assign",
        json={"inspector_user_id": after},
        headers=s.supervisor.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["inspector_user_id"] == after
    everyone = sorted(i.user.id for i in s.inspectors)
    assert await inspectors.conflicts(session, everyone, [shop.id]) == {
        (before, shop.id): ["case"],
        (after, shop.id): ["case"],
    }
