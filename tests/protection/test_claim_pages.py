"""The quality-claim pages, as three people's browsers: the resident claims from the order
page with a photo and follows the countdown, the merchant decides (overdue in red), the
operator decides escalated claims and reviews abuse flags; bad forms come back with the
reason, never a 500, and other people's ids are 404."""

from __future__ import annotations

import html
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.community.models import PickupPoint
from linli.config import Settings
from linli.protection.claim_models import ClaimAbuseFlag, QualityClaim
from tests.factories import make_org, make_user, png_bytes
from tests.groupbuy.test_fulfilment_pages import browser
from tests.protection.helpers import collected

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


async def claim_rows(app: FastAPI) -> list[QualityClaim]:
    async with app.state.sessionmaker() as s:
        return list((await s.scalars(select(QualityClaim).order_by(QualityClaim.id))).all())


async def test_a_claim_through_the_pages_from_the_order_to_the_platform(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    shop = bought.world.shop
    async with browser(app, bought.buyer.user) as (me, csrf):
        order = await me.get(f"/groupbuy/orders/{bought.order_id}")
        assert f'href="/claims/new/{bought.oil_line}"' in order.text
        form = await me.get(f"/claims/new/{bought.oil_line}")
        assert form.status_code == 200
        assert "Defective goods" in form.text
        zh = await me.get(f"/claims/new/{bought.oil_line}", headers=ZH)
        assert "质量" in zh.text
        no_photo = await me.post(
            "/claims",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.oil_line),
                "quantity": "1",
                "reason_code": "defective",
                "description": "漏油",
            },
        )
        assert no_photo.status_code == 303
        assert no_photo.headers["location"] == f"/claims/new/{bought.oil_line}"
        garbage = await me.post(
            "/claims",
            data={"csrf_token": csrf, "line_id": "x", "quantity": "", "amount": "abc"},
        )
        assert garbage.status_code == 303
        assert await claim_rows(app) == []
        filed = await me.post(
            "/claims",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.oil_line),
                "quantity": "1",
                "reason_code": "defective",
                "description": "<b>漏油</b>",
                "amount": "20.00",
            },
            files={"photo": ("leak.png", png_bytes(), "image/png")},
        )
        assert filed.status_code == 303, filed.text
        assert filed.headers["location"] == "/claims"
        mine = await me.get("/claims")
        assert "Waiting for the merchant" in mine.text
        assert "&lt;b&gt;漏油&lt;/b&gt;" in mine.text  # the resident's words, escaped
        assert "1 d 0 h left" in mine.text  # the merchant's 24 hours, counting down
        assert "¥20.00" in mine.text
    (made,) = await claim_rows(app)
    assert made.requested_fen == 2000
    photo_url = f"/claims/{made.id}/photos/{made.photo_file_ids[0]}"

    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/claims")
        assert f'data-claim="{made.id}"' in listing.text
        assert f'href="{photo_url}"' in listing.text
        assert (await merchant.get(photo_url)).status_code == 200
        assert "data-overdue" not in listing.text
        no_reason = await merchant.post(
            f"/merchant/claims/{made.id}/decide", data={"csrf_token": csrf, "uphold": "0"}
        )
        assert no_reason.status_code == 303  # a rejection needs a note: back with the reason
        assert (await claim_rows(app))[0].status == "filed"
    # Nobody decides for 24 hours: overdue in red, then with the platform.
    frozen_clock.advance(timedelta(hours=24, minutes=1))
    async with browser(app, shop.owner, shop.organisation) as (merchant, csrf):
        listing = await merchant.get("/merchant/claims")
        assert "data-overdue" in listing.text
        assert 'class="bad"' in listing.text
    await app.state.dispatcher.run_once()
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    async with browser(app, operator, platform) as (ops, csrf):
        queue = await ops.get("/platform/claims")
        assert f'data-claim="{made.id}"' in queue.text
        assert (await ops.get(photo_url)).status_code == 200
        history = await ops.get(f"/platform/claims/residents/{bought.buyer.user.id}")
        assert f'data-claim="{made.id}"' in history.text
        decided = await ops.post(
            f"/platform/claims/{made.id}/decide",
            data={"csrf_token": csrf, "uphold": "1", "amount": "15.00", "note": "部分支持"},
        )
        assert decided.status_code == 303
    (made,) = await claim_rows(app)
    assert (made.status, made.outcome, made.refunded_fen) == ("refunded", "partly", 1500)
    async with browser(app, bought.buyer.user) as (me, _csrf):
        claims_page = html.unescape((await me.get("/claims")).text)
        assert "Upheld in part" in claims_page
        assert "by the platform" in claims_page
        order = await me.get(f"/groupbuy/orders/{bought.order_id}")
        assert "1 claimed for" in order.text


async def test_other_peoples_claims_are_404_and_flags_are_the_platforms(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    nosy = await make_user(session, name="邻居")
    async with browser(app, nosy) as (other, csrf):
        assert (await other.get(f"/claims/new/{bought.rice_line}")).status_code == 404
        filed = await other.post(
            "/claims",
            data={
                "csrf_token": csrf,
                "line_id": str(bought.rice_line),
                "quantity": "1",
                "reason_code": "defective",
                "description": "x",
            },
            files={"photo": ("x.png", png_bytes(), "image/png")},
        )
        assert filed.status_code == 303  # back with "No such order line."
        assert "No claims yet." in (await other.get("/claims")).text
        assert (await other.get("/platform/claims")).status_code == 403
    assert await claim_rows(app) == []
    # An operator reviews a flag from the platform page, with a reason.
    async with app.state.sessionmaker() as s:
        point = await s.get(PickupPoint, bought.world.points[0].id)
        assert point is not None
        flag = ClaimAbuseFlag(
            user_id=bought.buyer.user.id,
            community_id=point.community_id,
            status="open",
            claims=4,
            collected_lines=5,
            resident_rate_bp=8000,
            community_rate_bp=500,
            lookback_days=90,
            rule_id="consumer.quality_claim",
            rule_version=1,
            created_at=frozen_clock.now(),
            review_reason="",
        )
        s.add(flag)
        await s.commit()
        flag_id = flag.id
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    async with browser(app, operator, platform) as (ops, csrf):
        page = await ops.get("/platform/claims", headers=ZH)
        assert f'data-flag="{flag_id}"' in page.text
        assert "80.0%" in page.text
        no_reason = await ops.post(
            f"/platform/claims/flags/{flag_id}/review", data={"csrf_token": csrf, "confirm": "1"}
        )
        assert no_reason.status_code == 303
        confirmed = await ops.post(
            f"/platform/claims/flags/{flag_id}/review",
            data={"csrf_token": csrf, "confirm": "1", "reason": "照片重复使用"},
        )
        assert confirmed.status_code == 303
    async with app.state.sessionmaker() as s:
        row = await s.get(ClaimAbuseFlag, flag_id)
        assert row is not None
        assert (row.status, row.review_reason) == ("confirmed", "照片重复使用")
