"""Credit from outside: each subject reads its own credit and explanation; regulators, and
nobody else, see risk classes; anyone queries public credit; nothing writes a score; the
grade gates group-leader applications and shows on the merchant page."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.clock import FrozenClock
from tests.credit.helpers import CREDIT, inspection_failed, publish, resolved, uncollected
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import Shop, a_shop, bearer

# How a risk class shows where it is shown: the API's field, the desk's cell and column.
RISK_MARKERS = (
    '"risk_class"',
    '"by_credit"',
    "risk-class",
    "<th>Risk class</th>",
    "<th>风险分类</th>",
)


def no_risk_class(response: httpx.Response) -> None:
    assert response.status_code < 400, (response.request.url, response.status_code)
    for marker in RISK_MARKERS:
        assert marker not in response.text, (response.request.url, marker)


async def a_shop_in_shanghai(
    client: httpx.AsyncClient, session: AsyncSession, name: str = "邻里鲜果"
) -> Shop:
    shop = await a_shop(client, session, name=name)
    row = await session.get(Organisation, shop.organisation.id)
    assert row is not None
    row.province_code, row.city_code = "310000", "310100"
    await session.commit()
    return shop


async def test_each_subject_reads_its_own_credit_with_an_explanation_that_adds_up(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    rival = await a_shop_in_shanghai(client, session, name="别家")
    resident = await make_user(session, name="李四")
    leader = await make_user(session, name="王团长")
    await publish(
        app,
        inspection_failed(shop.organisation.id),
        resolved(shop.organisation.id, "mediated", n=2),
        uncollected(resident.id),
        resolved(rival.organisation.id, "upheld", leader_user_id=leader.id, n=3),
    )
    mine = await client.get(f"{CREDIT}/merchant", headers=shop.headers)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["score"], body["grade"], body["records"]) == (600 - 120 - 15, "B", 2)
    e = body["explanation"]
    assert e["base"] == 600
    assert sorted(
        (line["kind"], line["weight"], line["count"], line["factor"]) for line in e["lines"]
    ) == [
        ("complaint_mediated", -15, 1, "1"),
        ("inspection_failed", -120, 1, "1"),
    ]
    assert (
        e["base"] + sum(line["contribution"] for line in e["lines"]) + e["bound"] == body["score"]
    )
    assert [(r["kind"], r["rule_id"], r["rule_version"]) for r in body["recent"]] == [
        ("complaint_mediated", "credit.scoring", 5),
        ("inspection_failed", "credit.scoring", 5),
    ]
    no_risk_class(mine)
    # another merchant sees its own (untouched) credit, never this one's
    other = await client.get(f"{CREDIT}/merchant", headers=rival.headers)
    assert (other.json()["score"], other.json()["records"]) == (600, 0)

    resident_headers = bearer(await make_token(session, resident, scopes=("resident",)))
    own = await client.get(f"{CREDIT}/me", headers=resident_headers)
    assert (own.json()["score"], own.json()["grade"]) == (570, "B")
    assert [r["kind"] for r in own.json()["recent"]] == ["order_uncollected"]
    leader_headers = bearer(await make_token(session, leader, scopes=("leader",)))
    led = await client.get(f"{CREDIT}/leader", headers=leader_headers)
    assert (led.json()["subject_kind"], led.json()["score"]) == ("leader", 540)
    wrong_scope = await client.get(f"{CREDIT}/me", headers=leader_headers)
    assert wrong_scope.status_code == 403

    await login(client, resident)
    page = await client.get("/credit")
    assert page.status_code == 200
    assert "570" in page.text
    assert "order not collected" in page.text
    zh = await client.get("/credit", headers={"Accept-Language": "zh-CN"})
    assert "我的信用" in zh.text
    assert "未取货" in zh.text
    no_risk_class(page)


async def test_risk_classes_are_for_regulators_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop_in_shanghai(client, session)  # sells fresh food: one class worse
    await publish(app, inspection_failed(shop.organisation.id))  # 480: C by credit, then D
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer, name="上海市场监管局")
    far_officer = await make_user(session, name="外地")
    far = await make_org(
        session, "regulator", owner=far_officer, province_code="330000", name="浙江"
    )
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    resident = await make_user(session)

    desk = await client.get(
        f"{CREDIT}/regulator/merchants",
        headers=bearer(await make_token(session, officer, organisation=regulator)),
    )
    assert desk.status_code == 200, desk.text
    [row] = desk.json()
    assert (row["organisation_id"], row["score"], row["by_credit"], row["risk_class"]) == (
        shop.organisation.id,
        480,
        "C",
        "D",
    )
    assert row["high_risk_categories"] == ["fresh_food"]
    assert row["sampling_percent"] == [61, 100]
    elsewhere = await client.get(
        f"{CREDIT}/regulator/merchants",
        headers=bearer(await make_token(session, far_officer, organisation=far)),
    )
    assert elsewhere.json() == []
    for who, organisation in (
        (shop.owner, shop.organisation),
        (operator, platform),
        (resident, None),
    ):
        refused = await client.get(
            f"{CREDIT}/regulator/merchants",
            headers=bearer(await make_token(session, who, organisation=organisation)),
        )
        assert refused.status_code == 403
        no_risk_class(httpx.Response(200, text=refused.text, request=refused.request))

    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, officer, organisation=regulator)
        page = await c.get("/regulator/credit?sort=score")
        assert page.status_code == 200
        assert 'data-testid="risk-class"' in page.text
        assert "<th>Risk class</th>" in page.text
        assert "<strong>D</strong>" in page.text
        # each row leads to the supervision risk profile, which explains the class further
        profile = f"/regulator/merchants/{shop.organisation.id}/risk"
        assert f'<a href="{profile}" data-testid="risk-profile">' in page.text
        explained = await c.get(profile)
        assert explained.status_code == 200
        assert "fresh_food" in explained.text
        zh = await c.get("/regulator/credit", headers={"Accept-Language": "zh-CN"})
        assert "<th>风险分类</th>" in zh.text
        bad_sort = await c.get("/regulator/credit?sort=secret")
        assert bad_sort.status_code == 422

    org_id = shop.organisation.id
    public_paths = [
        f"/m/{org_id}",
        "/credit/query?q=%E9%82%BB%E9%87%8C",
        f"/credit/query/{org_id}",
        f"{CREDIT}/public?q=邻里",
        f"{CREDIT}/public/{org_id}",
    ]
    for path in public_paths:  # anonymous
        no_risk_class(await client.get(path))
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, shop.owner, organisation=shop.organisation)
        for path in [*public_paths, "/merchant/credit", f"{CREDIT}/merchant", "/merchant"]:
            no_risk_class(await c.get(path))
        refused = await c.get("/regulator/credit")
        assert refused.status_code == 403
        assert "risk-class" not in refused.text
    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as c:
        await login(c, operator, organisation=platform)
        for path in [*public_paths, "/ops/merchants", "/ops/outbox", "/ops/rules", "/audit"]:
            response = await c.get(path)
            if response.status_code == 404:
                continue  # a page this build does not have
            no_risk_class(response)
        assert (await c.get("/regulator/credit")).status_code == 403


async def test_public_credit_query_by_name_or_code(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    await a_shop_in_shanghai(client, session, name="别家超市")
    await publish(app, inspection_failed(shop.organisation.id))
    by_name = await client.get(f"{CREDIT}/public", params={"q": "鲜果"})
    assert [(c["name"], c["grade"]) for c in by_name.json()] == [("邻里鲜果", "B")]
    code = by_name.json()[0]["credit_code"]
    by_code = await client.get(f"{CREDIT}/public", params={"q": code.lower()})
    assert [c["organisation_id"] for c in by_code.json()] == [shop.organisation.id]
    assert set(by_code.json()[0]) == {
        "organisation_id",
        "name",
        "credit_code",
        "verified_at",
        "next_verification_due",
        "listings_paused",
        "licences",
        "grade",
        "rule_version",
    }
    wildcard = await client.get(f"{CREDIT}/public", params={"q": "%"})
    assert wildcard.json() == []
    for bad in ({"q": ""}, {"q": "x" * 61}, {}):
        assert (await client.get(f"{CREDIT}/public", params=bad)).status_code == 422
    assert (await client.get(f"{CREDIT}/public/0")).status_code == 422
    assert (await client.get(f"{CREDIT}/public/999999")).status_code == 404
    user = await make_user(session)  # a user is not a merchant: nothing public
    assert (await client.get(f"{CREDIT}/public/{user.id + 10_000}")).status_code == 404

    page = await client.get("/credit/query", params={"q": "鲜果"})
    assert page.status_code == 200
    assert "邻里鲜果" in page.text
    assert "别家超市" not in page.text
    detail = await client.get(f"/credit/query/{shop.organisation.id}")
    assert code in detail.text
    assert 'data-testid="grade"><strong>B</strong>' in detail.text
    zh = await client.get(
        f"/credit/query/{shop.organisation.id}", headers={"Accept-Language": "zh-CN"}
    )
    assert "统一社会信用代码" in zh.text
    merchant_page = await client.get(f"/m/{shop.organisation.id}")
    assert 'data-testid="credit-grade"' in merchant_page.text
    assert "<strong>B</strong>" in merchant_page.text
    assert (await client.get("/credit/query/999999")).status_code == 404
    escaped = await client.get("/credit/query", params={"q": "<script>"})
    assert "<script>" not in escaped.text.split("<main", 1)[-1]


async def test_group_leader_applications_need_the_minimum_grade(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    await login(client, operator, organisation=platform)
    community = await client.post(
        "/api/v1/community/communities",
        json={
            "name": "张江汤臣豪园",
            "province_code": "310000",
            "city_code": "310100",
            "district_code": "310115",
            "address": "上海市浦东新区张江路1号",
            "latitude": 31.2031,
            "longitude": 121.5907,
        },
    )
    assert community.status_code == 201, community.text
    careless = await make_user(session, name="常不取货")
    careful = await make_user(session, name="按时取货")
    await publish(app, *(uncollected(careless.id, order_id=n) for n in range(1, 7)))  # 420: C
    application = {
        "community_id": community.json()["id"],
        "point_name": "3号楼门卫室",
        "point_address": "张江路1号3号楼",
        "opening_hours": "08:00-20:00",
        "daily_capacity": 120,
    }
    refused = await client.post(
        "/api/v1/community/leader-applications",
        json=application,
        headers=bearer(await make_token(session, careless, scopes=("resident",))),
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "credit_grade_too_low"
    assert "at least B; yours is C" in refused.json()["error"]["message"]
    accepted = await client.post(
        "/api/v1/community/leader-applications",
        json=application,
        headers=bearer(await make_token(session, careful, scopes=("resident",))),
    )
    assert accepted.status_code == 201, accepted.text


async def test_hostile_queries_get_a_clear_answer_never_a_500(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    shop = await a_shop_in_shanghai(client, session)
    for q in ("\x00", "邻里\x00", "\x1b[31m", "' OR 1=1 --", "_", "\\", "𝕏" * 60):
        for path in (f"{CREDIT}/public", "/credit/query"):
            answer = await client.get(path, params={"q": q})
            assert answer.status_code in (200, 422), (path, repr(q), answer.status_code)
            if path.startswith("/api") and answer.status_code == 200:
                assert answer.json() == []
    # Decay with the clock: the failed inspection halves after the next period boundary.
    await publish(app, inspection_failed(shop.organisation.id))
    first = (await client.get(f"{CREDIT}/public/{shop.organisation.id}")).json()
    assert first["grade"] == "B"  # 480
    frozen_clock.advance(timedelta(days=180))
    later = await client.get(f"{CREDIT}/merchant", headers=shop.headers)
    assert (later.json()["score"], later.json()["grade"]) == (540, "B")
    assert [line["factor"] for line in later.json()["explanation"]["lines"]] == ["1/2"]
    frozen_clock.advance(timedelta(days=5 * 180))
    gone = await client.get(f"{CREDIT}/merchant", headers=shop.headers)
    assert (gone.json()["score"], gone.json()["explanation"]["expired"]) == (600, 1)
