"""Supervision's decisions in credit, from outside: records weighted by rule version 2, the
penalty published with the public credit, the serious-dishonesty list entered only by a
serious penalty and left by date or by the deciding regulator's decision, the red list and
its incentives, and credit repair with its minimum periods (clock-driven)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.credit import lists
from linli.events import CaseDecided, RectificationFulfilled, RectificationOverdue
from linli.merchants.models import MerchantProfile
from tests.credit.helpers import CREDIT, publish, records
from tests.credit.test_credit_http import a_shop_in_shanghai
from tests.factories import make_org, make_token, make_user
from tests.groupbuy.helpers import Shop, bearer

BASIS = "《中华人民共和国价格法》第十四条"


def decided(
    shop: Shop,
    regulator_id: int,
    *,
    case_id: int = 1,
    decision: str = "penalty",
    serious: bool = False,
    penalty_fen: int = 5_000_000,
    rectify_by: datetime | None = None,
) -> CaseDecided:
    return CaseDecided(
        case_id=case_id,
        organisation_id=shop.organisation.id,
        regulator_organisation_id=regulator_id,
        decision=decision,
        penalty_fen=penalty_fen,
        serious=serious,
        legal_basis=BASIS,
        rectify_by=rectify_by,
        decided_at=clock.now(),
    )


async def a_regulator(
    session: AsyncSession, name: str = "上海市场监管局", province: str = "310000"
) -> tuple[int, dict[str, str]]:
    officer = await make_user(session, name="执法")
    regulator = await make_org(
        session, "regulator", owner=officer, name=name, province_code=province
    )
    return regulator.id, bearer(await make_token(session, officer, organisation=regulator))


async def test_decisions_weigh_on_credit_by_rule_version_two(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    regulator_id, _ = await a_regulator(session)
    await publish(
        app,
        decided(shop, regulator_id, case_id=1, serious=True),
        decided(shop, regulator_id, case_id=2),
        decided(shop, regulator_id, case_id=3, decision="warning", penalty_fen=0),
        decided(shop, regulator_id, case_id=4, decision="no_violation", penalty_fen=0),
        RectificationOverdue(
            case_id=2,
            organisation_id=shop.organisation.id,
            regulator_organisation_id=regulator_id,
            rectify_by=clock.now(),
        ),
        RectificationFulfilled(
            case_id=3,
            organisation_id=shop.organisation.id,
            regulator_organisation_id=regulator_id,
            fulfilled_at=clock.now(),
            on_time=True,
        ),
        RectificationFulfilled(
            case_id=2,
            organisation_id=shop.organisation.id,
            regulator_organisation_id=regulator_id,
            fulfilled_at=clock.now(),
            on_time=False,
        ),
    )
    rows = await records(app, "merchant", shop.organisation.id)
    assert sorted((r.kind, r.weight, r.reference, r.rule_version) for r in rows) == [
        ("penalty", -150, "case:2", 2),
        ("penalty_serious", -300, "case:1", 2),
        ("rectification_overdue", -80, "case:2", 2),
        ("rectified_on_time", 10, "case:3", 2),
        ("warning", -30, "case:3", 2),
    ]
    mine = await client.get(f"{CREDIT}/merchant", headers=shop.headers)
    assert mine.json()["score"] == 600 - 300 - 150 - 30 - 80 + 10


async def test_penalties_are_published_until_their_period_ends(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    regulator_id, _ = await a_regulator(session)
    await publish(
        app,
        decided(shop, regulator_id, case_id=7),
        decided(shop, regulator_id, case_id=8, decision="warning", penalty_fen=0),
    )
    path = f"{CREDIT}/public/{shop.organisation.id}/penalties"
    [shown] = (await client.get(path)).json()
    assert (shown["case_id"], shown["authority"], shown["legal_basis"], shown["penalty"]) == (
        7,
        "上海市场监管局",
        BASIS,
        "¥50,000.00",
    )
    assert (await client.get(f"{CREDIT}/lists/serious")).json() == []  # not serious
    frozen_clock.advance(timedelta(days=3 * 365 - 2))
    assert len((await client.get(path)).json()) == 1
    frozen_clock.advance(timedelta(days=3))
    assert (await client.get(path)).json() == []
    assert (await client.get(f"{CREDIT}/public/99999999/penalties")).json() == []
    assert (await client.get(f"{CREDIT}/public/0/penalties")).status_code == 422


async def test_serious_list_entry_early_removal_and_its_end(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    other = await a_shop_in_shanghai(client, session, name="别家")
    regulator_id, officer = await a_regulator(session)
    far_id, far_officer = await a_regulator(session, "浙江省市场监管局", "330000")
    await publish(app, decided(shop, regulator_id, case_id=11, serious=True))
    [entry] = (await client.get(f"{CREDIT}/lists/serious")).json()
    assert (entry["organisation_id"], entry["case_id"], entry["name"], entry["authority"]) == (
        shop.organisation.id,
        11,
        "邻里鲜果",
        "上海市场监管局",
    )
    assert entry["legal_basis"] == BASIS
    assert (entry["rule_id"], entry["rule_version"]) == ("credit.lists", 1)
    assert datetime.fromisoformat(entry["listed_until"]) > clock.now() + timedelta(days=3 * 365 - 1)
    # a second delivery of the same decision lists nothing more
    await publish(app, decided(shop, regulator_id, case_id=11, serious=True))
    assert len((await client.get(f"{CREDIT}/lists/serious")).json()) == 1

    removal = f"{CREDIT}/merchant/list-entries/{entry['id']}/removal"
    body = {"statement": "已整改并缴纳罚款"}
    early = await client.post(removal, json=body, headers=shop.headers)
    assert early.status_code == 409, early.text
    assert early.json()["error"]["code"] == "too_early"
    possible = (clock.now() + timedelta(days=365)).astimezone(clock.LOCAL).date().isoformat()
    assert possible in early.json()["error"]["message"]
    # another merchant cannot ask about it; a resident's token cannot either
    assert (await client.post(removal, json=body, headers=other.headers)).status_code == 404
    resident = await make_user(session)
    as_resident = bearer(await make_token(session, resident))
    assert (await client.post(removal, json=body, headers=as_resident)).status_code == 403

    frozen_clock.advance(timedelta(days=366))
    bad = await client.post(removal, json={"statement": "  "}, headers=shop.headers)
    assert bad.status_code == 422
    asked = await client.post(removal, json=body, headers=shop.headers)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    again = await client.post(removal, json=body, headers=shop.headers)
    assert again.json()["error"]["code"] == "pending"

    # the regulator of another jurisdiction neither sees nor decides it
    assert (await client.get(f"{CREDIT}/regulator/requests", headers=far_officer)).json() == []
    decision = f"{CREDIT}/regulator/requests/{request_id}/decision"
    yes = {"approve": True, "reasons": "整改到位，罚款已缴清"}
    assert (await client.post(decision, json=yes, headers=far_officer)).status_code == 404
    assert (await client.post(decision, json=yes, headers=shop.headers)).status_code == 403
    [waiting] = (await client.get(f"{CREDIT}/regulator/requests", headers=officer)).json()
    assert (waiting["id"], waiting["status"], waiting["organisation"]) == (
        request_id,
        "pending",
        "邻里鲜果",
    )
    no_reasons = await client.post(decision, json={"approve": True}, headers=officer)
    assert no_reasons.status_code == 422
    done = await client.post(decision, json=yes, headers=officer)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["reasons"]) == ("approved", yes["reasons"])
    assert (await client.post(decision, json=yes, headers=officer)).status_code == 409
    assert (await client.get(f"{CREDIT}/lists/serious")).json() == []
    mine = (await client.get(f"{CREDIT}/merchant/lists", headers=shop.headers)).json()
    [own] = mine["entries"]
    assert own["listed"] is False and own["removed_at"] is not None
    audited = select(AuditEntry.action).where(AuditEntry.target_type == "credit_request")
    actions = set((await session.scalars(audited)).all())
    assert actions == {"credit.removal_requested", "credit.removal_approved"}
    assert far_id != regulator_id


async def test_a_listing_ends_with_its_period(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    regulator_id, _ = await a_regulator(session)
    await publish(app, decided(shop, regulator_id, case_id=21, serious=True))
    frozen_clock.advance(timedelta(days=3 * 365 - 1))
    assert len((await client.get(f"{CREDIT}/lists/serious")).json()) == 1
    async with app.state.sessionmaker() as s:
        assert await lists.sampling_weight(s, shop.organisation.id) == 200
    frozen_clock.advance(timedelta(days=2))
    assert (await client.get(f"{CREDIT}/lists/serious")).json() == []
    async with app.state.sessionmaker() as s:
        assert await lists.sampling_weight(s, shop.organisation.id) == 100


async def test_no_route_makes_a_list_entry_or_a_published_penalty(app: FastAPI) -> None:
    """Only supervision's CaseDecided makes them: the only writing credit routes are the
    merchant's requests and the regulator's decisions on them."""
    from tests.test_authz_matrix import route_keys

    writing = sorted(
        key
        for key in route_keys(app)
        if "/credit" in key.split()[1] and key.split()[0] in ("POST", "PUT", "PATCH", "DELETE")
    )
    assert [key for key in writing if key.startswith(("POST /api", "PUT /api"))] == [
        f"POST {CREDIT}/merchant/list-entries/{{entry_id}}/removal",
        f"POST {CREDIT}/merchant/penalties/{{penalty_id}}/repair",
        f"POST {CREDIT}/regulator/requests/{{request_id}}/decision",
    ]
    assert all(key.endswith(("/repair", "/removal", "/decision")) for key in writing)


async def test_credit_repair_after_the_minimum_period_with_obligations_fulfilled(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    food = await a_shop_in_shanghai(client, session)  # fresh food: 12 months
    other = await a_shop_in_shanghai(client, session, name="五金店")
    profile = await session.get(MerchantProfile, other.organisation.id)
    assert profile is not None
    profile.business_scope = ["household_goods"]  # 6 months
    await session.commit()
    regulator_id, officer = await a_regulator(session)
    _, far_officer = await a_regulator(session, "浙江省市场监管局", "330000")
    rectify_by = clock.now() + timedelta(days=30)
    await publish(
        app,
        decided(food, regulator_id, case_id=31, rectify_by=rectify_by),
        decided(other, regulator_id, case_id=32),
    )
    [food_penalty] = (await client.get(f"{CREDIT}/merchant/lists", headers=food.headers)).json()[
        "penalties"
    ]
    [other_penalty] = (await client.get(f"{CREDIT}/merchant/lists", headers=other.headers)).json()[
        "penalties"
    ]
    today = clock.now()

    def on(months: int) -> str:
        from linli.merchants.dates import add_months

        return add_months(today, months).astimezone(clock.LOCAL).date().isoformat()

    assert food_penalty["repair_possible_from"][:10] == add_months_iso(today, 12)
    assert other_penalty["repair_possible_from"][:10] == add_months_iso(today, 6)
    body = {"statement": "罚款已缴纳，整改完毕"}
    food_repair = f"{CREDIT}/merchant/penalties/{food_penalty['id']}/repair"
    other_repair = f"{CREDIT}/merchant/penalties/{other_penalty['id']}/repair"
    assert (await client.post(other_repair, json=body, headers=food.headers)).status_code == 404

    frozen_clock.advance(timedelta(days=190))  # past 6 months, before 12
    unfulfilled = await client.post(food_repair, json=body, headers=food.headers)
    assert unfulfilled.json()["error"]["code"] == "obligations_unfulfilled"
    await publish(
        app,
        RectificationFulfilled(
            case_id=31,
            organisation_id=food.organisation.id,
            regulator_organisation_id=regulator_id,
            fulfilled_at=rectify_by - timedelta(days=1),
            on_time=True,
        ),
    )
    early = await client.post(food_repair, json=body, headers=food.headers)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "too_early"
    assert on(12) in early.json()["error"]["message"]
    asked = await client.post(other_repair, json=body, headers=other.headers)
    assert asked.status_code == 201, asked.text
    refused = await client.post(
        f"{CREDIT}/regulator/requests/{asked.json()['id']}/decision",
        json={"approve": False, "reasons": "罚款缴纳凭证不全"},
        headers=officer,
    )
    assert refused.json()["status"] == "refused"
    public = f"{CREDIT}/public/{other.organisation.id}/penalties"
    assert len((await client.get(public)).json()) == 1  # refused: still published

    frozen_clock.advance(timedelta(days=180))  # past 12 months
    asked = await client.post(food_repair, json=body, headers=food.headers)
    assert asked.status_code == 201, asked.text
    decision = f"{CREDIT}/regulator/requests/{asked.json()['id']}/decision"
    yes = {"approve": True, "reasons": "义务已履行，满足修复条件"}
    assert (await client.post(decision, json=yes, headers=far_officer)).status_code == 404
    approved = await client.post(decision, json=yes, headers=officer)
    assert approved.json()["status"] == "approved"
    assert (await client.get(f"{CREDIT}/public/{food.organisation.id}/penalties")).json() == []
    [mine] = (await client.get(f"{CREDIT}/merchant/lists", headers=food.headers)).json()[
        "penalties"
    ]
    assert mine["published"] is False and mine["repaired_at"] is not None
    assert mine["fulfilled_on_time"] is True
    again = await client.post(food_repair, json=body, headers=food.headers)
    assert again.json()["error"]["code"] == "not_published"


def add_months_iso(moment: datetime, months: int) -> str:
    from linli.merchants.dates import add_months

    return add_months(moment, months).astimezone(clock.LOCAL).date().isoformat()
