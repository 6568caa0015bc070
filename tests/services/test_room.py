"""The online session room: its signalling WebSocket (served by a real server on the test's event
loop) opens only for the parties' own valid links within the session's window, the practitioner
only after their real-name check; frames are size- and rate-limited and relayed in a star;
every connection's join and leave times are recorded, and an online class's fee leaves escrow
only for the attendance rule's share (clock-driven), never twice."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect

from linli.accounts.identity import SESSION_COOKIE
from linli.accounts.models import User
from linli.app import create_app
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.config import Settings
from linli.payments import ledger
from linli.services import room, room_api
from linli.services.join import link_for
from linli.services.models import Booking, IdentityCheck, RoomAttendance
from tests.factories import form_login, login, make_token
from tests.groupbuy.helpers import bearer, pay
from tests.services.helpers import (
    API,
    MONDAY,
    Person,
    a_practitioner,
    a_provider,
    a_slot,
    book,
    confirm_identity,
    count,
    people,
)
from tests.services.test_courses import course_body, weekly

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_attendance_is_the_union_of_the_intervals_within_the_slot() -> None:
    start, end = T0, T0 + timedelta(minutes=60)
    now = end + timedelta(hours=1)

    def at(minutes: float) -> datetime:
        return T0 + timedelta(minutes=minutes)

    def interval(a: float, b: float | None, seen: float | None = None) -> room.Interval:
        return room.Interval(
            at(a), at(seen if seen is not None else (b or a)), None if b is None else at(b)
        )

    reconnects = [interval(-10, 10), interval(5, 20), interval(30, 40), interval(55, 90)]
    # -10..10 and 5..20 overlap (0..20 within the slot), 30..40, 55..60 (clipped at the end)
    assert room.attended_seconds(reconnects, start, end, now) == 35 * 60
    assert room.attended_seconds([], start, end, now) == 0
    # an open row of a process that died ends when it was last seen
    assert room.attended_seconds([interval(0, None, seen=12)], start, end, now) == 12 * 60
    # an open row still refreshed lasts until now
    live = [room.Interval(at(0), at(25) - timedelta(seconds=5), None)]
    assert room.attended_seconds(live, start, end, at(25)) == 25 * 60


@pytest.fixture
async def server(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.setattr(room_api, "TICK", 0.2)  # the end of the session is noticed at once
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.02)
    yield f"ws://127.0.0.1:{port}"
    served.should_exit = True
    await task


async def cookie_of(app: FastAPI, user: User) -> dict[str, str]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        await login(browser, user)
        return {"Cookie": f"{SESSION_COOKIE}={browser.cookies.get(SESSION_COOKIE)}"}


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return dict(message)


async def peer_of(ws: ClientConnection, hello: dict[str, Any]) -> dict[str, Any]:
    """The one peer a connection may call: named in its hello, else joined later."""
    if hello["peers"]:
        (peer,) = hello["peers"]
        return dict(peer)
    return dict((await next_of(ws, "joined"))["peer"])


async def refused(server: str, path: str, headers: dict[str, str]) -> tuple[str, int]:
    """A socket the server refuses: the error's code, then the close code."""
    async with connect(f"{server}{path}/ws", additional_headers=headers) as ws:
        error = json.loads(await ws.recv())
        assert error["type"] == "error"
        async with asyncio.timeout(5):
            await ws.wait_closed()
        assert ws.close_code is not None
        return str(error["code"]), ws.close_code


async def rows(app: FastAPI, booking_id: int) -> list[RoomAttendance]:
    async with app.state.sessionmaker() as s:
        return list(
            await s.scalars(
                select(RoomAttendance)
                .where(RoomAttendance.booking_id == booking_id)
                .order_by(RoomAttendance.id)
            )
        )


async def all_left(app: FastAPI, booking_id: int, expected: int) -> list[RoomAttendance]:
    async with asyncio.timeout(5):
        while True:
            found = await rows(app, booking_id)
            if len(found) == expected and all(r.left_at is not None for r in found):
                return found
            await asyncio.sleep(0.05)


async def closed(app: FastAPI, booking_id: int, expected: int) -> None:
    """Wait until `expected` of the booking's connections are recorded as left."""
    async with asyncio.timeout(5):
        while sum(r.left_at is not None for r in await rows(app, booking_id)) < expected:  # noqa: ASYNC110 (polling the database)
            await asyncio.sleep(0.05)


async def test_only_the_parties_valid_links_open_the_socket_and_it_relays_in_a_star(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    server: str,
    frozen_clock: FrozenClock,
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher_id, teacher = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher_id, capacity=5)
    other = await a_slot(client, provider, teacher_id, day=MONDAY + timedelta(days=1))
    pupil, classmate, elsewhere, stranger = await people(session, 4)
    booked = {}
    for person, slot in ((pupil, lesson), (classmate, lesson), (elsewhere, other)):
        made = await book(client, person, slot["id"])
        assert made.status_code == 201, made.text
        booked[person.user.id] = made.json()["id"]
    key = settings.resolved_secret_key()
    async with app.state.sessionmaker() as s:
        mine = await s.get(Booking, booked[pupil.user.id])
        theirs = await s.get(Booking, booked[elsewhere.user.id])
        classmate_own = await s.get(Booking, booked[classmate.user.id])
        assert classmate_own is not None
        assert mine is not None
        assert theirs is not None
        pupil_link = link_for(key, mine, pupil.user.id)
        classmate_link = link_for(key, mine, classmate.user.id)  # signed, for the wrong booking
        teacher_link = link_for(key, mine, teacher.user.id)
        elsewhere_link = link_for(key, theirs, elsewhere.user.id)
    cookies = {p.user.id: await cookie_of(app, p.user) for p in (pupil, classmate, elsewhere)}
    cookies[stranger.user.id] = await cookie_of(app, stranger.user)
    cookies[teacher.user.id] = await cookie_of(app, teacher.user)
    starts = datetime.fromisoformat(lesson["starts_at"])
    ends = datetime.fromisoformat(lesson["ends_at"])

    base = f"{API}/join/"
    pupil_ws = base + pupil_link.removeprefix("/services/join/")
    frozen_clock.set(starts - timedelta(minutes=16))
    assert await refused(server, pupil_ws, cookies[pupil.user.id]) == ("too_early", 4409)
    frozen_clock.set(starts - timedelta(minutes=5))
    assert await refused(server, pupil_ws, cookies[stranger.user.id]) == ("not_your_link", 4403)
    assert await refused(server, pupil_ws, cookies[elsewhere.user.id]) == ("not_your_link", 4403)
    assert (await refused(server, pupil_ws, {}))[1] == 4401
    narrow = await make_token(session, pupil.user, scopes=("account",))
    assert (await refused(server, pupil_ws, bearer(narrow)))[1] == 4403
    forged = pupil_ws[:-3] + ("AAA" if not pupil_ws.endswith("AAA") else "BBB")
    assert (await refused(server, forged, cookies[pupil.user.id]))[1] == 4404
    # A classmate holding a link signed for them on another's booking is no party to it.
    classmate_ws = base + classmate_link.removeprefix("/services/join/")
    assert (await refused(server, classmate_ws, cookies[classmate.user.id]))[1] == 4404
    own_ws = base + link_for(key, classmate_own, classmate.user.id).removeprefix("/services/join/")
    # Another booking's client: their own link opens their own session's room only (later).
    elsewhere_ws = base + elsewhere_link.removeprefix("/services/join/")
    assert await refused(server, elsewhere_ws, cookies[elsewhere.user.id]) == ("too_early", 4409)
    # The practitioner: only after the real-name check for this session.
    teacher_ws = base + teacher_link.removeprefix("/services/join/")
    assert await refused(server, teacher_ws, cookies[teacher.user.id]) == (
        "identity_unchecked",
        4409,
    )
    await confirm_identity(client, teacher, lesson["id"])

    frozen_clock.set(starts)
    async with (
        connect(f"{server}{teacher_ws}/ws", additional_headers=cookies[teacher.user.id]) as t,
        connect(f"{server}{pupil_ws}/ws", additional_headers=cookies[pupil.user.id]) as p,
    ):
        t_hello = await next_of(t, "hello")
        assert t_hello["you"]["role"] == "practitioner"
        assert t_hello["ice_servers"] == []  # nothing on the internet by default
        p_hello = await next_of(p, "hello")
        assert p_hello["you"]["role"] == "client"
        # Each learns of the other in its hello or, connecting at the same moment, as joined.
        assert (await peer_of(p, p_hello))["id"] == t_hello["you"]["id"]
        assert (await peer_of(t, t_hello))["id"] == p_hello["you"]["id"]
        offer = {"description": {"type": "offer", "sdp": "v=0 ..."}}
        await t.send(json.dumps({"type": "signal", "to": p_hello["you"]["id"], "data": offer}))
        relayed = await next_of(p, "signal")
        assert (relayed["from"], relayed["data"]) == (t_hello["you"]["id"], offer)
        await p.send("x" * (room_api.MAX_FRAME + 1))
        assert (await next_of(p, "error"))["code"] == "message_too_large"
        await p.send(json.dumps({"type": "chat", "text": "hi"}))
        assert (await next_of(p, "error"))["code"] == "unknown_message"
        # A classmate with their own link joins too: the pupil never learns of them, nor may
        # signal them (a star from the practitioner); the practitioner is told.
        async with connect(
            f"{server}{own_ws}/ws", additional_headers=cookies[classmate.user.id]
        ) as c:
            c_hello = await next_of(c, "hello")
            while (await next_of(t, "joined"))["peer"]["id"] != c_hello["you"]["id"]:
                pass  # the pupil's own, told twice when both connected at the same moment
            sneaky = {"type": "signal", "to": c_hello["you"]["id"], "data": offer}
            await p.send(json.dumps(sneaky))
            assert (await next_of(p, "error"))["code"] == "no_such_peer"
        assert (await next_of(t, "left"))["peer"] == c_hello["you"]["id"]
        for _ in range(room_api.MESSAGES + 1):
            await p.send(json.dumps({"type": "signal", "to": "nobody", "data": {}}))
        codes: list[str] = []
        async with asyncio.timeout(5):
            while len(codes) < room_api.MESSAGES + 1:
                message = json.loads(await p.recv())
                if message["type"] == "error":
                    codes.append(message["code"])
        assert "rate_limited" in codes  # this connection's messages in the window: over
        assert set(codes) == {"rate_limited", "no_such_peer"}
        frozen_clock.set(starts + timedelta(minutes=10))
    left = await all_left(app, mine.id, 2)
    assert {r.role for r in left} == {"client", "practitioner"}
    pupil_row = next(r for r in left if r.role == "client")
    assert (pupil_row.joined_at, pupil_row.left_at) == (starts, starts + timedelta(minutes=10))

    # Reconnects add intervals; overlapping ones count once.
    frozen_clock.set(starts + timedelta(minutes=20))
    async with connect(f"{server}{pupil_ws}/ws", additional_headers=cookies[pupil.user.id]) as a:
        await next_of(a, "hello")
        frozen_clock.set(starts + timedelta(minutes=25))
        async with connect(
            f"{server}{pupil_ws}/ws", additional_headers=cookies[pupil.user.id]
        ) as b:
            await next_of(b, "hello")
            frozen_clock.set(starts + timedelta(minutes=30))
            await a.close()
            await closed(app, mine.id, 3)
            frozen_clock.set(starts + timedelta(minutes=40))
    await all_left(app, mine.id, 4)
    async with app.state.sessionmaker() as s:
        minutes = await room.attendance_minutes(s, [await s.get(Booking, mine.id)])
    assert minutes == {mine.id: 10 + 20}

    # At the end the room closes itself; after it, the link no longer opens it.
    async with connect(f"{server}{pupil_ws}/ws", additional_headers=cookies[pupil.user.id]) as e:
        await next_of(e, "hello")
        frozen_clock.set(ends)
        assert (await next_of(e, "ended"))["type"] == "ended"
        async with asyncio.timeout(5):
            await e.wait_closed()
    assert await refused(server, pupil_ws, cookies[pupil.user.id]) == ("ended", 4409)
    await all_left(app, mine.id, 5)
    assert await count(app, RoomAttendance, RoomAttendance.left_at.is_(None)) == 0


async def test_the_real_name_check_is_required_and_mismatches_are_refused_and_audited(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher_id, teacher = await a_practitioner(client, session, provider, "teacher", name="王老师")
    _, colleague = await a_practitioner(client, session, provider, "teacher", name="李老师")
    lesson = await a_slot(client, provider, teacher_id)
    (pupil,) = await people(session, 1)
    booking = (await book(client, pupil, lesson["id"])).json()
    url = f"{API}/provider/slots/{lesson['id']}/identity"
    tail = room.credential_tail(f"TEA-{teacher.user.id}")
    right = {"real_name": "王老师", "credential_last4": tail}
    starts = datetime.fromisoformat(lesson["starts_at"])

    frozen_clock.set(starts - timedelta(minutes=20))
    early = await client.post(url, json=right, headers=teacher.headers)
    assert early.json()["error"]["code"] == "too_early"
    frozen_clock.set(starts - timedelta(minutes=10))
    check_in = f"{API}/provider/bookings/{booking['id']}/check-in"
    unchecked = await client.post(check_in, headers=provider.headers)
    assert (unchecked.status_code, unchecked.json()["error"]["code"]) == (
        409,
        "identity_unchecked",
    )
    # Only the slot's own practitioner confirms (another practitioner, the owner: 404).
    for who in (colleague, Person(provider.owner, provider.headers)):
        assert (await client.post(url, json=right, headers=who.headers)).status_code == 404
    # Mismatches are refused and audited, and the attempts are limited.
    wrong_name = await client.post(url, json=right | {"real_name": "王某"}, headers=teacher.headers)
    assert (wrong_name.status_code, wrong_name.json()["error"]["code"]) == (
        422,
        "identity_mismatch",
    )
    bad_tail = "xxxx"  # never a credential's tail here
    wrong_tail = await client.post(
        url, json=right | {"credential_last4": bad_tail}, headers=teacher.headers
    )
    assert wrong_tail.json()["error"]["code"] == "identity_mismatch"
    async with app.state.sessionmaker() as s:
        audited = list(
            await s.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "services.identity.mismatch")
            )
        )
    assert [(d["name_matched"], d["credential_matched"]) for d in audited] == [
        (False, True),
        (True, False),
    ]
    assert await count(app, IdentityCheck) == 0
    assert (await client.post(check_in, headers=provider.headers)).status_code == 409
    # Spaces and full-width letters aside, the record's name and number match.
    done = await client.post(
        url,
        json={"real_name": " 王 老师", "credential_last4": tail.upper()},
        headers=teacher.headers,
    )
    assert done.status_code == 201, done.text
    assert done.json()["method"] == "name_and_credential_last4"
    again = await client.post(url, json=right, headers=teacher.headers)
    assert again.json()["id"] == done.json()["id"]  # once per session
    assert (await client.post(check_in, headers=provider.headers)).status_code == 200

    # Guessing is limited: five attempts in 15 minutes per session, then 429.
    later = await a_slot(client, provider, teacher_id, day=MONDAY + timedelta(days=1))
    frozen_clock.set(datetime.fromisoformat(later["starts_at"]) - timedelta(minutes=5))
    later_url = f"{API}/provider/slots/{later['id']}/identity"
    codes: list[str] = []
    for guess in range(room.IDENTITY_ATTEMPTS + 1):
        answer = await client.post(
            later_url,
            json={"real_name": "王老师", "credential_last4": f"x{guess:03d}"},
            headers=teacher.headers,
        )
        codes.append(answer.json()["error"]["code"])
    assert codes[-1] == "identity_rate_limited"
    assert codes[:-1] == ["identity_mismatch"] * room.IDENTITY_ATTEMPTS
    refused = await client.post(later_url, json=right, headers=teacher.headers)
    assert refused.status_code == 429


async def attend(
    app: FastAPI, clock: FrozenClock, booking_id: int, user_id: int, role: str, a: int, b: int
) -> None:
    """A connection of `user_id` to the booking's room from minute `a` to `b` of the class."""
    async with app.state.sessionmaker() as s:
        row = await s.get(Booking, booking_id)
        assert row is not None
        clock.set(row.starts_at + timedelta(minutes=a))
        attendance = await room.joined(s, row, user_id, role)
        await s.commit()
        clock.set(row.starts_at + timedelta(minutes=b))
        await room.left(s, attendance)
        await s.commit()


async def test_an_online_class_is_released_only_for_the_attended_share_never_twice(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    provider = await a_provider(session, licences=("training_school",))
    teacher_id, teacher = await a_practitioner(client, session, provider, "teacher")
    last = MONDAY + timedelta(days=7)  # two Mondays, online, 60 minutes
    week = await weekly(client, provider, teacher_id, MONDAY, last, start="18:00", minutes=60)
    course = await client.post(
        f"{API}/provider/courses",
        json=course_body(week, MONDAY, last, 10_000),
        headers=provider.headers,
    )
    assert course.status_code == 201, course.text
    (pupil,) = await people(session, 1)
    enrolled = await client.post(
        f"{API}/courses/{course.json()['id']}/enrol", headers=pupil.headers
    )
    enrolment = enrolled.json()["enrolment"]
    await pay(
        client,
        settings,
        {"public_id": enrolled.json()["payment_public_id"], "amount_fen": 20_000},
    )
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        first, second = list(
            await s.scalars(
                select(Booking)
                .where(Booking.enrolment_id == enrolment["id"])
                .order_by(Booking.starts_at)
            )
        )
    escrow = ledger.training_escrow(provider.organisation.id)
    payable = ledger.merchant_payable(provider.organisation.id)

    async def balances() -> tuple[int, int]:
        async with app.state.sessionmaker() as s:
            return await ledger.balance(s, escrow), await ledger.balance(s, payable)

    assert await balances() == (-20_000, 0)
    frozen_clock.set(first.starts_at - timedelta(minutes=5))
    await confirm_identity(client, teacher, first.slot_id)
    checked = await client.post(
        f"{API}/provider/bookings/{first.id}/check-in", headers=provider.headers
    )
    assert checked.status_code == 200, checked.text
    await attend(app, frozen_clock, first.id, teacher.user.id, "practitioner", -5, 60)
    # The pupil: 0-20, a reconnect 15-25 (overlapping), 40-44: 29 minutes, below 50%.
    for a, b in ((0, 20), (15, 25), (40, 44)):
        await attend(app, frozen_clock, first.id, pupil.user.id, "client", a, b)
    frozen_clock.set(first.ends_at - timedelta(minutes=1))
    complete = f"{API}/provider/bookings/{first.id}/complete"
    below = await client.post(complete, headers=provider.headers)
    assert (below.status_code, below.json()["error"]["code"]) == (409, "not_attended"), below.text
    assert "29 minutes" in below.json()["error"]["message"]
    assert "50 per cent" in below.json()["error"]["message"]
    assert await balances() == (-20_000, 0)  # nothing released below the share
    given = await client.post(
        f"{API}/provider/bookings/{first.id}/cancel",
        json={"reason": "学生没来"},
        headers=provider.headers,
    )
    assert (given.status_code, given.json()["error"]["code"]) == (409, "given"), given.text
    await attend(app, frozen_clock, first.id, pupil.user.id, "client", 44, 45)  # 30: half
    frozen_clock.set(first.ends_at - timedelta(minutes=1))
    done = await client.post(complete, headers=provider.headers)
    assert done.status_code == 200, done.text
    assert await balances() == (-10_000, -10_000)
    again = await client.post(complete, headers=provider.headers)
    assert again.status_code == 409
    assert await balances() == (-10_000, -10_000)  # never released twice
    async with app.state.sessionmaker() as s:
        released = await s.scalar(
            select(AuditEntry.details).where(AuditEntry.action == "services.class.released")
        )
    assert released is not None
    assert (released["attended_seconds"], released["rule"]) == (
        30 * 60,
        "services.online_attendance@1",
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as desk:
        await form_login(desk, provider.owner.phone)
        page = (await desk.get("/services/desk", headers={"Accept-Language": "zh-CN"})).text
    row = page.split(f'data-booking="{first.id}"')[1].split("</article>")[0]
    assert 'data-attended-minutes="30"' in row
    assert "线上在场：30 分钟" in row

    # Class 2: the pupil was there all along but the teacher barely came: not delivered.
    frozen_clock.set(second.starts_at - timedelta(minutes=5))
    await confirm_identity(client, teacher, second.slot_id)
    await client.post(f"{API}/provider/bookings/{second.id}/check-in", headers=provider.headers)
    await attend(app, frozen_clock, second.id, pupil.user.id, "client", 0, 60)
    await attend(app, frozen_clock, second.id, teacher.user.id, "practitioner", 0, 10)
    not_given = await client.post(
        f"{API}/provider/bookings/{second.id}/complete", headers=provider.headers
    )
    assert not_given.json()["error"]["code"] == "not_delivered", not_given.text
    # Not given: the provider cancels it (against the provider, not the pupil), which the
    # desk refuses for a class the teacher did give.
    cancel = f"{API}/provider/bookings/{second.id}/cancel"
    unexplained = await client.post(cancel, json={"reason": ""}, headers=provider.headers)
    assert unexplained.status_code == 422
    cancelled = await client.post(
        cancel, json={"reason": "老师网络故障，本节未上"}, headers=provider.headers
    )
    assert (cancelled.json()["status"], cancelled.json()["cancelled_by"]) == (
        "cancelled",
        "provider",
    ), cancelled.text
    assert await balances() == (-10_000, -10_000)  # the fee stays in escrow
    refunded = await client.post(
        f"{API}/enrolments/{enrolment['id']}/refund", headers=pupil.headers
    )
    assert refunded.json()["refunded_classes"] == 1, refunded.text
    assert await balances() == (0, -10_000)
    async with app.state.sessionmaker() as s:
        assert (await ledger.trial_balance(s)).total == 0
    exported = await client.get("/api/v1/privacy/export", headers=pupil.headers)
    assert exported.status_code == 200, exported.text
    connections = exported.json()["sections"]["services"]["room_attendance"]
    assert [(c["booking_id"], c["role"]) for c in connections] == [
        *[(first.id, "client")] * 4,
        (second.id, "client"),
    ]


async def serve(app: FastAPI) -> tuple[str, uvicorn.Server, asyncio.Task[None]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.02)
    return f"ws://127.0.0.1:{port}", served, task


async def test_the_parties_meet_when_two_server_processes_serve_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    """The relay goes through the database: the teacher on one server, the pupil on another
    (each app its own process's relay), as behind a load balancer or with web_workers > 1."""
    provider = await a_provider(session, licences=("training_school",))
    teacher_id, teacher = await a_practitioner(client, session, provider, "teacher")
    lesson = await a_slot(client, provider, teacher_id, kind="consultation", capacity=1)
    (pupil,) = await people(session, 1)
    made = await book(client, pupil, lesson["id"])
    key = settings.resolved_secret_key()
    async with app.state.sessionmaker() as s:
        row = await s.get(Booking, made.json()["id"])
        assert row is not None
    starts = datetime.fromisoformat(lesson["starts_at"])
    frozen_clock.set(starts - timedelta(minutes=1))
    await confirm_identity(client, teacher, lesson["id"])
    other = create_app(settings)
    async with LifespanManager(other):
        first, first_server, first_task = await serve(app)
        second, second_server, second_task = await serve(other)
        try:
            teacher_ws = f"{first}{API}/join/{link_for(key, row, teacher.user.id)[15:]}/ws"
            pupil_ws = f"{second}{API}/join/{link_for(key, row, pupil.user.id)[15:]}/ws"
            async with connect(
                teacher_ws, additional_headers=await cookie_of(app, teacher.user)
            ) as t:
                t_hello = await next_of(t, "hello")
                assert t_hello["peers"] == []
                async with connect(
                    pupil_ws, additional_headers=await cookie_of(app, pupil.user)
                ) as p:
                    p_hello = await next_of(p, "hello")
                    assert [x["id"] for x in p_hello["peers"]] == [t_hello["you"]["id"]]
                    assert (await next_of(t, "joined"))["peer"] == p_hello["you"]
                    offer = {"description": {"type": "offer", "sdp": "v=0"}}
                    message = {"type": "signal", "to": p_hello["you"]["id"], "data": offer}
                    await t.send(json.dumps(message))
                    assert (await next_of(p, "signal"))["data"] == offer
                    answer = {"description": {"type": "answer", "sdp": "v=0"}}
                    message = {"type": "signal", "to": t_hello["you"]["id"], "data": answer}
                    await p.send(json.dumps(message))
                    assert (await next_of(t, "signal"))["from"] == p_hello["you"]["id"]
                assert (await next_of(t, "left"))["peer"] == p_hello["you"]["id"]
        finally:
            for server_ in (first_server, second_server):
                server_.should_exit = True
            await asyncio.gather(first_task, second_task)
    await all_left(app, row.id, 2)
