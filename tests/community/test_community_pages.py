"""The community pages: apply to lead, approve, and pick a pickup point, through forms."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.community.models import Community, PickupPoint, Residence
from linli.community.schemas import CommunityIn
from linli.community.service import create_community
from tests.factories import SYSTEM, form_login, make_org, make_user


async def test_lead_approve_and_pick_up_through_the_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    community = await create_community(
        session,
        SYSTEM,
        CommunityIn(
            name="联洋花园",
            province_code="310000",
            city_code="310100",
            district_code="310115",
            address="浦东新区长柳路",
            latitude=31.22,
            longitude=121.55,
        ),
    )
    await session.commit()
    community_id = community.id
    leader = await make_user(session, name="陈团长")
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    resident = await make_user(session, name="邻居")
    resident_id = resident.id

    await form_login(client, leader.phone)
    page = await client.get("/leaders/apply")
    assert "联洋花园" in page.text
    csrf = client.cookies.get(CSRF_COOKIE) or ""
    bad = await client.post(
        "/leaders/apply",
        data={
            "community_id": str(community_id),
            "point_name": "快递驿站",
            "point_address": "5号楼",
            "opening_hours": "8-20",
            "daily_capacity": "100",
            "csrf_token": csrf,
        },
    )
    assert bad.status_code == 422
    assert "快递驿站" in bad.text  # what was typed is kept
    good = await client.post(
        "/leaders/apply",
        data={
            "community_id": str(community_id),
            "point_name": "快递驿站",
            "point_address": "5号楼",
            "opening_hours": "08:00-20:00",
            "daily_capacity": "100",
            "csrf_token": csrf,
        },
    )
    assert good.status_code == 303
    await client.post("/logout", data={"csrf_token": csrf})

    await form_login(client, operator.phone)
    csrf = client.cookies.get(CSRF_COOKIE) or ""
    await client.post(
        "/account/switch", data={"organisation_id": str(platform.id), "csrf_token": csrf}
    )
    queue = await client.get("/ops/leaders")
    assert "快递驿站" in queue.text
    application_id = int(queue.text.split("/ops/leaders/")[1].split("/")[0])
    decided = await client.post(
        f"/ops/leaders/{application_id}/decision",
        data={"decision": "approve", "commission_percent": "6.5", "csrf_token": csrf},
    )
    assert decided.status_code == 303
    await client.post("/logout", data={"csrf_token": csrf})

    await session.rollback()
    point = await session.scalar(select(PickupPoint))
    assert point is not None
    point_id = point.id
    await form_login(client, resident.phone)
    csrf = client.cookies.get(CSRF_COOKIE) or ""
    listing = await client.get("/communities", params={"q": "联洋"})
    assert "陈团长" in listing.text
    joined = await client.post(
        "/communities/join",
        data={
            "community_id": str(community_id),
            "pickup_point_id": str(point_id),
            "csrf_token": csrf,
        },
    )
    assert joined.status_code == 303
    forged = await client.post(
        "/communities/join",
        data={"community_id": "99999999999999999999", "pickup_point_id": "x", "csrf_token": csrf},
    )
    assert forged.status_code == 303  # back to the page with the error shown
    await session.rollback()
    residence = await session.get(Residence, resident_id)
    assert residence is not None
    assert residence.pickup_point_id == point_id
    assert await session.get(Community, community_id) is not None


async def test_only_operators_see_the_review_queue(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    resident = await make_user(session)
    await form_login(client, resident.phone)
    assert (await client.get("/ops/leaders")).status_code == 403
    assert (await client.get("/ops/communities")).status_code == 403
