"""Hostile text in every user-controlled field, on every page template and public JSON answer.

A demo city (`linli demo`: merchants, products, campaigns, orders, pickups, batches with their
journeys, a recall, applications, notifications) is seeded, then every free-text column people
fill in (names, addresses, titles, descriptions, reasons, EPCIS fields, ...) is overwritten
with hostile strings: `<script>`, quotes that try to leave an attribute, `javascript:` URLs,
the right-to-left override U+202E and, where a column has no limit, 10,000 characters. Every
page reachable by anonymous visitors, a resident, a group leader, a merchant owner, a regulator
and a platform operator is then loaded (one page per kind of address), plus the forms' error
re-renders. No answer may be a 5xx, and no hostile value may come out as markup: no live tag,
no attribute of ours, no `javascript:` link.

Every template on disk must have been rendered in the process: a new template that no request
here reaches fails the test until it is covered.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import String, Text, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import linli.models  # noqa: F401  (every table on the metadata)
from linli.accounts.identity import CSRF_COOKIE
from linli.accounts.models import Membership, Organisation, User
from linli.catalog.models import Sku
from linli.community.models import PickupPoint
from linli.config import Settings
from linli.db import Base, make_engine
from linli.demo.seed import DEMO_PASSWORD
from linli.groupbuy.models import Campaign, CampaignItem, Order, OrderLine
from linli.live.models import (
    LiveGoods,
    LiveOrder,
    LiveSession,
    Pin,
    Room,
    Streamer,
    SupplyAgreement,
)
from linli.payments.models import PaymentIntent
from linli.protection.claim_models import ClaimAbuseFlag, QualityClaim
from linli.protection.return_models import ReturnRequest
from linli.protection.review_models import Review
from linli.services import join
from linli.services.models import (
    Booking,
    ConsultationRecord,
    Course,
    Enrolment,
    Practitioner,
    Prescription,
    Slot,
    WeeklySlot,
)
from linli.supervision.plan_models import InspectionPlan, InspectionTarget
from linli.supervision.report_models import Report
from linli.trace.models import TraceBatch
from linli.web import TEMPLATES_DIR
from tests.factories import category_id
from tests.live import DEMO_CITY, database_from_template, drop_database, seeded_template

SCRIPT = "<script>alert(1)</script>"
FULL = (
    "\u202e\"'><script>alert(1)</script><img src=x onerror=alert(1)>"
    '<a href="javascript:alert(1)">x</a>'
)
SHORT = "\"'><svg onload=alert(1)>\u202e"
TINY = "<b onclick=1>\u202e"
LONG = FULL + "长" * 10_000
JAVASCRIPT_URL = "javascript:alert(1)"
SEED = DEMO_CITY  # the city the browser tests serve, with a few days of history
# (table, column): the free text people type in, shown back on pages.
FREE_TEXT: dict[str, tuple[str, ...]] = {
    "users": ("display_name",),
    "organisations": ("name",),
    "api_tokens": ("name",),
    "user_sessions": ("user_agent",),
    "communities": ("name", "address"),
    "pickup_points": ("name", "address", "opening_hours"),
    "leader_applications": (
        "point_name",
        "point_address",
        "opening_hours",
        "motivation",
        "decision_reason",
    ),
    "merchant_applications": (
        "company_name",
        "legal_representative",
        "address",
        "contact_name",
        "decision_reason",
    ),
    "merchant_profiles": ("legal_representative", "address", "paused_reason"),
    "licences": ("number",),
    "three_same_certifications": ("export_standard", "production_line", "decision_reason"),
    "stored_files": ("original_name",),
    "products": ("name", "description", "unit", "origin"),
    "skus": ("code",),
    "groupbuy_campaigns": ("title",),
    "groupbuy_campaign_items": ("product_name", "sku_code", "unit"),
    "payment_refunds": ("reason",),
    "protection_returns": ("product_name", "reason_text", "decision_note", "condition_note"),
    "protection_claims": (
        "product_name",
        "description",
        "decision_note",
        "merchant_note",
        "escalation_note",
    ),
    "protection_claim_flags": ("review_reason",),
    "notifications": ("title", "body"),
    "trace_batches": ("lot", "origin", "producer"),
    "trace_events": ("biz_step", "disposition", "read_point", "biz_location"),
    "trace_inspections": ("laboratory", "results"),
    "trace_holds": ("decision_reason",),
    "trace_recalls": ("reason",),
    "trace_readings": ("sensor_id",),
    # (reply_text stays: a review without a reply must keep it empty)
    "protection_reviews": ("product_name", "text", "hidden_note"),
    "protection_complaints": ("product_name", "text", "outcome_text", "refusal_reason"),
    "protection_complaint_steps": ("text",),
    "supervision_inspection_plans": ("name",),
    "supervision_inspection_targets": ("findings",),
    "supervision_reports": ("product_name", "description", "close_reason", "outcome"),
}
# Live markup a hostile value would make if it were not escaped.
LIVE = re.compile(
    r"<script>alert|<img src=x|<svg onload|<b onclick|"
    r"(?:href|src|action|formaction)\s*=\s*[\"']?\s*javascript:",
    re.IGNORECASE,
)
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "resident": "13800000005",
    "leader": "13800000007",
    "merchant-owner": "13800000004",
    "regulator": "13800000002",
    "operator": "13800000001",
}
MAX_PAGES_PER_ROLE = 80
SKIPPED = re.compile(r"^/(files|static|api|epcis|logout|lang)\b|\.(svg|csv|pdf|png|jpe?g)$")
# Forms whose refusal re-renders a template no GET shows: (role, path, form fields).
FORMS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("anonymous", "/login", {"phone": SHORT, "password": FULL}),
    ("anonymous", "/signup", {"phone": SHORT, "display_name": FULL, "password": "x"}),
    ("resident", "/merchants/apply", {"company_name": FULL, "credit_code": SHORT}),
    ("resident", "/leaders/apply", {"point_name": FULL, "opening_hours": SHORT}),
    ("merchant-owner", "/merchant/products", {"name": FULL, "unit": TINY}),
    ("operator", "/ops/rules/calendar", {"day": SHORT, "kind": TINY, "reason": FULL}),
)


def hostile(length: int | None, row: int) -> str:
    """A hostile value for a column of `length` characters, unique per row."""
    prefix = f"{row}"
    if length is None:
        return prefix + LONG
    for payload in (FULL, SHORT, TINY):
        if len(prefix + payload) <= length:
            return prefix + payload
    return (prefix + TINY)[:length]


async def make_everything_hostile(url: str) -> None:
    engine = make_engine(url)
    tables = Base.metadata.tables
    try:
        async with engine.begin() as connection:
            for name, columns in FREE_TEXT.items():
                table = tables[name]
                (key,) = table.primary_key.columns
                ids = list(await connection.scalars(select(key)))
                for column in columns:
                    kind = table.c[column].type
                    assert isinstance(kind, String | Text), (name, column)
                    length = None if isinstance(kind, Text) else kind.length
                    rows = [{"_id": i, "_v": hostile(length, n)} for n, i in enumerate(ids)]
                    if rows:
                        await connection.execute(
                            update(table)
                            .where(key == bindparam("_id"))
                            .values({column: bindparam("_v")}),
                            rows,
                        )
            notifications = tables["notifications"]
            await connection.execute(update(notifications).values(link=JAVASCRIPT_URL))
    finally:
        await engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A copy of the session's demo city (`linli demo`, seeded once for every module that
    serves it: tests/live.py), in a database of this test's own."""
    url = database_from_template(tmp_path, "hostile", seeded_template(SEED))
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test database holds a demo city whose free text is hostile."""
    asyncio.run(make_everything_hostile(database_url))
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key=seeded_template(SEED).secret_key,  # the key the city was seeded with
        run_dispatcher=False,
        default_locale="en",
    )


def shape(path: str) -> str:
    path = re.sub(r"^/t/[^/]+", "/t/{code}", path)
    path = re.sub(r"^/pay/[^/]+", "/pay/{id}", path)
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def assert_inert(where: str, body: str) -> None:
    live = LIVE.search(body)
    assert live is None, (
        f"{where}: live markup {body[max(0, live.start() - 80) : live.end() + 80]!r}"
    )


async def logged_in(app: FastAPI, phone: str | None) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await client.get("/healthz")
    if phone is not None:
        response = await client.post(
            "/api/v1/accounts/login", json={"phone": phone, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = client.cookies.get(CSRF_COOKIE) or ""
    return client


async def crawl(client: httpx.AsyncClient, role: str, start: list[str]) -> dict[str, int]:
    """Breadth first over the pages this role reaches, one per shape of address."""
    seen: dict[str, int] = {}
    queue = list(start)
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        if shape(path) in seen:
            continue
        response = await client.get(path)
        seen[shape(path)] = response.status_code
        assert response.status_code < 500, f"{role} {path}: {response.status_code}"
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        assert_inert(f"{role} {path}", response.text)
        for href in re.findall(r'href="(/[^"]*)"', response.text):
            target = urlsplit(html.unescape(href)).path
            if target and not SKIPPED.search(target) and shape(target) not in seen:
                queue.append(target)
    return seen


def record_templates(app: FastAPI) -> set[str]:
    rendered: set[str] = set()
    env = app.state.jinja
    original: Callable[..., Any] = env.get_template

    def get_template(name: Any, *args: Any, **kwargs: Any) -> Any:
        rendered.add(str(name))
        return original(name, *args, **kwargs)

    env.get_template = get_template
    return rendered


def public_json_routes(app: FastAPI) -> list[str]:
    return sorted(
        route.path
        for route in app.routes
        if isinstance(route, APIRoute)
        and "GET" in (route.methods or set())
        and route.path.startswith("/api/")
        and "{" not in route.path
    )


async def arrange_reviews(session: AsyncSession, buyer_id: int) -> tuple[int, int, int]:
    """A line of the buyer's collected and not reviewed (the review form), and two hostile
    reviews, answered, one hidden, of two other lines not reviewed yet (a line has at most
    one review; the demo's history reviews some)."""
    reviewed = select(Review.id).where(Review.order_line_id == OrderLine.id).exists()
    lines = (
        await session.execute(
            select(OrderLine, Order, CampaignItem.sku_id)
            .join(Order, Order.id == OrderLine.order_id)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(~reviewed)
            .order_by(Order.user_id != buyer_id, OrderLine.id)
            .limit(3)
        )
    ).all()
    (own, _order, _sku), (other, order, sku_id), (third, third_order, _sku) = lines
    own.picked_qty = other.picked_qty = third.picked_qty = 1
    product_id = await session.scalar(select(Sku.product_id).where(Sku.id == sku_id))
    assert product_id is not None
    review = Review(
        order_line_id=other.id,
        order_id=order.id,
        user_id=order.user_id,
        organisation_id=order.organisation_id,
        product_id=product_id,
        product_name=FULL,
        rating=2,
        text=LONG,
        photo_file_ids=[],
        created_at=order.created_at,
        reply_text=FULL,
        replied_at=order.created_at,
        hidden_at=order.created_at,
        hidden_reason="personal_data",
        hidden_note=SHORT,
    )
    shown = Review(
        order_line_id=third.id,
        order_id=third_order.id,
        user_id=third_order.user_id,
        organisation_id=third_order.organisation_id,
        product_id=product_id,
        product_name=SHORT,
        rating=5,
        text=FULL,
        photo_file_ids=[],
        created_at=order.created_at,
        reply_text=TINY,
        replied_at=order.created_at,
    )
    session.add(shown)
    session.add(review)
    arranged = (own.id, product_id, order.organisation_id)
    await session.commit()
    return arranged


async def arrange_live_and_services(
    session: AsyncSession, buyer_id: int, now: datetime
) -> tuple[int, Booking]:
    """The demo merchant owner's live room and, with the same owner as a teacher, an online
        class the buyer booked that is on now and a course: all in hostile words (the demo city's
    school is another merchant)."""
    owner_id, organisation_id = (
        await session.execute(
            select(User.id, Membership.organisation_id)
            .join(Membership, Membership.user_id == User.id)
            .where(User.phone.endswith(str(ROLES["merchant-owner"])), Membership.role == "owner")
            .limit(1)
        )
    ).one()
    # The demo city's fruit merchant streams already (demo/live.py): its streamer record.
    streamer = await session.scalar(
        select(Streamer).where(
            Streamer.organisation_id == organisation_id, Streamer.user_id == owner_id
        )
    )
    if streamer is None:
        streamer = Streamer(
            organisation_id=organisation_id,
            user_id=owner_id,
            real_name=SHORT,
            identity_digest="0" * 64,
            identity_hint="0000",
            birth_date=date(1990, 1, 1),
            rule_version=1,
            verified_at=now,
        )
        session.add(streamer)
        await session.flush()
    room = Room(
        organisation_id=organisation_id,
        streamer_id=streamer.id,
        title=FULL[:120],
        description=LONG,
        scheduled_start=now - timedelta(minutes=10),
        scheduled_end=now + timedelta(hours=3),
        status="live",  # on air: the platform's live-now page and the studio's statistics
        rule_id="live.commerce",
        rule_version=1,
        created_at=now,
    )
    practitioner = Practitioner(
        organisation_id=organisation_id,
        user_id=owner_id,
        real_name=SHORT,
        credential_kind="teacher",
        credential_number=TINY,
        verified_at=now,
    )
    session.add_all([room, practitioner])
    await session.flush()
    slot = Slot(
        practitioner_id=practitioner.id,
        organisation_id=organisation_id,
        title=FULL[:120],
        kind="class",
        mode="online",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=1),
        capacity=5,
        remaining=4,
        category_id=await category_id(session, "courses"),
        created_at=now,
    )
    session.add(slot)
    await session.flush()
    await arrange_a_live_order(session, room, buyer_id, now)
    # A supply offer in hostile words from the merchant to the demo leader's point: the
    # merchant's and the leader's agreement pages.
    leader_point = (
        await session.execute(
            select(PickupPoint.id, PickupPoint.leader_user_id)
            .join(User, User.id == PickupPoint.leader_user_id)
            .where(User.phone.endswith(str(ROLES["leader"])))
            .limit(1)
        )
    ).one()
    # (the demo city has one already: the agreement under the leader's room, demo/live.py)
    already = await session.scalar(
        select(SupplyAgreement.id).where(
            SupplyAgreement.organisation_id == organisation_id,
            SupplyAgreement.pickup_point_id == leader_point[0],
        )
    )
    if already is None:
        session.add(
            SupplyAgreement(
                organisation_id=organisation_id,
                pickup_point_id=leader_point[0],
                leader_user_id=leader_point[1],
                commission_bp=800,
                status="offered",
                note=FULL[:200],
                offered_by_user_id=owner_id,
                created_at=now,
            )
        )
    booking = Booking(
        slot_id=slot.id,
        organisation_id=organisation_id,
        practitioner_id=practitioner.id,
        client_user_id=buyer_id,
        title=FULL[:120],
        mode="online",
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        created_at=now,
    )
    session.add(booking)
    await session.flush()
    # Its medical record and a prescription in hostile words: the clinic's consultation page,
    # the patient's prescriptions, the pharmacist's queue and the regulator's view show them.
    record = ConsultationRecord(
        booking_id=booking.id,
        organisation_id=organisation_id,
        practitioner_id=practitioner.id,
        client_user_id=buyer_id,
        held_at=booking.starts_at,
        institution=FULL[:120],
        diagnosed_on=date(2026, 1, 5),
        condition=FULL[:200],
        document_status="accepted",
        outcome="referred_offline",
        outcome_note=FULL[:500],
        created_at=now,
    )
    session.add(record)
    await session.flush()
    session.add(
        Prescription(
            record_id=record.id,
            booking_id=booking.id,
            organisation_id=organisation_id,
            client_user_id=buyer_id,
            doctor_practitioner_id=practitioner.id,
            doctor_user_id=owner_id,
            drug_name=FULL[:120],
            drug_class="ordinary",
            dosage=FULL[:200],
            quantity=1,
            unit=TINY[:20],
            signature=TINY[:120],
            signed_at=now,
            issued_on=now.date(),
            valid_until=now.date(),
            created_at=now,
        )
    )
    await session.flush()
    await arrange_a_course(session, practitioner, buyer_id, now)
    return room.id, booking


async def arrange_a_course(
    session: AsyncSession, teacher: Practitioner, buyer_id: int, now: datetime
) -> None:
    """The teacher's weekly class and a course of it in hostile words, the buyer enrolled and
    paid: the school's courses page and the course's pupils (linked from it) show them."""
    weekly = WeeklySlot(
        practitioner_id=teacher.id,
        organisation_id=teacher.organisation_id,
        title=FULL[:120],
        weekday=0,
        start_minute=18 * 60,
        duration_minutes=60,
        capacity=5,
        kind="class",
        mode="online",
        category_id=await category_id(session, "courses"),
        created_at=now,
    )
    session.add(weekly)
    await session.flush()
    course = Course(
        organisation_id=teacher.organisation_id,
        practitioner_id=teacher.id,
        weekly_slot_id=weekly.id,
        title=FULL[:120],
        description=FULL[:2000],
        first_day=now.date(),
        last_day=now.date() + timedelta(days=28),
        classes=4,
        class_minutes=60,
        price_per_class_fen=100,
        rule_version=1,
        category_id=await category_id(session, "arts_training"),
        created_at=now,
    )
    # and a weekly session and a course the school withdrew, with its reason
    withdrawn = WeeklySlot(
        practitioner_id=teacher.id,
        organisation_id=teacher.organisation_id,
        title=FULL[:120],
        weekday=1,
        start_minute=18 * 60,
        duration_minutes=60,
        capacity=5,
        kind="class",
        mode="offline",
        category_id=await category_id(session, "courses"),
        created_at=now,
        withdrawn_at=now,
    )
    session.add_all([course, withdrawn])
    await session.flush()
    session.add(
        Course(
            organisation_id=teacher.organisation_id,
            practitioner_id=teacher.id,
            weekly_slot_id=withdrawn.id,
            title=FULL[:120],
            description=FULL[:2000],
            first_day=now.date(),
            last_day=now.date() + timedelta(days=28),
            classes=4,
            class_minutes=60,
            price_per_class_fen=100,
            rule_version=1,
            status="closed",
            withdrawn_at=now,
            withdraw_reason=FULL[:200],
            category_id=withdrawn.category_id,
            created_at=now,
        )
    )
    session.add(
        Enrolment(
            course_id=course.id,
            organisation_id=teacher.organisation_id,
            client_user_id=buyer_id,
            classes=4,
            price_per_class_fen=100,
            amount_fen=400,
            status="paid",
            created_at=now,
            paid_at=now,
        )
    )
    await session.flush()


async def arrange_a_live_order(
    session: AsyncSession, room: Room, buyer_id: int, now: datetime
) -> None:
    """The room on air with goods in hostile words pinned, and the buyer's order of them."""
    sku_id = await session.scalar(select(Sku.id).order_by(Sku.id).limit(1))
    assert sku_id is not None
    on_air = LiveSession(
        room_id=room.id, started_at=now - timedelta(minutes=5), stream_key_digest="f" * 64
    )
    goods = LiveGoods(
        room_id=room.id,
        sku_id=sku_id,
        organisation_id=room.organisation_id,
        product_name=FULL[:120],
        sku_code=TINY,
        unit=TINY,
        list_price_fen=1990,
        stream_price_fen=990,
        per_buyer_limit=5,
        stock=10,
        remaining=9,
        category_codes=[],
        created_at=now,
    )
    session.add_all([on_air, goods])
    await session.flush()
    pin = Pin(room_id=room.id, session_id=on_air.id, goods_id=goods.id, pinned_at=now)
    session.add(pin)
    await session.flush()
    room.pinned_goods_id = goods.id
    session.add(
        LiveOrder(
            user_id=buyer_id,
            organisation_id=room.organisation_id,
            room_id=room.id,
            session_id=on_air.id,
            goods_id=goods.id,
            pin_id=pin.id,
            quantity=1,
            unit_price_fen=990,
            total_fen=990,
            status="paid",
            idempotency_key=TINY,
            created_at=now,
            paid_at=now,
            # Delivery in hostile words: shown to the buyer and on the merchant's list to ship.
            fulfilment_status="to_ship",
            recipient_name=TINY,
            recipient_phone="+8613800138000",
            delivery_address=FULL[:200],
        )
    )
    # A second order, received, with a quality claim in hostile words (the claim form of a
    # live order, the resident's claims and the merchant's desk render it).
    received = LiveOrder(
        user_id=buyer_id,
        organisation_id=room.organisation_id,
        room_id=room.id,
        session_id=on_air.id,
        goods_id=goods.id,
        pin_id=pin.id,
        quantity=2,
        unit_price_fen=990,
        total_fen=1980,
        status="paid",
        idempotency_key=TINY + "-received",
        created_at=now,
        paid_at=now,
        fulfilment_status="received",
        recipient_name=TINY,
        recipient_phone="+8613800138000",
        delivery_address=FULL[:200],
        received_at=now,
    )
    session.add(received)
    await session.flush()
    session.add(
        QualityClaim(
            user_id=buyer_id,
            organisation_id=room.organisation_id,
            live_order_id=received.id,
            product_name=SHORT,
            quantity=1,
            unit_price_fen=990,
            reason_code="defective",
            description=FULL,
            photo_file_ids=[],
            requested_fen=990,
            status="filed",
            rule_id="consumer.quality_claim",
            rule_version=1,
            picked_up_at=now,
            claim_by=now + timedelta(days=15),
            created_at=now,
            decision_due_at=now + timedelta(days=1),
        )
    )
    await session.flush()


async def starts(app: FastAPI) -> tuple[str, dict[str, list[str]]]:
    """A buyer's phone, and pages each role reaches by an address rather than a link: a
    buyer's order and its payment page, the review form, a campaign's procurement list, a
    product's and a merchant's reviews, a missing page."""
    async with app.state.sessionmaker() as session:
        # The first order with a line not reviewed yet: its buyer gets the review form.
        unreviewed = (
            select(OrderLine.id)
            .where(
                OrderLine.order_id == Order.id,
                ~select(Review.id).where(Review.order_line_id == OrderLine.id).exists(),
            )
            .exists()
        )
        order = (
            await session.execute(
                select(Order.id, Order.user_id, Order.campaign_id)
                .where(unreviewed)
                .order_by(Order.id)
                .limit(1)
            )
        ).one()
        phone = await session.scalar(select(User.phone).where(User.id == order.user_id))
        intent = await session.scalar(
            select(PaymentIntent.public_id).where(PaymentIntent.reference == str(order.id))
        )
        campaign = await session.scalar(
            select(Campaign.id)
            .join(Organisation, Organisation.id == Campaign.organisation_id)
            .join(Membership, Membership.organisation_id == Organisation.id)
            .join(User, User.id == Membership.user_id)
            .where(User.phone.endswith(str(ROLES["merchant-owner"])))
            .limit(1)
        )
        batch = await session.scalar(select(TraceBatch.code).limit(1))
        line_id, product_id, organisation_id = await arrange_reviews(session, order.user_id)
        line = await session.scalar(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id).limit(1)
        )
        assert line is not None
        # A return of the buyer's line in hostile words (the demo's own returns are of other
        # lines).
        now = datetime.now(UTC)
        session.add(
            ReturnRequest(
                user_id=order.user_id,
                organisation_id=await session.scalar(
                    select(Order.organisation_id).where(Order.id == order.id)
                ),
                order_id=order.id,
                order_line_id=line.id,
                pickup_point_id=await session.scalar(
                    select(Order.pickup_point_id).where(Order.id == order.id)
                ),
                product_name=SHORT,
                quantity=1,
                unit_price_fen=line.unit_price_fen,
                reason_code="other",
                reason_text=FULL,
                status="received",
                rule_id="consumer.no_reason_return",
                rule_version=2,
                received_on=now.date(),
                last_day=now.date(),
                created_at=now,
                answer_due_at=now,
                decision_note=SHORT,
                condition="damaged",
                condition_note=TINY,
                photo_file_ids=[],
                received_at=now,
                refund_due_at=now,
                refund_overdue=True,
            )
        )
        # Two quality claims of the buyer's line in hostile words: one rejected (the buyer may
        # still escalate it), one with the platform; and an abuse flag for the operators.
        organisation_id_of_order = await session.scalar(
            select(Order.organisation_id).where(Order.id == order.id)
        )
        point_id = await session.scalar(select(Order.pickup_point_id).where(Order.id == order.id))
        community_id = await session.scalar(
            select(PickupPoint.community_id).where(PickupPoint.id == point_id)
        )
        assert organisation_id_of_order is not None
        assert point_id is not None
        assert community_id is not None
        for status in ("rejected", "escalated"):
            session.add(
                QualityClaim(
                    user_id=order.user_id,
                    organisation_id=organisation_id_of_order,
                    order_id=order.id,
                    order_line_id=line.id,
                    pickup_point_id=point_id,
                    community_id=community_id,
                    product_name=SHORT,
                    quantity=1,
                    unit_price_fen=line.unit_price_fen,
                    reason_code="defective",
                    description=FULL,
                    photo_file_ids=[],
                    requested_fen=line.unit_price_fen,
                    status=status,
                    rule_id="consumer.quality_claim",
                    rule_version=1,
                    picked_up_at=now,
                    claim_by=now + timedelta(days=15),
                    created_at=now,
                    decision_due_at=now + timedelta(days=1),
                    outcome="rejected",
                    decided_by="merchant",
                    decided_at=now,
                    decision_note=TINY,
                    merchant_note=TINY,
                    escalate_by=now + timedelta(days=7),
                    escalated_at=now if status == "escalated" else None,
                    escalation_cause="resident" if status == "escalated" else None,
                    escalation_note=SHORT,
                )
            )
        session.add(
            ClaimAbuseFlag(
                user_id=order.user_id,
                community_id=community_id,
                status="open",
                claims=3,
                collected_lines=3,
                resident_rate_bp=10_000,
                community_rate_bp=100,
                lookback_days=90,
                rule_id="consumer.quality_claim",
                rule_version=1,
                created_at=now,
                review_reason=SHORT,
            )
        )
        # A published random inspection of the merchant and a report about it forwarded to the
        # regulator, in hostile words.
        regulator_id = await session.scalar(
            select(Membership.organisation_id)
            .join(User, User.id == Membership.user_id)
            .where(User.phone.endswith(str(ROLES["regulator"])))
        )
        plan = InspectionPlan(
            regulator_organisation_id=regulator_id,
            name=FULL,
            inspection_type="pricing",
            period_start=now.date(),
            period_end=now.date(),
            target_count=1,
            rule_id="supervision.random_inspection",
            rule_version=1,
            rule_values={},
            seed="0" * 32,
            status="drawn",
            draw_inputs={
                "merchants": [[organisation_id, "B"]],
                "shares": {"B": 0.2},
                "count": 1,
                "inspectors": [],
                "conflicts": [],
                "per_target": 0,
            },
            created_at=now,
            drawn_at=now,
        )
        session.add(plan)
        await session.flush()
        session.add(
            InspectionTarget(
                plan_id=plan.id,
                position=1,
                merchant_organisation_id=organisation_id,
                risk_class="B",
                result="failed",
                findings=FULL,
                inspected_on=now.date(),
                published_at=now,
            )
        )
        session.add(
            Report(
                reporter_user_id=order.user_id,
                reporter_role="resident",
                merchant_organisation_id=organisation_id,
                product_name=SHORT,
                description=FULL,
                status="concluded",
                regulator_organisation_id=regulator_id,
                outcome=TINY,
                created_at=now,
            )
        )
        room_id, booking = await arrange_live_and_services(session, order.user_id, now)
        booking_teacher_user_id = await session.scalar(
            select(Practitioner.user_id).where(Practitioner.id == booking.practitioner_id)
        )
        received_live_order = await session.scalar(
            select(LiveOrder.id).where(LiveOrder.fulfilment_status == "received").limit(1)
        )
        await session.commit()
    assert phone is not None
    assert intent is not None
    assert campaign is not None
    join_path = join.link_for(app.state.settings.resolved_secret_key(), booking, order.user_id)
    # the class's teacher (the merchant owner): the room asks for the real-name check first
    teacher_path = join.link_for(
        app.state.settings.resolved_secret_key(), booking, booking_teacher_user_id
    )
    return (
        phone,
        {
            "anonymous": [
                "/no-such-page",
                "/disclosure/inspections",
                f"/t/{batch}",
                f"/p/{product_id}/reviews",
                f"/m/{organisation_id}/reviews",
                f"/live/{room_id}",
            ],
            "buyer": [
                f"/groupbuy/orders/{order.id}",
                f"/pay/{intent}",
                f"/reviews/write/{line_id}",
                f"/protection/complaints/new?order_id={order.id}",
                f"/returns/new/{line.id}",
                f"/claims/new/{line.id}",
                f"/claims/new-live/{received_live_order}",
                "/live/orders",
                join_path,
            ],
            "merchant-owner": [
                f"/merchant/groupbuy/{campaign}/procurement",
                f"/merchant/live/{room_id}",
                "/merchant/live-orders",  # a hostile order to ship: the cancel form with it
                f"/services/desk/consultations/{booking.id}",
                "/services/desk/prescriptions",
                "/services/desk/schedule",
                "/services/desk/courses",
                "/services/desk/identity",
                teacher_path,
            ],
            "operator": ["/platform/live"],
            "regulator": ["/regulator/medical"],
        },
    )


async def test_hostile_text_is_escaped_on_every_page_and_in_every_json_answer(
    app: FastAPI,
) -> None:
    rendered = record_templates(app)
    buyer, extra = await starts(app)
    products: list[str] = []
    for role, phone in (ROLES | {"buyer": buyer}).items():
        client = await logged_in(app, phone)
        try:
            for locale in ("en", "zh_Hans"):
                client.cookies.set("linli_lang", locale)
                seen = await crawl(client, role, ["/", *products, *extra.get(role, [])])
                assert len(seen) >= 5, (role, seen)
            for path in public_json_routes(app):
                response = await client.get(path)
                assert response.status_code < 500, f"{role} {path}: {response.status_code}"
                if response.status_code == 200:
                    assert response.headers["content-type"].startswith("application/json")
                    assert response.headers["x-content-type-options"] == "nosniff"
                    json.loads(response.text)  # whole, whatever the strings hold
            for who, path, fields in FORMS:
                if who == role:
                    page = await client.get(path)
                    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                    assert token is not None, path
                    answer = await client.post(path, data=fields | {"csrf_token": token[1]})
                    assert answer.status_code < 500, f"{role} POST {path}: {answer.status_code}"
                    assert_inert(f"{role} POST {path}", answer.text)
            if role == "anonymous":
                listed = (await client.get("/api/v1/catalog/products")).json()
                items = listed["items"] if isinstance(listed, dict) else listed
                products = [f"/p/{items[0]['id']}"] if items else []
                assert SCRIPT in json.dumps(items, ensure_ascii=False)  # hostile, as data
        finally:
            await client.aclose()
    on_disk = {str(path.relative_to(TEMPLATES_DIR)) for path in TEMPLATES_DIR.rglob("*.html")}
    assert on_disk - rendered == set(), "templates no hostile request rendered"
