"""Personal data (PIPL): the export holds all of mine and nothing of anyone else's; closing is
refused while something is open, and otherwise ends every session and token, anonymises and
keeps the transaction records for the retention period; the due job purges at its end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import ApiToken, User, UserSession
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.community.models import Residence
from linli.config import Settings
from linli.groupbuy.models import Order
from linli.notifications.models import Notification
from linli.outbox import OutboxEvent
from linli.payments.models import PaymentIntent
from linli.phone import national_number
from linli.privacy.models import AccountClosure
from linli.privacy.service import add_years
from linli.protection.return_models import ReturnRequest
from tests.factories import PASSWORD, form_login, login, make_token
from tests.groupbuy.helpers import bearer
from tests.protection.helpers import Bought, ask, body, collected

PRIVACY = "/api/v1/privacy"
RETURNS = "/api/v1/protection/returns"


async def neighbour_of(app: FastAPI, bought: Bought) -> tuple[User, int]:
    """The other resident of the loop (their order still waits at the point)."""
    async with app.state.sessionmaker() as s:
        order = await s.scalar(select(Order).where(Order.user_id != bought.buyer.user.id))
        assert order is not None
        user = await s.get(User, order.user_id)
        assert user is not None
        return user, order.id


async def count(app: FastAPI, *what: Any) -> int:
    model, *conditions = what
    async with app.state.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


async def rejected_return(client: httpx.AsyncClient, bought: Bought) -> int:
    """A return of one bag of rice, with the resident's words, rejected by the merchant."""
    asked = await client.post(
        RETURNS,
        json={
            "line_id": bought.rice_line,
            "quantity": 1,
            "reason_code": "other",
            "reason_text": "米里有虫子，住3号楼",
        },
        headers=bought.buyer.headers,
    )
    return_id = int(body(asked)["id"])
    answered = await client.post(
        f"{RETURNS}/{return_id}/answer",
        json={"approve": False, "note": "包装已拆，不影响二次销售的证据不足"},
        headers=bought.merchant,
    )
    assert answered.status_code == 200, answered.text
    return return_id


async def test_export_holds_my_data_and_nothing_of_my_neighbours(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    await ask(client, bought, bought.oil_line, 1)
    neighbour, neighbour_order = await neighbour_of(app, bought)

    answer = await client.get(f"{PRIVACY}/export", headers=bought.buyer.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].startswith("attachment;")
    document = answer.json()
    assert document["format"] == "linli.personal-data-export"
    assert document["user_id"] == bought.buyer.user.id
    sections = document["sections"]
    assert set(sections) == {
        "account",
        "community",
        "credit",
        "groupbuy",
        "live",
        "notifications",
        "pay_later",
        "payments",
        "protection",
        "services",
    }
    assert sections["pay_later"] == {"account": None, "bills": []}  # never used pay later
    # never watched a live room
    assert sections["live"] == {
        "orders": [],
        "chat_messages": [],
        "streamers": [],
        "recordings": [],
        "mutes": [],
        "rooms_watched": [],
        "leader_commissions": [],  # no leader either
        "supply_agreements": [],
    }
    # the resident collected the order: one credit record as a resident (credit.scoring)
    [record] = sections["credit"]["as_resident"]["records"]
    assert (record["kind"], record["weight"]) == ("order_collected", 1)
    assert sections["credit"]["as_resident"]["score"] == 601
    assert sections["credit"]["as_leader"]["records"] == []
    assert sections["account"]["user"]["phone"] == national_number(bought.buyer.user.phone)
    assert sections["account"]["user"]["display_name"] == bought.buyer.user.display_name
    assert [t["hint"] for t in sections["account"]["api_tokens"]] != []
    assert sections["community"]["residence"]["pickup_point_id"] == bought.world.points[0].id
    (order,) = sections["groupbuy"]["orders"]
    assert order["id"] == bought.order_id
    assert order["status"] == "picked_up"
    assert sorted(line["id"] for line in order["lines"]) == sorted(
        (bought.rice_line, bought.oil_line)
    )
    (payment,) = sections["payments"]
    assert payment["status"] == "succeeded"
    assert payment["amount_fen"] == order["total_fen"]
    (returned,) = sections["protection"]["returns"]
    assert returned["order_line_id"] == bought.oil_line
    assert sections["protection"]["complaints"] == []
    assert sections["notifications"] != []

    text = answer.text
    # No secrets: neither the password hash nor a token's or session's digest.
    async with app.state.sessionmaker() as s:
        me = await s.get(User, bought.buyer.user.id)
        assert me is not None
        digests = list(
            await s.scalars(select(ApiToken.token_digest).where(ApiToken.user_id == me.id))
        )
    assert me.password_hash not in text
    assert digests
    assert all(d not in text for d in digests)
    assert "token_digest" not in text
    assert "password" not in text
    # Nothing of the neighbour who bought at the same point in the same campaign.
    assert national_number(neighbour.phone) not in text
    assert neighbour.display_name not in text
    assert all(o["id"] != neighbour_order for o in sections["groupbuy"]["orders"])

    exported = await count(
        app,
        AuditEntry,
        AuditEntry.action == "privacy.exported",
        AuditEntry.user_id == bought.buyer.user.id,
    )
    assert exported == 1

    # The neighbour's own export names their order, not the buyer's.
    theirs = await client.get(
        f"{PRIVACY}/export", headers=bearer(await make_token(session, neighbour))
    )
    assert [o["id"] for o in theirs.json()["sections"]["groupbuy"]["orders"]] == [neighbour_order]
    assert national_number(bought.buyer.user.phone) not in theirs.text


async def test_export_needs_a_login_and_the_account_scope(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, frozen_clock: FrozenClock
) -> None:
    from tests.factories import make_user

    user = await make_user(session)
    assert (await client.get(f"{PRIVACY}/export")).status_code == 401
    narrow = bearer(await make_token(session, user, scopes=("resident",)))
    refused = await client.get(f"{PRIVACY}/export", headers=narrow)
    assert refused.status_code == 403
    assert await count(app, AuditEntry, AuditEntry.action == "privacy.exported") == 0


async def test_closing_is_refused_while_something_is_open_and_nothing_changes(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    await ask(client, bought, bought.oil_line, 1)  # an open return
    neighbour, _order = await neighbour_of(app, bought)
    close = f"{PRIVACY}/close-account"

    wrong = await client.post(
        close, json={"password": "not-my-password", "confirm": True}, headers=bought.buyer.headers
    )
    assert wrong.status_code == 422, wrong.text
    assert "password" in wrong.json()["error"]["fields"]
    unconfirmed = await client.post(
        close, json={"password": PASSWORD, "confirm": False}, headers=bought.buyer.headers
    )
    assert unconfirmed.status_code == 422, unconfirmed.text
    assert "confirm" in unconfirmed.json()["error"]["fields"]
    still_open = await client.post(
        close, json={"password": PASSWORD, "confirm": True}, headers=bought.buyer.headers
    )
    assert still_open.status_code == 409, still_open.text
    assert still_open.json()["error"]["code"] == "open_obligations"
    assert "Returns still open: 1." in still_open.json()["error"]["message"]

    waiting = await client.post(
        close,
        json={"password": PASSWORD, "confirm": True},
        headers=bearer(await make_token(session, neighbour)),
    )
    assert waiting.status_code == 409
    assert "Orders still open" in waiting.json()["error"]["message"]
    zh = await client.post(
        close,
        json={"password": PASSWORD, "confirm": True},
        headers={**bearer(await make_token(session, neighbour)), "Accept-Language": "zh-CN"},
    )
    assert "订单" in zh.json()["error"]["message"]

    # Nothing changed: both accounts open, their tokens and logins work, nothing closed.
    assert await count(app, AccountClosure) == 0
    me = await client.get("/api/v1/accounts/me", headers=bought.buyer.headers)
    assert me.status_code == 200
    assert me.json()["phone"] == bought.buyer.user.phone
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await login(other, bought.buyer.user)
        await login(other, neighbour)
    assert await count(app, AuditEntry, AuditEntry.action == "privacy.account_closed") == 0


async def test_closing_ends_everything_anonymises_and_keeps_the_records(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    await rejected_return(client, bought)
    user = bought.buyer.user
    phone = user.phone
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with browser:
        await login(browser, user)
        assert (await browser.get("/api/v1/accounts/me")).status_code == 200
        orders_before = await count(app, Order, Order.user_id == user.id)
        payments_before = await count(app, PaymentIntent, PaymentIntent.payer_user_id == user.id)
        assert await count(app, Notification, Notification.user_id == user.id) > 0
        frozen_clock.advance(timedelta(days=2))

        closed = await client.post(
            f"{PRIVACY}/close-account",
            json={"password": PASSWORD, "confirm": True},
            headers=bought.buyer.headers,
        )
        assert closed.status_code == 200, closed.text
        closure = closed.json()

        # Every session and token ended at once.
        assert (await browser.get("/api/v1/accounts/me")).status_code == 401
        assert (await browser.get("/account")).status_code in (303, 401)
    again = await client.post(
        f"{PRIVACY}/close-account",
        json={"password": PASSWORD, "confirm": True},
        headers=bought.buyer.headers,
    )
    assert again.status_code == 401
    assert (await client.get(f"{PRIVACY}/export", headers=bought.buyer.headers)).status_code == 401
    assert await count(app, AuditEntry, AuditEntry.action == "privacy.exported") == 0
    relogin = await client.post(
        "/api/v1/accounts/login", json={"phone": phone, "password": PASSWORD}
    )
    assert relogin.status_code == 401
    assert (
        await count(
            app, UserSession, UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
        )
        == 0
    )
    assert (
        await count(app, ApiToken, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)) == 0
    )

    async with app.state.sessionmaker() as s:
        row = await s.get(User, user.id)
        assert row is not None
        assert row.phone == f"closed:{user.id}"
        assert row.display_name == "—"
        assert row.is_active is False
        assert row.closed_at == frozen_clock.now()
        record = await s.get(AccountClosure, user.id)
        assert record is not None
        moments = (
            await s.execute(
                select(Order.picked_up_at, ReturnRequest.decided_at)
                .join(ReturnRequest, ReturnRequest.order_id == Order.id)
                .where(Order.user_id == user.id)
            )
        ).one()
        last = max(m for m in moments if m is not None)
        assert record.last_transaction_at == last
        assert record.retain_until == add_years(last, 3)
        assert (record.rule_id, record.rule_version) == ("privacy.retention", 1)
        events = list(
            await s.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.event_type == "privacy.AccountClosed")
            )
        )
    assert closure["retain_until"].startswith(record.retain_until.date().isoformat())
    assert len(events) == 1
    assert events[0]["user_id"] == user.id
    # Personal data that is no transaction record went; the records stay.
    assert await count(app, Residence, Residence.user_id == user.id) == 0
    assert await count(app, Notification, Notification.user_id == user.id) == 0
    assert await count(app, Order, Order.user_id == user.id) == orders_before
    assert (
        await count(app, PaymentIntent, PaymentIntent.payer_user_id == user.id) == payments_before
    )
    assert await count(app, AuditEntry, AuditEntry.action == "privacy.account_closed") == 1
    assert await count(app, AuditEntry, AuditEntry.action == "accounts.closed") == 1

    # The same number may sign up anew, as a new account.
    fresh = await client.post(
        "/api/v1/accounts/signup",
        json={"phone": phone, "password": "Another-Neighbour-9", "display_name": "新邻居"},
    )
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["id"] != user.id


async def test_the_purge_runs_when_retention_ends_not_a_day_before(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    return_id = await rejected_return(client, bought)
    user_id = bought.buyer.user.id
    closed = await client.post(
        f"{PRIVACY}/close-account",
        json={"password": PASSWORD, "confirm": True},
        headers=bought.buyer.headers,
    )
    assert closed.status_code == 200, closed.text
    async with app.state.sessionmaker() as s:
        record = await s.get(AccountClosure, user_id)
        assert record is not None
        retain_until = record.retain_until

    frozen_clock.set(retain_until - timedelta(days=1))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        record = await s.get(AccountClosure, user_id)
        assert record is not None
        assert record.purged_at is None
        kept = await s.get(ReturnRequest, return_id)
        assert kept is not None
        assert kept.reason_text == "米里有虫子，住3号楼"
    assert await count(app, OutboxEvent, OutboxEvent.event_type == "privacy.AccountPurged") == 0

    frozen_clock.set(retain_until + timedelta(days=1))
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        record = await s.get(AccountClosure, user_id)
        assert record is not None
        assert record.purged_at == frozen_clock.now()
        erased = await s.get(ReturnRequest, return_id)
        assert erased is not None
        assert erased.reason_text == ""
        assert erased.refunded_fen == 0
        assert erased.status == "rejected"  # the record stays, naming nobody
        sessions = await s.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)
        )
        assert sessions == 0
    assert await count(app, OutboxEvent, OutboxEvent.event_type == "privacy.AccountPurged") == 1
    assert await count(app, Order, Order.user_id == user_id) == 1
    assert await count(app, AuditEntry, AuditEntry.action == "privacy.account_purged") == 1


async def test_privacy_page_and_retention_come_from_the_rule(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/privacy/export", "/api/v1/privacy/close-account"} <= set(paths)
    rule = await client.get(f"{PRIVACY}/retention")
    assert rule.status_code == 200
    assert rule.json()["years"] == 3
    assert "E-Commerce Law art. 31" in rule.json()["legal_basis"]
    page = await client.get("/privacy")
    assert page.status_code == 200
    assert "kept for 3 years" in page.text
    zh = await client.get("/privacy", headers={"Accept-Language": "zh-CN"})
    assert "3 年" in zh.text


async def test_my_data_pages_in_both_languages(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    await ask(client, bought, bought.oil_line, 1)  # an open return
    user = bought.buyer.user
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with browser:
        csrf = await form_login(browser, user.phone)
        page = await browser.get("/account/privacy")
        assert page.status_code == 200
        assert "Returns still open: 1." in page.text
        zh = await browser.get("/account/privacy", headers={"Accept-Language": "zh-CN"})
        assert "注销我的账户" in zh.text
        assert "尚未结束的退货：1 件" in zh.text

        download = await browser.get("/account/privacy/export.json")
        assert download.status_code == 200
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.json()["sections"]["account"]["user"]["id"] == user.id

        wrong = await browser.post(
            "/account/close", data={"csrf_token": csrf, "password": "nope", "confirm": "true"}
        )
        assert wrong.status_code == 422
        assert "Wrong password." in wrong.text
        unconfirmed = await browser.post(
            "/account/close", data={"csrf_token": csrf, "password": PASSWORD}
        )
        assert unconfirmed.status_code == 422
        refused = await browser.post(
            "/account/close", data={"csrf_token": csrf, "password": PASSWORD, "confirm": "true"}
        )
        assert refused.status_code == 409
        assert "Your account cannot be closed yet." in refused.text
        assert await count(app, AccountClosure) == 0

        # The merchant rejects the return: nothing is open any more, the account closes.
        (open_return,) = body(await client.get(RETURNS, headers=bought.buyer.headers))
        answered = await client.post(
            f"{RETURNS}/{open_return['id']}/answer",
            json={"approve": False, "note": "已超过期限"},
            headers=bought.merchant,
        )
        assert answered.status_code == 200, answered.text
        closed = await browser.post(
            "/account/close", data={"csrf_token": csrf, "password": PASSWORD, "confirm": "true"}
        )
        assert closed.status_code == 303
        assert closed.headers["location"] == "/privacy"
        assert (await browser.get("/account/privacy")).status_code in (303, 401)
    assert await count(app, AccountClosure, AccountClosure.user_id == user.id) == 1


async def test_a_leader_application_waits_for_its_answer_then_loses_its_address(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    from tests.community.test_community_api import make_community, operator_client
    from tests.factories import make_user

    await operator_client(client, session)
    community = await make_community(client)
    await client.post("/api/v1/accounts/logout")
    resident = await make_user(session, name="李四")
    headers = bearer(await make_token(session, resident))
    applied = await client.post(
        "/api/v1/community/leader-applications",
        json={
            "community_id": community["id"],
            "point_name": "我家楼下",
            "point_address": "张江路1号3号楼502室",
            "opening_hours": "08:00-20:00",
            "daily_capacity": 20,
            "motivation": "我退休了，时间多",
        },
        headers=headers,
    )
    assert applied.status_code == 201, applied.text
    exported = await client.get(f"{PRIVACY}/export", headers=headers)
    (application,) = exported.json()["sections"]["community"]["leader_applications"]
    assert application["point_address"] == "张江路1号3号楼502室"

    waiting = await client.post(
        f"{PRIVACY}/close-account", json={"password": PASSWORD, "confirm": True}, headers=headers
    )
    assert waiting.status_code == 409
    assert "still being reviewed" in waiting.json()["error"]["message"]
    await operator_client(client, session)
    rejected = await client.post(
        f"/api/v1/community/leader-applications/{applied.json()['id']}/decision",
        json={"approve": False, "reason": "本小区已有自提点"},
    )
    assert rejected.status_code == 200, rejected.text
    await client.post("/api/v1/accounts/logout")

    closed = await client.post(
        f"{PRIVACY}/close-account", json={"password": PASSWORD, "confirm": True}, headers=headers
    )
    assert closed.status_code == 200, closed.text
    # Nothing was ever bought: nothing to keep, the purge is due at once.
    assert closed.json()["last_transaction_at"] is None
    assert closed.json()["retain_until"] == closed.json()["closed_at"]
    async with app.state.sessionmaker() as s:
        from linli.community.models import LeaderApplication

        row = await s.get(LeaderApplication, applied.json()["id"])
        assert row is not None
        assert (row.point_address, row.motivation) == ("", "")
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        record = await s.get(AccountClosure, resident.id)
        assert record is not None
        assert record.purged_at is not None


async def test_two_closings_at_once_close_the_account_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    import asyncio

    from tests.factories import make_user

    resident = await make_user(session, name="王五")
    headers = bearer(await make_token(session, resident))
    answers = await asyncio.gather(
        *(
            client.post(
                f"{PRIVACY}/close-account",
                json={"password": PASSWORD, "confirm": True},
                headers=headers,
            )
            for _ in range(2)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200, [a.text for a in answers]
    assert codes[1] in (401, 409), [a.text for a in answers]
    assert await count(app, AccountClosure, AccountClosure.user_id == resident.id) == 1
    closed_events = await count(app, OutboxEvent, OutboxEvent.event_type == "privacy.AccountClosed")
    assert closed_events == 1


async def test_password_guesses_at_closing_are_throttled(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    from tests.factories import make_user

    resident = await make_user(session, name="赵六")
    headers = bearer(await make_token(session, resident))
    close = f"{PRIVACY}/close-account"
    for _ in range(5):
        wrong = await client.post(
            close, json={"password": "guess", "confirm": True}, headers=headers
        )
        assert wrong.status_code == 422
    throttled = await client.post(
        close, json={"password": PASSWORD, "confirm": True}, headers=headers
    )
    assert throttled.status_code == 429
    assert "Retry-After" in throttled.headers
    assert await count(app, AccountClosure) == 0
    frozen_clock.advance(timedelta(minutes=16))
    closed = await client.post(close, json={"password": PASSWORD, "confirm": True}, headers=headers)
    assert closed.status_code == 200, closed.text
