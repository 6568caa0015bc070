"""Arranging supervision tests: Pudong's regulator (a supervisor and four inspectors), five
merchants registered in Pudong, one in Minhang with its own regulator, and a platform
operator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation, User
from tests.factories import grant, make_org, make_token, make_user
from tests.groupbuy.helpers import bearer

PLANS = "/api/v1/supervision/plans"
REPORTS = "/api/v1/supervision/reports"
DISCLOSURE = "/api/v1/supervision/disclosure/inspections"
PUDONG = "310115"
MINHANG = "310112"


def region(district: str) -> dict[str, str]:
    return {
        "province_code": district[:2] + "0000",
        "city_code": district[:4] + "00",
        "district_code": district,
    }


@dataclass
class Officer:
    user: User
    headers: dict[str, str]


@dataclass
class Supervision:
    regulator: Organisation
    supervisor: Officer
    inspectors: list[Officer]
    merchants: list[Organisation]
    far_regulator: Organisation
    far_supervisor: Officer
    far_merchant: Organisation
    operator: Officer

    def officer(self, user_id: int) -> Officer:
        return next(o for o in [self.supervisor, *self.inspectors] if o.user.id == user_id)


async def a_supervision(
    session: AsyncSession, *, inspectors: int = 4, merchants: int = 5
) -> Supervision:
    boss = await make_user(session, name="科长")
    regulator = await make_org(
        session, "regulator", name="浦东新区市场监管局", owner=boss, **region(PUDONG)
    )
    officers = []
    for i in range(inspectors):
        user = await make_user(session, name=f"检查员{i}")
        await grant(session, regulator, user, "inspector")
        officers.append(
            Officer(user, bearer(await make_token(session, user, organisation=regulator)))
        )
    shops = [
        await make_org(
            session, "merchant", name=f"浦东商户{i}", owner=None, role=None, **region(PUDONG)
        )
        for i in range(merchants)
    ]
    far_boss = await make_user(session, name="闵行科长")
    far = await make_org(
        session, "regulator", name="闵行区市场监管局", owner=far_boss, **region(MINHANG)
    )
    far_shop = await make_org(
        session, "merchant", name="闵行商户", owner=None, role=None, **region(MINHANG)
    )
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    return Supervision(
        regulator=regulator,
        supervisor=Officer(boss, bearer(await make_token(session, boss, organisation=regulator))),
        inspectors=officers,
        merchants=shops,
        far_regulator=far,
        far_supervisor=Officer(
            far_boss, bearer(await make_token(session, far_boss, organisation=far))
        ),
        far_merchant=far_shop,
        operator=Officer(
            operator, bearer(await make_token(session, operator, organisation=platform))
        ),
    )


def plan_body(**changes: Any) -> dict[str, Any]:
    body = {
        "name": "2026年第四季度食品经营者双随机抽查",
        "inspection_type": "food_safety",
        "period_start": "2026-11-01",
        "period_end": "2026-12-31",
        "target_count": 3,
    }
    return body | changes


async def drawn_plan(client: httpx.AsyncClient, s: Supervision, **changes: Any) -> dict[str, Any]:
    created = await client.post(PLANS, json=plan_body(**changes), headers=s.supervisor.headers)
    assert created.status_code == 201, created.text
    drawn = await client.post(f"{PLANS}/{created.json()['id']}/draw", headers=s.supervisor.headers)
    assert drawn.status_code == 200, drawn.text
    plan: dict[str, Any] = drawn.json()
    return plan
