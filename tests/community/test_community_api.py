"""Communities, pickup points, group-leader applications and residences."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.community.models import Leader, PickupPoint, Residence
from linli.notifications.models import Notification
from tests.factories import login, make_org, make_user

COMMUNITY = {
    "name": "张江汤臣豪园",
    "province_code": "310000",
    "city_code": "310100",
    "district_code": "310115",
    "address": "上海市浦东新区张江路1号",
    "latitude": 31.2031,
    "longitude": 121.5907,
}


async def operator_client(client: httpx.AsyncClient, session: AsyncSession) -> None:
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    await login(client, operator, organisation=platform)


async def make_community(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/community/communities", json={**COMMUNITY, **overrides})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_operators_create_communities_and_residents_cannot(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    resident = await make_user(session)
    await login(client, resident)
    refused = await client.post("/api/v1/community/communities", json=COMMUNITY)
    assert refused.status_code == 403
    await client.post("/api/v1/accounts/logout")
    await operator_client(client, session)
    community = await make_community(client)
    assert community["latitude"] == 31.2031
    assert community["pickup_points"] == []
    bad = await client.post(
        "/api/v1/community/communities", json={**COMMUNITY, "district_code": "320115"}
    )
    assert bad.status_code == 422
    outside = await client.post(
        "/api/v1/community/communities", json={**COMMUNITY, "latitude": 60.0}
    )
    assert outside.status_code == 422
    found = await client.get("/api/v1/community/communities", params={"q": "汤臣"})
    assert [c["name"] for c in found.json()] == ["张江汤臣豪园"]
    wildcard = await client.get("/api/v1/community/communities", params={"q": "%"})
    assert wildcard.json() == []


async def leader_flow(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> tuple[dict[str, Any], dict[str, Any], int]:
    await operator_client(client, session)
    community = await make_community(client)
    await client.post("/api/v1/accounts/logout")
    leader = await make_user(session, name="王团长")
    leader_id = leader.id
    await login(client, leader)
    applied = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "3号楼门卫室",
            "point_address": "张江路1号3号楼",
            "opening_hours": "08:00-20:00",
            "daily_capacity": 120,
            "motivation": "我在小区开便利店",
        },
    )
    assert applied.status_code == 201, applied.text
    again = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "另一个",
            "point_address": "别处",
            "opening_hours": "08:00-20:00",
            "daily_capacity": 10,
        },
    )
    assert again.status_code == 409
    self_approve = await client.post(
        f"/api/v1/community/leader-applications/{applied.json()['id']}/decision",
        json={"approve": True, "commission_bp": 3000},
    )
    assert self_approve.status_code == 403
    await client.post("/api/v1/accounts/logout")
    await operator_client(client, session)
    url = f"/api/v1/community/leader-applications/{applied.json()['id']}/decision"
    no_rate = await client.post(url, json={"approve": True})
    assert no_rate.status_code == 422
    too_high = await client.post(url, json={"approve": True, "commission_bp": 3001})
    assert too_high.status_code == 422
    approved = await client.post(url, json={"approve": True, "commission_bp": 500})
    assert approved.status_code == 200, approved.text
    await client.post("/api/v1/accounts/logout")
    await app.state.dispatcher.run_once()
    return community, approved.json(), leader_id


async def test_an_approved_leader_gets_a_pickup_point_and_a_commission_rate(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    community, application, leader_id = await leader_flow(app, client, session)
    assert application["status"] == "approved"
    point = await session.get(PickupPoint, application["pickup_point_id"])
    assert point is not None
    assert (point.leader_user_id, point.name, point.daily_capacity) == (
        leader_id,
        "3号楼门卫室",
        120,
    )
    leader = await session.get(Leader, leader_id)
    assert leader is not None
    assert leader.commission_bp == 500
    public = (await client.get(f"/api/v1/community/communities/{community['id']}")).json()
    assert [(p["name"], p["leader_name"]) for p in public["pickup_points"]] == [
        ("3号楼门卫室", "王团长")
    ]
    assert "phone" not in str(public)
    kinds = (
        await session.scalars(select(Notification.kind).where(Notification.user_id == leader_id))
    ).all()
    assert "leader_approved" in kinds


async def test_residents_join_a_community_at_one_of_its_pickup_points(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    community, application, _leader = await leader_flow(app, client, session)
    await client.post("/api/v1/accounts/logout")
    await operator_client(client, session)
    elsewhere = await make_community(client, name="金桥碧云")
    await client.post("/api/v1/accounts/logout")
    resident = await make_user(session, name="李阿姨")
    resident_id = resident.id
    await login(client, resident)
    assert (await client.get("/api/v1/community/me/residence")).json() is None
    wrong = await client.put(
        "/api/v1/community/me/residence",
        json={"community_id": elsewhere["id"], "pickup_point_id": application["pickup_point_id"]},
    )
    assert wrong.status_code == 422
    joined = await client.put(
        "/api/v1/community/me/residence",
        json={"community_id": community["id"], "pickup_point_id": application["pickup_point_id"]},
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["pickup_point"]["name"] == "3号楼门卫室"
    mine = (await client.get("/api/v1/community/me/residence")).json()
    assert mine["community_name"] == "张江汤臣豪园"
    await session.rollback()
    count = await session.scalar(select(func.count()).select_from(Residence))
    assert count == 1
    residence = await session.get(Residence, resident_id)
    assert residence is not None
    assert residence.pickup_point_id == application["pickup_point_id"]


async def test_rejection_needs_a_reason_and_opens_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await operator_client(client, session)
    community = await make_community(client)
    await client.post("/api/v1/accounts/logout")
    hopeful = await make_user(session)
    await login(client, hopeful)
    applied = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "车库",
            "point_address": "地下一层",
            "opening_hours": "25:00-20:00",
            "daily_capacity": 0,
        },
    )
    assert applied.status_code == 422
    assert set(applied.json()["error"]["fields"]) == {"opening_hours", "daily_capacity"}
    applied = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "车库",
            "point_address": "地下一层",
            "opening_hours": "09:00-18:00",
            "daily_capacity": 30,
        },
    )
    await client.post("/api/v1/accounts/logout")
    await operator_client(client, session)
    url = f"/api/v1/community/leader-applications/{applied.json()['id']}/decision"
    assert (await client.post(url, json={"approve": False})).status_code == 422
    rejected = await client.post(url, json={"approve": False, "reason": "场地不适合存放生鲜"})
    assert rejected.json()["status"] == "rejected"
    assert await session.scalar(select(func.count()).select_from(PickupPoint)) == 0


async def test_applicants_see_only_their_own_applications_and_points(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    community, approved, leader_id = await leader_flow(app, client, session)
    leader = await session.get(User, leader_id)
    assert leader is not None
    await session.commit()  # end the read, so that logging in can write (SQLite)
    await login(client, leader)
    assert "3号楼门卫室" in (await client.get("/leader")).text
    await client.post("/api/v1/accounts/logout")
    other = await make_user(session, name="李邻居")
    await login(client, other)
    applied = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "6号楼快递柜",
            "point_address": "张江路1号6号楼",
            "opening_hours": "09:00-21:00",
            "daily_capacity": 50,
        },
    )
    assert applied.status_code == 201, applied.text
    mine = (await client.get("/api/v1/community/leader-applications")).json()
    assert [a["id"] for a in mine] == [applied.json()["id"]]
    leader_page = await client.get("/leader")
    assert leader_page.status_code == 200
    assert "3号楼门卫室" not in leader_page.text  # the other leader's point
    await client.post("/api/v1/accounts/logout")
    await operator_client(client, session)
    every = (await client.get("/api/v1/community/leader-applications")).json()
    assert {a["id"] for a in every} == {approved["id"], applied.json()["id"]}
