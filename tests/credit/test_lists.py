"""Supervision's decisions in credit, from outside: records weighted by the rule in force
(version 3 keeps version 2's weights for them), the penalty published with the public
credit, the serious-dishonesty list entered only by a serious penalty and left by date or by
the deciding regulator's decision, the red list and its incentives, and credit repair with
its minimum periods (clock-driven)."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.credit import lists
from linli.credit.handlers import refresh_scores
from linli.events import CaseDecided, RectificationFulfilled, RectificationOverdue
from linli.jobs import CreditScoresRefresh
from linli.merchants.dates import add_months
from linli.merchants.models import MerchantProfile
from linli.web import CSRF_FIELD
from tests.credit.helpers import CREDIT, publish, records
from tests.credit.test_credit_http import a_shop_in_shanghai
from tests.factories import grant, login, make_org, make_token, make_user
from tests.groupbuy.helpers import Shop, a_shop, bearer, listed_sku

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


async def test_decisions_weigh_on_credit_by_the_rule_in_force(
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
        ("penalty", -150, "case:2", 5),
        ("penalty_serious", -300, "case:1", 5),
        ("rectification_overdue", -80, "case:2", 5),
        ("rectified_on_time", 10, "case:3", 5),
        ("warning", -30, "case:3", 5),
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
    assert own["listed"] is False
    assert own["removed_at"] is not None
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
    merchant's requests and the regulator's decisions on them (besides the resident's own
    pay-later facility and bills, which write neither lists nor scores)."""
    from tests.test_authz_matrix import route_keys

    writing = sorted(
        key
        for key in route_keys(app)
        if "/credit" in key.split()[1]
        and key.split()[0] in ("POST", "PUT", "PATCH", "DELETE")
        and "/credit/pay-later" not in key
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
    assert add_months_iso(today, 12) in early.json()["error"]["message"]
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
    assert mine["published"] is False
    assert mine["repaired_at"] is not None
    assert mine["fulfilled_on_time"] is True
    again = await client.post(food_repair, json=body, headers=food.headers)
    assert again.json()["error"]["code"] == "not_published"


def add_months_iso(moment: datetime, months: int) -> str:
    return add_months(moment, months).astimezone(clock.LOCAL).date().isoformat()


def fulfilled(shop: Shop, n: int) -> RectificationFulfilled:
    """A rectification done on time: +10 each (versions 2 and 3), a quick way to a high grade."""
    return RectificationFulfilled(
        case_id=1000 + n,
        organisation_id=shop.organisation.id,
        regulator_organisation_id=1,
        fulfilled_at=clock.now(),
        on_time=True,
    )


async def test_red_list_ranks_first_within_a_grade_and_lightens_sampling(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    steady = await a_shop(client, session, name="老字号")
    newcomer = await a_shop(client, session, name="新开张")
    await listed_sku(client, steady)
    await listed_sku(client, newcomer)
    await publish(app, *(fulfilled(steady, n) for n in range(40)))  # 1000 now
    frozen_clock.advance(timedelta(days=212))  # one decay boundary: 600 + 400 / 2 = 800, AA
    await publish(app, *(fulfilled(newcomer, 100 + n) for n in range(20)))  # 800, AA
    async with app.state.sessionmaker() as s:
        await refresh_scores(s, CreditScoresRefresh())
        await s.commit()
    red = (await client.get(f"{CREDIT}/lists/red")).json()
    assert [(m["organisation_id"], m["grade"]) for m in red] == [(steady.organisation.id, "AA")]
    async with app.state.sessionmaker() as s:
        assert await lists.sampling_weight(s, steady.organisation.id) == 50
        assert await lists.sampling_weight(s, newcomer.organisation.id) == 100
    found = await client.get("/api/v1/catalog/products")
    merchants = [p["merchant"]["id"] for p in found.json()["items"]]
    # same grade: the red-list merchant first (else the newest product would be)
    assert merchants == [steady.organisation.id, newcomer.organisation.id]

    regulator_id, _ = await a_regulator(session)
    await publish(app, decided(steady, regulator_id, case_id=5, decision="warning", penalty_fen=0))
    assert (await client.get(f"{CREDIT}/lists/red")).json() == []  # a warning since: off


async def test_pages_in_both_languages_and_forms(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session, name="<b>邻里</b>")
    officer = await make_user(session, name="执法")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    inspector = await make_user(session, name="检查员")
    await grant(session, regulator, inspector, "inspector")
    await publish(app, decided(shop, regulator.id, case_id=41, serious=True))
    lists_page = await client.get("/credit/lists")
    assert lists_page.status_code == 200
    assert "&lt;b&gt;邻里&lt;/b&gt;" in lists_page.text
    assert "<b>邻里</b>" not in lists_page.text
    assert BASIS in lists_page.text
    zh = await client.get("/credit/lists", headers={"Accept-Language": "zh-CN"})
    assert "严重违法失信名单" in zh.text
    public = await client.get(f"/credit/query/{shop.organisation.id}")
    assert "上海市场监管局" in public.text
    assert "¥50,000.00" in public.text

    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, shop.owner, organisation=shop.organisation)
        desk = await c.get("/merchant/credit/lists")
        assert desk.status_code == 200
        assert "Apply for credit repair" in desk.text
        entry_id = (await c.get(f"{CREDIT}/merchant/lists")).json()["entries"][0]["id"]
        token = c.cookies.get(CSRF_COOKIE) or ""
        early = await c.post(
            f"/merchant/credit/list-entries/{entry_id}/removal",
            data={"statement": "已整改", CSRF_FIELD: token},
        )
        assert early.status_code == 303
        assert (await c.get(f"{CREDIT}/merchant/lists")).json()["requests"] == []
        frozen_clock.advance(timedelta(days=366))
        await login(c, shop.owner, organisation=shop.organisation)  # a year: a new session
        token = c.cookies.get(CSRF_COOKIE) or ""
        asked = await c.post(
            f"/merchant/credit/list-entries/{entry_id}/removal",
            data={"statement": "已整改，罚款已缴", CSRF_FIELD: token},
        )
        assert asked.status_code == 303
        [request] = (await c.get(f"{CREDIT}/merchant/lists")).json()["requests"]
        zh_desk = await c.get("/merchant/credit/lists", headers={"Accept-Language": "zh-CN"})
        assert "信用修复" in zh_desk.text
        assert (await c.get("/regulator/credit/requests")).status_code == 403

    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, inspector, organisation=regulator)
        page = await c.get("/regulator/credit/requests")
        assert page.status_code == 200
        assert "已整改，罚款已缴" in page.text
        assert f'data-decide="{request["id"]}"' not in page.text  # inspectors read only
        inspector_token = bearer(await make_token(session, inspector, organisation=regulator))
        refused = await client.post(
            f"{CREDIT}/regulator/requests/{request['id']}/decision",
            json={"approve": True, "reasons": "同意"},
            headers=inspector_token,
        )
        assert refused.status_code == 403
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, officer, organisation=regulator)
        page = await c.get("/regulator/credit/requests", headers={"Accept-Language": "zh-CN"})
        assert f'data-decide="{request["id"]}"' in page.text
        token = c.cookies.get(CSRF_COOKIE) or ""
        decided_page = await c.post(
            f"/regulator/credit/requests/{request['id']}/decision",
            data={"approve": "1", "reasons": "整改到位", CSRF_FIELD: token},
        )
        assert decided_page.status_code == 303
    assert (await client.get(f"{CREDIT}/lists/serious")).json() == []
