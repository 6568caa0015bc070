"""Reviews of verified purchases, from the outside: who may review, reply and hide, what
everyone else sees, and one review per line under a double submit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit.models import AuditEntry
from linli.catalog.models import Sku
from linli.clock import FrozenClock
from linli.config import Settings
from linli.files.models import StoredFile
from linli.notifications.models import Notification
from linli.protection.review_models import Review
from tests.factories import form_login, grant, login, make_org, make_token, make_user, png_bytes
from tests.groupbuy.helpers import Resident, Shop, a_shop, bearer, count
from tests.groupbuy.test_fulfilment import API as GROUPBUY
from tests.groupbuy.test_fulfilment import the_whole_loop

REVIEWS = "/api/v1/protection/reviews"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@dataclass
class Bought:
    shop: Shop
    buyer: Resident
    order_id: int
    rice_line: int  # collected (two of three bags)
    oil_line: int  # not collected
    product_id: int  # the rice's product


async def bought(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> Bought:
    """A resident's order of rice and oil, arrived at the point; two bags of rice collected."""
    world, buyer, order_id = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{GROUPBUY}/orders/{order_id}", headers=buyer.headers)).json()
    code = seen["order"]["pickup_code"]
    found = await client.get(
        f"{GROUPBUY}/pickup-points/{busy.id}/awaiting/{code}", headers=busy.leader.headers
    )
    rice_line, oil_line = (line["line_id"] for line in found.json()["lines"])
    picked = await client.post(
        f"{GROUPBUY}/pickup-points/{busy.id}/pickups",
        json={"code": code, "lines": [{"line_id": rice_line, "quantity": 2}]},
        headers=busy.leader.headers,
    )
    assert picked.status_code == 201, picked.text
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        sku = await s.get(Sku, world.sku_ids[0])
        assert sku is not None
        product_id = sku.product_id
    return Bought(world.shop, buyer, order_id, rice_line, oil_line, product_id)


def review_form(line_id: int, rating: int = 4, text: str = "米很香") -> dict[str, str]:
    return {"line_id": str(line_id), "rating": str(rating), "text": text}


async def a_resident(session: AsyncSession, *scopes: str) -> Resident:
    user = await make_user(session, name="邻居")
    token = await make_token(session, user, scopes=scopes or ("account", "resident"))
    return Resident(user, bearer(token))


async def test_a_resident_reviews_a_collected_line_once_with_a_photo(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    posted = await client.post(
        REVIEWS,
        data=review_form(b.rice_line, 5, "很好吃"),
        files={"photos": ("rice.png", png_bytes(), "image/png")},
        headers=b.buyer.headers,
    )
    assert posted.status_code == 201, posted.text
    review = posted.json()
    assert review["rating"] == 5
    assert review["text"] == "很好吃"
    assert review["product_id"] == b.product_id
    assert review["organisation_id"] == b.shop.organisation.id
    assert len(review["photo_urls"]) == 1
    assert (await client.get(review["photo_urls"][0])).status_code == 200  # public photo

    again = await client.post(REVIEWS, data=review_form(b.rice_line), headers=b.buyer.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_reviewed"

    listed = (await client.get(f"{REVIEWS}/products/{b.product_id}")).json()
    assert listed["summary"] == {
        "count": 1,
        "average": 5.0,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
        "hidden": 0,
    }
    assert [r["id"] for r in listed["reviews"]] == [review["id"]]
    merchant = (await client.get(f"{REVIEWS}/merchants/{b.shop.organisation.id}")).json()
    assert merchant["summary"]["count"] == 1
    mine = (await client.get(f"{REVIEWS}/mine", headers=b.buyer.headers)).json()
    assert [r["order_line_id"] for r in mine] == [b.rice_line]

    await app.state.dispatcher.run_once()
    told = await count(
        app,
        Notification,
        Notification.user_id == b.shop.owner.id,
        Notification.kind == "review_posted",
    )
    assert told == 1


async def test_only_the_buyer_of_a_collected_line_may_review_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    other = await a_resident(session)
    theirs = await client.post(REVIEWS, data=review_form(b.rice_line), headers=other.headers)
    assert theirs.status_code == 404
    missing = await client.post(REVIEWS, data=review_form(999_999), headers=b.buyer.headers)
    assert missing.status_code == 404
    uncollected = await client.post(REVIEWS, data=review_form(b.oil_line), headers=b.buyer.headers)
    assert uncollected.status_code == 409
    assert uncollected.json()["error"]["code"] == "not_collected"
    for rating in ("0", "6", "x"):
        bad = await client.post(
            REVIEWS, data=review_form(b.rice_line) | {"rating": rating}, headers=b.buyer.headers
        )
        assert bad.status_code == 422, rating
    too_long = await client.post(
        REVIEWS, data=review_form(b.rice_line, text="好" * 1001), headers=b.buyer.headers
    )
    assert too_long.status_code == 422
    not_an_image = await client.post(
        REVIEWS,
        data=review_form(b.rice_line),
        files={"photos": ("x.png", b"MZ\x90\x00 not an image", "image/png")},
        headers=b.buyer.headers,
    )
    assert not_an_image.status_code == 422
    no_scope = await a_resident(session, "account")
    refused = await client.post(REVIEWS, data=review_form(b.rice_line), headers=no_scope.headers)
    assert refused.status_code == 403
    assert await count(app, Review) == 0
    assert await count(app, StoredFile, StoredFile.purpose == "review") == 0


async def test_a_double_submit_stores_one_review_and_answers_409(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    answers = await asyncio.gather(
        *(
            client.post(REVIEWS, data=review_form(b.rice_line, r), headers=b.buyer.headers)
            for r in (3, 4)
        )
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    (conflict,) = [a for a in answers if a.status_code == 409]
    assert conflict.json()["error"]["code"] == "already_reviewed"
    assert await count(app, Review) == 1


async def test_the_merchant_replies_once_and_only_to_its_own_reviews(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    posted = await client.post(REVIEWS, data=review_form(b.rice_line, 2), headers=b.buyer.headers)
    review_id = posted.json()["id"]
    rival = await a_shop(client, session, name="隔壁超市")
    foreign = await client.post(
        f"{REVIEWS}/{review_id}/reply", json={"text": "谢谢"}, headers=rival.headers
    )
    assert foreign.status_code == 404
    assert (await client.get(f"{REVIEWS}/merchant", headers=rival.headers)).json()["reviews"] == []
    read_only = bearer(
        await make_token(
            session, b.shop.owner, scopes=("org:read",), organisation=b.shop.organisation
        )
    )
    awaiting = await client.get(f"{REVIEWS}/merchant?awaiting_reply=true", headers=read_only)
    assert [r["id"] for r in awaiting.json()["reviews"]] == [review_id]
    scoped_out = await client.post(
        f"{REVIEWS}/{review_id}/reply", json={"text": "谢谢"}, headers=read_only
    )
    assert scoped_out.status_code == 403
    resident = await client.post(
        f"{REVIEWS}/{review_id}/reply", json={"text": "谢谢"}, headers=b.buyer.headers
    )
    assert resident.status_code == 403

    staff = await make_user(session, name="店员")
    await grant(session, b.shop.organisation, staff, "staff")
    staff_headers = bearer(await make_token(session, staff, organisation=b.shop.organisation))
    replied = await client.post(
        f"{REVIEWS}/{review_id}/reply", json={"text": "抱歉，已改进"}, headers=staff_headers
    )
    assert replied.status_code == 200, replied.text
    assert replied.json()["reply_text"] == "抱歉，已改进"
    twice = await client.post(
        f"{REVIEWS}/{review_id}/reply", json={"text": "再说一次"}, headers=b.shop.headers
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "already_replied"
    awaiting = await client.get(f"{REVIEWS}/merchant?awaiting_reply=true", headers=read_only)
    assert awaiting.json()["reviews"] == []

    await app.state.dispatcher.run_once()
    told = await count(
        app,
        Notification,
        Notification.user_id == b.buyer.user.id,
        Notification.kind == "review_replied",
    )
    assert told == 1


async def test_hiding_needs_an_operator_and_a_legal_reason_and_only_operators_see_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    secret = "团长电话13912345678住3号楼"
    posted = await client.post(
        REVIEWS,
        data=review_form(b.rice_line, 1, secret),
        files={"photos": ("p.png", png_bytes(), "image/png")},
        headers=b.buyer.headers,
    )
    review = posted.json()
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    op_headers = bearer(await make_token(session, operator, organisation=platform))

    for body in ({"reason": "rude", "note": "x"}, {"reason": "personal_data", "note": ""}, {}):
        refused = await client.post(f"{REVIEWS}/{review['id']}/hide", json=body, headers=op_headers)
        assert refused.status_code == 422, body
    body = {"reason": "personal_data", "note": "电话号码"}
    for headers in (b.buyer.headers, b.shop.headers):
        assert (
            await client.post(f"{REVIEWS}/{review['id']}/hide", json=body, headers=headers)
        ).status_code == 403
    no_platform = bearer(
        await make_token(session, operator, scopes=("account",), organisation=platform)
    )
    assert (
        await client.post(f"{REVIEWS}/{review['id']}/hide", json=body, headers=no_platform)
    ).status_code == 403
    assert (await client.get(f"{REVIEWS}/hidden", headers=no_platform)).status_code == 403

    hidden = await client.post(f"{REVIEWS}/{review['id']}/hide", json=body, headers=op_headers)
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["hidden_reason"] == "personal_data"
    again = await client.post(f"{REVIEWS}/{review['id']}/hide", json=body, headers=op_headers)
    assert again.status_code == 409

    public = (await client.get(f"{REVIEWS}/products/{b.product_id}")).json()
    assert public["reviews"] == []
    assert public["summary"]["count"] == 0
    assert public["summary"]["hidden"] == 1
    mine = (await client.get(f"{REVIEWS}/mine", headers=b.buyer.headers)).json()
    assert mine[0]["hidden"] is True
    assert mine[0]["text"] is None
    reply = await client.post(
        f"{REVIEWS}/{review['id']}/reply", json={"text": "?"}, headers=b.shop.headers
    )
    assert reply.status_code == 404
    assert (await client.get(review["photo_urls"][0])).status_code == 404  # no longer public
    for page in (
        f"/p/{b.product_id}",
        f"/p/{b.product_id}/reviews",
        f"/m/{b.shop.organisation.id}",
    ):
        html = (await client.get(page)).text
        assert secret not in html
        assert 'data-hidden-count="1"' in html

    listed = (await client.get(f"{REVIEWS}/hidden", headers=op_headers)).json()
    assert [(r["id"], r["text"], r["hidden_note"]) for r in listed] == [
        (review["id"], secret, "电话号码")
    ]
    operator_sees = await client.get(f"{REVIEWS}/products/{b.product_id}", headers=op_headers)
    assert [r["text"] for r in operator_sees.json()["reviews"]] == [secret]
    async with app.state.sessionmaker() as s:
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "protection.review.hidden")
        )
    assert entry is not None
    assert entry.user_id == operator.id
    assert entry.details == {"reason": "personal_data", "note": "电话号码"}

    await login(client, operator, organisation=platform)
    ops_page = await client.get("/ops/reviews?hidden=true")
    assert ops_page.status_code == 200
    assert secret in ops_page.text


async def test_nobody_deletes_a_review(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    posted = await client.post(REVIEWS, data=review_form(b.rice_line), headers=b.buyer.headers)
    deleted = await client.delete(f"{REVIEWS}/{posted.json()['id']}", headers=b.buyer.headers)
    assert deleted.status_code in (404, 405)  # there is no such route
    async with app.state.sessionmaker() as s:
        row = await s.get(Review, posted.json()["id"])
        await s.delete(row)
        with pytest.raises(RuntimeError, match="never deleted"):
            await s.flush()
    if settings.database_kind == "postgresql":  # the database refuses too
        async with app.state.sessionmaker() as s:
            with pytest.raises(DBAPIError, match="never deleted"):
                await s.execute(text("DELETE FROM protection_reviews"))
    assert await count(app, Review) == 1


async def test_review_pages_escape_hostile_text_and_show_the_distribution(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    b = await bought(app, client, session, settings, frozen_clock)
    buyer_page = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with buyer_page:
        csrf = await form_login(buyer_page, b.buyer.user.phone)
        order = await buyer_page.get(f"/groupbuy/orders/{b.order_id}")
        assert f'data-review-line="{b.rice_line}"' in order.text
        assert f'data-review-line="{b.oil_line}"' not in order.text
        form = await buyer_page.get(f"/reviews/write/{b.rice_line}")
        assert form.status_code == 200
        not_collected = await buyer_page.get(f"/reviews/write/{b.oil_line}")
        assert not_collected.status_code == 409
        written = await buyer_page.post(
            f"/reviews/write/{b.rice_line}",
            data={"rating": "3", "text": HOSTILE, "csrf_token": csrf},
        )
        assert written.status_code == 303, written.text
        mine = await buyer_page.get("/reviews/mine")
        assert HOSTILE not in mine.text
        assert "&lt;script&gt;" in mine.text
        # Reviewed: the order page says so instead of offering the link again.
        order = await buyer_page.get(f"/groupbuy/orders/{b.order_id}")
        assert f'data-review-line="{b.rice_line}"' not in order.text
        assert f'data-reviewed-line="{b.rice_line}"' in order.text
        assert "Reviewed" in order.text

    for page in (
        f"/p/{b.product_id}",
        f"/p/{b.product_id}/reviews",
        f"/m/{b.shop.organisation.id}/reviews",
    ):
        html = (await client.get(page)).text
        assert HOSTILE not in html, page
        assert "&lt;script&gt;alert" in html, page
        assert 'data-rating="3" data-rating-n="1"' in html, page
    await login(client, b.shop.owner, organisation=b.shop.organisation)
    console = await client.get("/merchant/reviews?awaiting=true")
    assert console.status_code == 200
    assert "&lt;script&gt;alert" in console.text
    review_id = (await client.get(f"{REVIEWS}/products/{b.product_id}")).json()["reviews"][0]["id"]
    csrf = client.cookies.get("linli_csrf") or ""
    replied = await client.post(
        f"/merchant/reviews/{review_id}/reply", data={"text": HOSTILE, "csrf_token": csrf}
    )
    assert replied.status_code == 303, replied.text
    html = (await client.get(f"/p/{b.product_id}/reviews")).text
    assert "data-reply" in html
    assert HOSTILE not in html
    twice = await client.post(
        f"/merchant/reviews/{review_id}/reply", data={"text": "again", "csrf_token": csrf}
    )
    assert twice.status_code == 303  # back to the list with the reason as a flash
    async with app.state.sessionmaker() as s:
        row = await s.get(Review, review_id)
        assert row is not None
        assert row.reply_text == HOSTILE
