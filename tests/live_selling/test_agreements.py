"""Supply agreements between a merchant and a group leader (docs/live.md "Supply agreements"),
from the outside: the merchant offers at a commission rate within community's ceiling, the
leader of that point accepts or declines, either ends it; every move once, scoped to its
actor (anyone else: 404, nothing changed) and audited; the pages of both sides in both
languages."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.community.models import MAX_COMMISSION_BP
from linli.live.models import MAX_AGREEMENT_BP, SupplyAgreement
from linli.live.personal_data import export_live
from linli.web import CSRF_FIELD
from tests.factories import login
from tests.groupbuy.helpers import a_shop, residents
from tests.groupbuy.test_fulfilment import a_led_point
from tests.live_selling.helpers import LIVE
from tests.live_selling.test_fulfilment import audited

MERCHANT = f"{LIVE}/merchant/agreements"
LEADER = f"{LIVE}/leader/agreements"


async def statuses(app: FastAPI) -> list[tuple[int, str, str | None]]:
    async with app.state.sessionmaker() as s:
        rows = (await s.scalars(select(SupplyAgreement).order_by(SupplyAgreement.id))).all()
    return [(r.id, r.status, r.ended_by) for r in rows]


def test_the_ceiling_is_communitys() -> None:
    assert MAX_AGREEMENT_BP == MAX_COMMISSION_BP


async def test_an_offer_is_accepted_by_its_leader_and_ended_once_by_either_side(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rival = await a_shop(client, session, name="别家水果")
    point, other = await a_led_point(session), await a_led_point(session)
    (resident,) = await residents(session, 1)
    # Bad offers: refused, nothing stored.
    for body, status in (
        ({"pickup_point_id": point.id, "commission_bp": MAX_AGREEMENT_BP + 1}, 422),
        ({"pickup_point_id": point.id, "commission_bp": -1}, 422),
        ({"pickup_point_id": point.id, "commission_bp": "8%"}, 422),
        ({"pickup_point_id": point.id, "commission_bp": 800, "extra": 1}, 422),
        ({"pickup_point_id": 999999, "commission_bp": 800}, 404),
    ):
        refused = await client.post(MERCHANT, json=body, headers=shop.headers)
        assert refused.status_code == status, refused.text
    # A resident or a leader cannot offer (no merchant).
    for headers in (resident.headers, point.leader.headers):
        assert (
            await client.post(
                MERCHANT, json={"pickup_point_id": point.id, "commission_bp": 800}, headers=headers
            )
        ).status_code in (403, 404)
    assert await statuses(app) == []
    made = await client.post(
        MERCHANT,
        json={"pickup_point_id": point.id, "commission_bp": 800, "note": "苹果、梨"},
        headers=shop.headers,
    )
    assert made.status_code == 201, made.text
    offer = made.json()
    assert (offer["status"], offer["leader_user_id"], offer["commission_bp"]) == (
        "offered",
        point.leader.user.id,
        800,
    )
    assert offer["pickup_point_name"] == "3号楼门卫室"
    again = await client.post(
        MERCHANT, json={"pickup_point_id": point.id, "commission_bp": 900}, headers=shop.headers
    )
    assert (again.status_code, again.json()["error"]["code"]) == (409, "agreement_exists")
    # The leader sees it; another leader and the rival merchant see nothing and touch nothing.
    listed = await client.get(LEADER, headers=point.leader.headers)
    assert [(a["id"], a["organisation_name"]) for a in listed.json()] == [(offer["id"], "邻里鲜果")]
    assert (await client.get(LEADER, headers=other.leader.headers)).json() == []
    assert (await client.get(MERCHANT, headers=rival.headers)).json() == []
    for action in ("accept", "decline", "end"):
        foreign = await client.post(
            f"{LEADER}/{offer['id']}/{action}", headers=other.leader.headers
        )
        assert foreign.status_code == 404, foreign.text
    assert (
        await client.post(f"{MERCHANT}/{offer['id']}/end", headers=rival.headers)
    ).status_code == 404
    assert (
        await client.post(f"{LEADER}/{offer['id']}/approve", headers=point.leader.headers)
    ).status_code == 422
    assert await statuses(app) == [(offer["id"], "offered", None)]
    # Accepted once.
    accepted = await client.post(f"{LEADER}/{offer['id']}/accept", headers=point.leader.headers)
    assert accepted.json()["status"] == "accepted", accepted.text
    twice = await client.post(f"{LEADER}/{offer['id']}/decline", headers=point.leader.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "not_offered")
    # Ended by the merchant: once; the leader then finds it ended.
    ended = await client.post(f"{MERCHANT}/{offer['id']}/end", headers=shop.headers)
    assert (ended.json()["status"], ended.json()["ended_by"]) == ("ended", "merchant")
    late = await client.post(f"{LEADER}/{offer['id']}/end", headers=point.leader.headers)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "not_open")
    # A new offer may follow; the leader declines this one, and ends nothing declined.
    second = await client.post(
        MERCHANT, json={"pickup_point_id": point.id, "commission_bp": 500}, headers=shop.headers
    )
    assert second.status_code == 201, second.text
    declined = await client.post(
        f"{LEADER}/{second.json()['id']}/decline", headers=point.leader.headers
    )
    assert declined.json()["status"] == "declined"
    # A third, accepted and ended by the leader.
    third = await client.post(
        MERCHANT, json={"pickup_point_id": point.id, "commission_bp": 600}, headers=shop.headers
    )
    await client.post(f"{LEADER}/{third.json()['id']}/accept", headers=point.leader.headers)
    by_leader = await client.post(
        f"{LEADER}/{third.json()['id']}/end", headers=point.leader.headers
    )
    assert (by_leader.json()["status"], by_leader.json()["ended_by"]) == ("ended", "leader")
    assert await statuses(app) == [
        (offer["id"], "ended", "merchant"),
        (second.json()["id"], "declined", None),
        (third.json()["id"], "ended", "leader"),
    ]
    async with app.state.sessionmaker() as s:
        exported = await export_live(s, point.leader.user.id)  # the leader's PIPL export
    assert [a["status"] for a in exported["supply_agreements"]] == ["ended", "declined", "ended"]
    assert len(await audited(app, "live.agreement_offered")) == 3
    assert len(await audited(app, "live.agreement_accepted")) == 2
    assert len(await audited(app, "live.agreement_declined")) == 1
    ended_entries = await audited(app, "live.agreement_ended")
    assert sorted(e.details["ended_by"] for e in ended_entries) == ["leader", "merchant"]


async def test_two_concurrent_offers_make_one(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    point = await a_led_point(session)
    answers = await asyncio.gather(
        *(
            client.post(
                MERCHANT,
                json={"pickup_point_id": point.id, "commission_bp": 700},
                headers=shop.headers,
            )
            for _ in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(await statuses(app)) == 1


async def form(c: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    return await c.post(url, data={CSRF_FIELD: c.cookies.get(CSRF_COOKIE) or "", **data})


async def test_the_pages_offer_accept_and_end_in_both_languages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    point, other = await a_led_point(session), await a_led_point(session)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as merchant,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as leader,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger,
    ):
        await login(merchant, shop.owner, organisation=shop.organisation)
        await login(leader, point.leader.user)
        await login(stranger, other.leader.user)
        for lang, words in (
            ("en", "Supply agreements with group leaders"),
            ("zh-CN", "与团长的供货协议"),
        ):
            page = await merchant.get(
                "/merchant/live-agreements", headers={"Accept-Language": lang}
            )
            assert page.status_code == 200
            assert words in page.text
        bad = await form(
            merchant, "/merchant/live-agreements", pickup_point_id=point.id, commission_percent="31"
        )
        assert bad.status_code == 422
        assert 'data-agreement="' not in bad.text
        made = await form(
            merchant,
            "/merchant/live-agreements",
            pickup_point_id=point.id,
            commission_percent="7.5",
            note="<b>应季水果</b>",
        )
        assert made.status_code == 303, made.text
        ((agreement_id, status, _),) = await statuses(app)
        async with app.state.sessionmaker() as s:
            row = await s.get(SupplyAgreement, agreement_id)
        assert row is not None
        assert (status, row.commission_bp) == ("offered", 750)
        for lang, words in (("en", "Accept the offer"), ("zh-CN", "接受邀约")):
            page = await leader.get("/leader/live-agreements", headers={"Accept-Language": lang})
            assert f'data-agreement="{agreement_id}"' in page.text
            assert words in page.text
            assert "&lt;b&gt;应季水果&lt;/b&gt;" in page.text  # escaped
        nothing = await stranger.get("/leader/live-agreements")
        assert 'data-agreement="' not in nothing.text
        assert (
            await form(stranger, f"/leader/live-agreements/{agreement_id}/accept")
        ).status_code == 404
        accepted = await form(leader, f"/leader/live-agreements/{agreement_id}/accept")
        assert accepted.status_code == 303
        assert (await statuses(app))[0][1] == "accepted"
        ended = await form(merchant, f"/merchant/live-agreements/{agreement_id}/end")
        assert ended.status_code == 303
        assert (await statuses(app))[0][1:] == ("ended", "merchant")
