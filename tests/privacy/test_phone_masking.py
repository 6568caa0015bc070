"""Phone numbers are masked (138****1234) for everyone but the owner, asked from outside for
each role that meets a resident's or a contact's number (docs/privacy.md lists each place)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.phone import mask_phone, national_number
from tests.factories import login, make_merchant, make_org, make_user
from tests.groupbuy.helpers import bearer
from tests.groupbuy.test_fulfilment import the_whole_loop

API = "/api/v1/groupbuy"


def assert_masked(text: str, phone: str) -> None:
    assert national_number(phone) not in text
    assert phone not in text
    assert mask_phone(phone) in text


async def test_leader_and_merchant_see_residents_numbers_masked_the_owner_in_full(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    phone = buyer.user.phone

    # The owner: in full, through the API and on the account page.
    me = await client.get("/api/v1/accounts/me", headers=buyer.headers)
    assert me.json()["phone"] == phone
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with browser:
        await login(browser, buyer.user)
        page = await browser.get("/account")
        assert national_number(phone) in page.text

    # The group leader at the pickup desk: the sorting list names the resident with a masked
    # number (enough to tell two neighbours apart); the order found by code carries no number.
    sorting = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list", headers=busy.leader.headers
    )
    assert sorting.status_code == 200, sorting.text
    assert_masked(sorting.text, phone)
    csv = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list.csv", headers=busy.leader.headers
    )
    assert csv.status_code == 200
    assert_masked(csv.text, phone)
    seen = (await client.get(f"{API}/orders/{mine}", headers=buyer.headers)).json()["order"]
    desk = await client.get(
        f"{API}/pickup-points/{busy.id}/awaiting/{seen['pickup_code']}",
        headers=busy.leader.headers,
    )
    assert desk.status_code == 200, desk.text
    assert national_number(phone) not in desk.text
    assert national_number(phone)[-4:] not in desk.text

    # The merchant: the same sorting list for its campaign, masked.
    merchant = await client.get(
        f"{API}/pickup-points/{busy.id}/sorting-list",
        params={"campaign_id": world.campaign["id"]},
        headers=world.shop.headers,
    )
    assert merchant.status_code == 200, merchant.text
    assert_masked(merchant.text, phone)


async def test_operators_see_an_applicants_contact_number_masked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session, name="申请人")
    organisation = await make_merchant(session, owner)
    operator = await make_user(session, name="审核员")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    contact = "+8613900000000"

    operators = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with operators:
        await login(operators, operator, organisation=platform)
        listed = await operators.get("/api/v1/merchants/applications")
        assert listed.status_code == 200, listed.text
        assert [a["contact_phone"] for a in listed.json()] == ["139****0000"]
        assert national_number(contact) not in listed.text

    applicant = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with applicant:
        await login(applicant, owner, as_resident=True)
        own = await applicant.get("/api/v1/merchants/applications")
        assert own.status_code == 200, own.text
        assert [a["contact_phone"] for a in own.json()] == [contact]
    assert organisation.id


async def test_members_of_an_organisation_see_each_other_masked(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session, name="店主")
    staff = await make_user(session, name="店员")
    organisation = await make_org(session, "merchant", owner=owner)
    from tests.factories import grant, make_token

    await grant(session, organisation, staff, "staff")
    headers = bearer(await make_token(session, owner, organisation=organisation))
    members = await client.get(f"/api/v1/organisations/{organisation.id}/members", headers=headers)
    assert members.status_code == 200, members.text
    phones = {m["display_name"]: m["phone"] for m in members.json()}
    assert phones["店主"] == owner.phone
    assert phones["店员"] == mask_phone(staff.phone)
    page = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with page:
        await login(page, staff, organisation=organisation)
        shown = await page.get(f"/orgs/{organisation.id}")
        assert shown.status_code == 200, shown.text
        assert_masked(shown.text, owner.phone)


async def test_no_party_to_a_complaint_or_return_sees_the_residents_number(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """The authorisation matrix's world: a complaint in the regulator's jurisdiction, a
    return at the leader's point, a review; each party reads them over HTTP."""
    from tests.test_authz_matrix import build_world

    world, users, opened = await build_world(app, client, session, settings, frozen_clock)
    try:
        phone = users["resident"].phone
        complaint = world.params["complaint_id"]
        asked = {
            "regulator": [
                f"/api/v1/protection/complaints/{complaint}",
                "/api/v1/protection/complaints/jurisdiction",
                f"/protection/complaints/{complaint}",
                "/regulator/complaints",
            ],
            "owner": [
                f"/api/v1/protection/complaints/{complaint}",
                "/api/v1/protection/returns/merchant",
                "/api/v1/protection/reviews/merchant",
                f"/protection/complaints/{complaint}",
            ],
            "leader": ["/api/v1/protection/returns/leader"],
            "operator": [
                "/api/v1/protection/complaints/platform",
                "/ops/complaints",
                "/ops/reviews",
            ],
        }
        for role, paths in asked.items():
            for path in paths:
                answer = await world.sessions[role].get(path)
                assert answer.status_code == 200, (role, path, answer.status_code)
                assert national_number(phone) not in answer.text, (role, path)
                assert national_number(phone)[-4:] not in answer.text or (
                    mask_phone(phone) in answer.text
                ), (role, path)
    finally:
        for c in opened:
            await c.aclose()
