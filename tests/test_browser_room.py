"""The online session room in headless Chromium with fake camera and microphone, each party in
a browser context of their own: the teacher opens the session from the desk, confirms their
identity (real name, last 4 of the credential), the learner opens it from "My bookings"; both
see the other connected peer-to-peer (no STUN/TURN: this machine's own addresses) with the
other's video playing; "a minute later" both leave, and the desk shows the learner's attended
minutes (the learner's join moved a minute back rather than waited for: a minute of real
time cost CI a minute). A learner whose browser refuses the camera and microphone is told
so, and still sees and hears the teacher.

Arranged directly: a verified school, its teacher registered through the API, and an online
class that started two minutes ago with the learner's booking (slots are made for the future
only).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.services.models import Booking, RoomAttendance, Slot
from linli.services.room import credential_tail
from tests.browser import (
    BROWSER_MARKS,
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    People,
    act_for,
    log_in,
    on_server,
    people_of,
)
from tests.factories import PASSWORD, category_id, make_user
from tests.live import LiveServer, serve_live
from tests.services.helpers import a_practitioner, a_provider

SCHOOL = "邻里线上学堂"
LEARNER_PHONE = "13812345631"
TITLE = "线上书法课"
MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("room"), "room") as served:
        yield served


@pytest.fixture(scope="module")
def browser(server: LiveServer) -> Iterator[Browser]:
    """Chromium with a fake camera and microphone, their permission granted."""
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def arranged(server: LiveServer) -> dict[str, Any]:
    return on_server(server, arrange)


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


async def arrange(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, Any]:
    provider = await a_provider(session, licences=("training_school",), name=SCHOOL)
    teacher_id, teacher = await a_practitioner(client, session, provider, name="柳老师")
    learner = await make_user(session, phone=LEARNER_PHONE, name="赵同学")
    now = clock.now()
    slot = Slot(
        practitioner_id=teacher_id,
        organisation_id=provider.organisation.id,
        title=TITLE,
        kind="class",
        mode="online",
        starts_at=now - timedelta(minutes=2),
        ends_at=now + timedelta(minutes=40),
        capacity=5,
        remaining=4,
        category_id=await category_id(session, "courses"),
        created_at=now,
    )
    session.add(slot)
    await session.flush()
    session.add(
        Booking(
            slot_id=slot.id,
            organisation_id=provider.organisation.id,
            practitioner_id=teacher_id,
            client_user_id=learner.id,
            title=TITLE,
            mode="online",
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            created_at=now,
        )
    )
    await session.commit()
    return {
        "teacher": teacher.user.phone,
        "last4": credential_tail(f"TEA-{teacher.user.id}"),
    }


async def joined_a_minute_earlier(session: AsyncSession, _client: httpx.AsyncClient) -> None:
    """The learner's open interval in the room began 61 seconds earlier than it did, as a
    minute spent in it would have made it (the class's start moved back too if need be)."""
    booking = await session.scalar(select(Booking).where(Booking.title == TITLE))
    assert booking is not None
    interval = await session.scalar(
        select(RoomAttendance).where(
            RoomAttendance.slot_id == booking.slot_id,
            RoomAttendance.user_id == booking.client_user_id,
            RoomAttendance.left_at.is_(None),
        )
    )
    assert interval is not None, "the learner is not in the room"
    interval.joined_at -= timedelta(seconds=61)
    if booking.starts_at > interval.joined_at:
        await session.execute(
            update(Booking)
            .where(Booking.slot_id == booking.slot_id)
            .values(starts_at=interval.joined_at)
        )
        await session.execute(
            update(Slot).where(Slot.id == booking.slot_id).values(starts_at=interval.joined_at)
        )


def connected(page: Page) -> None:
    """The room says the peer is connected and the other's video plays."""
    room = page.locator("[data-session-room]")
    expect(room).to_have_attribute("data-peer-state", "connected")
    expect(room.locator("figure[data-peer]")).to_have_attribute("data-peer-state", "connected")
    page.wait_for_function(
        "() => { const v = document.querySelector('figure[data-peer] video');"
        " return v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused; }",
        timeout=TIMEOUT_MS,
    )


def test_two_parties_see_each_other_in_the_room_and_the_desk_shows_attendance(
    server: LiveServer, arranged: dict[str, Any], people: People
) -> None:
    base = server.url
    teacher = people.page_of("teacher")
    log_in(teacher, base, arranged["teacher"], PASSWORD)
    act_for(teacher, base, SCHOOL)
    teacher.goto(f"{base}/services/desk")
    row = teacher.locator("article[data-booking]", has_text=TITLE)
    row.get_by_role("link", name="Join the session").click()
    identity = teacher.locator("[data-identity-form]")
    identity.locator('input[name="real_name"]').fill("柳老师")
    identity.locator('input[name="credential_last4"]').fill("0000")
    identity.get_by_role("button", name="Confirm my identity").click()
    expect(teacher.locator(".flash-error")).to_contain_text("not the real name")
    identity.locator('input[name="real_name"]').fill("柳老师")
    identity.locator('input[name="credential_last4"]').fill(arranged["last4"])
    identity.get_by_role("button", name="Confirm my identity").click()
    expect(teacher.locator(".flash[role=status]")).to_have_text(
        "Identity confirmed for this session."
    )
    expect(teacher.locator("[data-session-room]")).to_have_attribute("data-peer-state", "waiting")

    learner = people.page_of("learner")
    log_in(learner, base, LEARNER_PHONE, PASSWORD)
    learner.goto(f"{base}/services/bookings")
    learner.get_by_role("link", name="Join the session").first.click()
    connected(learner)
    connected(teacher)
    expect(learner.locator("[data-room-status]")).to_have_text("Connected.")
    expect(learner.locator("[data-media-error]")).to_be_hidden()

    on_server(server, joined_a_minute_earlier)  # a minute in the room
    learner.get_by_role("button", name="Leave the session").click()
    expect(learner.locator("[data-session-room]")).to_have_attribute("data-peer-state", "left")
    expect(teacher.locator("[data-session-room]")).to_have_attribute("data-peer-state", "waiting")
    teacher.get_by_role("button", name="Leave the session").click()

    teacher.goto(f"{base}/services/desk")
    attended = row.locator("[data-attended-minutes]")
    expect(attended).to_have_attribute("data-attended-minutes", "1")
    expect(attended).to_have_text("Attended online: 1 min")


def test_a_refused_camera_is_said_and_the_party_still_sees_and_hears_the_other(
    server: LiveServer, arranged: dict[str, Any], people: People
) -> None:
    """The learner's browser refuses the camera and microphone (as a denied permission
    answers): the room says so, and the learner joins to watch and listen."""
    base = server.url
    teacher = people.page_of("teacher")
    log_in(teacher, base, arranged["teacher"], PASSWORD)
    act_for(teacher, base, SCHOOL)
    teacher.goto(f"{base}/services/desk")
    teacher.locator("article[data-booking]", has_text=TITLE).get_by_role(
        "link", name="Join the session"
    ).click()  # identity confirmed for this session already (the test before)
    expect(teacher.locator("[data-session-room]")).to_have_attribute("data-peer-state", "waiting")

    learner = people.page_of("learner")
    learner.context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () =>"
        " Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));"
    )
    log_in(learner, base, LEARNER_PHONE, PASSWORD)
    learner.goto(f"{base}/services/bookings")
    learner.get_by_role("link", name="Join the session").first.click()
    room = learner.locator("[data-session-room]")
    expect(room).to_have_attribute("data-media", "refused")
    expect(learner.locator("[data-media-error]")).to_contain_text(
        "Camera and microphone access was refused"
    )
    connected(learner)  # the teacher's video plays for the learner
    expect(teacher.locator("[data-session-room]")).to_have_attribute("data-peer-state", "connected")
