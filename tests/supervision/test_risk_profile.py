"""A merchant's risk profile, explained (HTTP): credit's class by score, the high-risk category
step, alerts per rule and the authority's cases, each with its points; the regulator with
jurisdiction sees it (API and page, both languages), another authority gets 404, merchants,
residents and the public never see it."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.supervision.alert_models import Alert
from tests.factories import form_login, login, make_merchant, make_token, make_user
from tests.groupbuy.helpers import bearer
from tests.supervision.world import a_world

API = "/api/v1/supervision"


def _client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url="http://testserver")


def _alert(merchant_id: int, regulator_id: int, rule_id: str, severity: str, count: int) -> Alert:
    now = clock.now()
    return Alert(
        rule_id=rule_id,
        rule_version=1,
        rule_jurisdiction="CN",
        severity=severity,
        organisation_id=merchant_id,
        regulator_organisation_id=regulator_id,
        subject=rule_id,
        dedupe_key=f"{rule_id}|{merchant_id}",
        status="open",
        count=count,
        summary="",
        inputs={},
        evidence=[],
        first_at=now,
        last_at=now,
    )


async def test_the_profile_explains_each_factor_to_the_regulator_with_jurisdiction_only(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    owner = await make_user(session, name="鲜果店主")
    shop = await make_merchant(session, owner, name="浦东鲜果", scope=("fresh_food",))
    shop.province_code, shop.city_code, shop.district_code = "310000", "310100", "310115"
    session.add(_alert(shop.id, w.regulator.id, "supervision.price_gouging", "high", 2))
    session.add(_alert(shop.id, w.regulator.id, "supervision.complaint_rate", "medium", 1))
    # another authority's alert of the same merchant is not this authority's to count
    session.add(_alert(shop.id, w.far.id, "supervision.licence_lapsed", "high", 3))
    await session.commit()

    officer = _client(client)
    await login(officer, w.officer, organisation=w.regulator)
    opened = await officer.post(f"{API}/cases", json={"organisation_id": shop.id, "title": "x"})
    assert opened.status_code == 201, opened.text
    decided = await officer.post(
        f"{API}/cases/{opened.json()['id']}/decision",
        json={
            "decision": "penalty",
            "summary": "罚款",
            "legal_basis": "《价格法》第四十条",
            "penalty_fen": 500000,
        },
    )
    assert decided.status_code == 200, decided.text

    got = await officer.get(f"{API}/merchants/{shop.id}/risk")
    assert got.status_code == 200, got.text
    body = got.json()
    factors = {(f["kind"], f["subject"]): f for f in body["factors"]}
    assert factors[("credit_class", "B")]["points"] == 10  # score 600: class B by credit
    assert factors[("credit_class", "B")]["details"]["score"] == 600
    assert factors[("category", "fresh_food")]["points"] == 10
    assert factors[("category", "fresh_food")]["details"]["final_class"] == "C"
    assert body["risk_class"] == "C"
    assert factors[("alerts", "supervision.price_gouging")]["points"] == 20  # 2 x high 10
    assert factors[("alerts", "supervision.complaint_rate")]["points"] == 5  # 1 x medium 5
    assert factors[("cases", "penalty")]["points"] == 15
    assert body["total"] == sum(f["points"] for f in body["factors"]) == 60
    assert body["level"] == "high"
    assert body["rule_id"] == "supervision.risk_profile"

    # An inspector of the authority reads it too.
    inspector = bearer(await make_token(session, w.inspector, organisation=w.regulator))
    assert (
        await client.get(f"{API}/merchants/{shop.id}/risk", headers=inspector)
    ).status_code == 200

    # The page, in both languages, linked from the case and the alert queue.
    page = _client(client)
    await form_login(page, w.officer.phone)
    await page.put(
        "/api/v1/accounts/me/active-organisation",
        json={"organisation_id": w.regulator.id},
        headers={"X-CSRF-Token": page.cookies.get("linli_csrf") or ""},
    )
    shown = await page.get(f"/regulator/merchants/{shop.id}/risk")
    assert shown.status_code == 200
    assert 'data-level="high"' in shown.text
    assert 'data-factor="alerts"' in shown.text
    zh = await page.get(
        f"/regulator/merchants/{shop.id}/risk", headers={"Accept-Language": "zh-CN"}
    )
    assert "风险画像" in zh.text
    case_page = await page.get(f"/regulator/cases/{opened.json()['id']}")
    assert f"/regulator/merchants/{shop.id}/risk" in case_page.text
    queue = await page.get("/regulator/alerts")
    assert f"/regulator/merchants/{shop.id}/risk" in queue.text

    # Another authority: 404, as for a merchant that does not exist.
    far = bearer(await make_token(session, w.far_officer, organisation=w.far))
    assert (await client.get(f"{API}/merchants/{shop.id}/risk", headers=far)).status_code == 404
    assert (await officer.get(f"{API}/merchants/999999/risk")).status_code == 404
    # The merchant itself, a resident and the public: never.
    merchant = bearer(await make_token(session, owner, organisation=shop))
    resident = bearer(await make_token(session, owner, scopes=("resident",)))
    for headers in (merchant, resident, {}):
        answer = await client.get(f"{API}/merchants/{shop.id}/risk", headers=headers)
        assert answer.status_code in (401, 403)
        assert "risk_class" not in answer.text
    merchant_page = _client(client)
    await form_login(merchant_page, owner.phone)
    seen = await merchant_page.get(f"/regulator/merchants/{shop.id}/risk")
    assert seen.status_code == 403
    assert "price_gouging" not in seen.text
    anonymous = await _client(client).get(f"/regulator/merchants/{shop.id}/risk")
    assert anonymous.status_code in (303, 401)
    for c in (officer, page, merchant_page):
        await c.aclose()
