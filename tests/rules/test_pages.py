"""The rules pages: the working-day calendar an operator edits (overrides as new rule versions,
with a reason and an audit entry), the warning that a year's calendar is missing, who may see
and edit it, and what hostile input gets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.rules import service, workdays
from linli.rules.models import RuleVersion
from tests.factories import login, make_org, make_user

CALENDAR = "/ops/rules/calendar"
OVERRIDES = CALENDAR


async def as_operator(client: httpx.AsyncClient, session: AsyncSession) -> None:
    operator = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=operator, role="operator")
    await login(client, operator, organisation=platform)


def form(client: httpx.AsyncClient, **fields: str) -> dict[str, str]:
    return {"csrf_token": client.cookies.get(CSRF_COOKIE) or "", **fields}


def missing(page: httpx.Response) -> str | None:
    found = re.search(r'data-calendar-missing="([^"]*)"', page.text)
    return found.group(1) if found else None


async def calendar_versions(session: AsyncSession) -> list[RuleVersion]:
    await session.rollback()  # a fresh snapshot: see what the requests committed
    rows = await session.scalars(
        select(RuleVersion)
        .where(RuleVersion.rule_id == workdays.CALENDAR_RULE)
        .order_by(RuleVersion.version)
    )
    return list(rows)


async def test_the_operator_is_warned_about_next_year_until_an_override_exists(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    await as_operator(client, session)  # 2026-11-26: 2026 is in the package, 2027 is not
    for path in (CALENDAR, "/ops/rules", "/ops/outbox"):
        page = await client.get(path)
        assert page.status_code == 200, page.text
        assert missing(page) == "2027", path
        assert "The working-day calendar is missing for 2027." in page.text
    page = await client.get(CALENDAR)
    assert 'data-year="2026" data-source="package"' in page.text
    assert 'data-year="2027" data-source="missing"' in page.text

    saved = await client.post(
        OVERRIDES,
        data=form(client, day="2027-01-01", kind="holiday", reason="元旦", version="1"),
    )
    assert saved.status_code == 303, saved.text
    page = await client.get(saved.headers["location"])
    assert "Saved." in page.text
    assert 'data-override="2027-01-01" data-kind="holiday"' in page.text
    assert 'data-year="2027" data-source="overrides"' in page.text
    for path in (CALENDAR, "/ops/rules", "/ops/outbox"):
        assert missing(await client.get(path)) is None, path

    worked = await client.post(
        OVERRIDES,
        data=form(client, day="2027-01-09", kind="working_day", reason="调休上班", version="2"),
    )
    assert worked.status_code == 303, worked.text
    rows = await calendar_versions(session)
    assert [r.version for r in rows] == [1, 2, 3]
    assert rows[0].effective_to is not None
    assert rows[1].effective_to is not None
    assert rows[2].effective_to is None
    assert rows[2].values == {
        "overrides": {
            "2027-01-01": {"kind": "holiday", "reason": "元旦"},
            "2027-01-09": {"kind": "working_day", "reason": "调休上班"},
        }
    }
    calendar = workdays.calendar_of(await service.in_force(session, workdays.CALENDAR_RULE))
    assert not calendar.is_working_day(datetime(2027, 1, 1).date())
    assert calendar.is_working_day(datetime(2027, 1, 9).date())
    entries = (
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.like("rules.calendar_override_%"))
            .order_by(AuditEntry.id)
        )
    ).all()
    assert [(e.details["day"], e.details["kind"], e.details["rule"]) for e in entries] == [
        ("2027-01-01", "holiday", "calendar.working_days@2"),
        ("2027-01-09", "working_day", "calendar.working_days@3"),
    ]
    assert all(e.user_id is not None for e in entries)

    removed = await client.post(
        f"{CALENDAR}/remove",
        data=form(client, day="2027-01-01", reason="录入有误", version="3"),
    )
    assert removed.status_code == 303, removed.text
    rows = await calendar_versions(session)
    assert rows[-1].version == 4
    assert rows[-1].values["overrides"] == {
        "2027-01-09": {"kind": "working_day", "reason": "调休上班"}
    }
    # one override left in 2027: no warning
    assert missing(await client.get(CALENDAR)) is None


async def test_the_warning_names_the_years_missing_and_is_absent_when_covered(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(datetime(2030, 6, 1, 4, 0, tzinfo=UTC))
    await as_operator(client, session)
    assert missing(await client.get(CALENDAR)) == "2030 2031"
    frozen_clock.set(datetime(2025, 6, 1, 4, 0, tzinfo=UTC))  # 2025 and 2026 in the package
    await as_operator(client, session)
    for path in (CALENDAR, "/ops/rules", "/ops/outbox"):
        page = await client.get(path)
        assert page.status_code == 200
        assert missing(page) is None, path
        assert "calendar is missing" not in page.text


async def test_only_operators_see_and_edit_the_calendar(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    anonymous = await client.get(CALENDAR)
    assert anonymous.status_code == 401
    resident = await make_user(session, name="居民")
    await login(client, resident)
    assert (await client.get(CALENDAR)).status_code == 403
    refused = await client.post(
        OVERRIDES, data=form(client, day="2027-01-01", kind="holiday", reason="x", version="1")
    )
    assert refused.status_code == 403
    owner = await make_user(session, name="店主")
    shop = await make_org(session, "merchant", owner=owner)
    await login(client, owner, organisation=shop)
    assert (await client.get(CALENDAR)).status_code == 403
    refused = await client.post(
        f"{CALENDAR}/remove", data=form(client, day="2027-01-01", reason="x", version="1")
    )
    assert refused.status_code == 403
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer)
    await login(client, officer, organisation=regulator)
    assert (await client.get(CALENDAR)).status_code == 403
    assert [r.version for r in await calendar_versions(session)] == [1]


async def test_hostile_input_is_refused_with_the_reason_and_nothing_is_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_operator(client, session)
    ok = {"day": "2027-01-01", "kind": "holiday", "reason": "x", "version": "1"}
    cases: list[tuple[dict[str, str], int, str | None]] = [
        ({**ok, "day": "2027-02-30"}, 422, "day"),
        ({**ok, "day": "next friday"}, 422, "day"),
        ({**ok, "day": "1999-12-31"}, 422, "day"),
        ({**ok, "kind": "weekend"}, 422, "kind"),
        ({**ok, "reason": " "}, 422, "reason"),
        ({**ok, "reason": "x" * 201}, 422, "reason"),
        ({**ok, "reason": "a\x00b"}, 422, "reason"),
        ({**ok, "version": "一"}, 422, "version"),
        ({**ok, "extra": "1"}, 422, "extra"),
        ({**ok, "version": "7"}, 409, None),
        ({}, 422, "day"),
    ]
    for fields, status, field in cases:
        answer = await client.post(OVERRIDES, data=form(client, **fields))
        assert answer.status_code == status, (fields, answer.status_code)
        if field is not None:
            assert f"<strong>{field}</strong>" in answer.text, (fields, answer.text[:2000])
        else:
            assert "The calendar was changed in the meantime." in answer.text
    kind = await client.post(
        OVERRIDES,
        data=form(client, day="2027-01-01", kind="weekend", reason="x", version="1"),
    )
    assert "Choose one of: &#39;holiday&#39; or &#39;working_day&#39;." in kind.text
    nothing = await client.post(
        f"{CALENDAR}/remove", data=form(client, day="2027-01-01", reason="x", version="1")
    )
    assert nothing.status_code == 422
    assert "There is no override on this date." in nothing.text
    assert [r.version for r in await calendar_versions(session)] == [1]

    script = "<script>alert(1)</script>"
    saved = await client.post(
        OVERRIDES, data=form(client, day="2027-01-01", kind="holiday", reason=script, version="1")
    )
    assert saved.status_code == 303
    page = await client.get(CALENDAR)
    assert script not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    stale = await client.post(
        OVERRIDES, data=form(client, day="2027-01-04", kind="holiday", reason="x", version="1")
    )
    assert stale.status_code == 409  # the page it came from showed version 1; 2 is in force
    assert [r.version for r in await calendar_versions(session)] == [1, 2]


async def test_a_page_in_chinese(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await as_operator(client, session)
    page = await client.get(CALENDAR, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "工作日日历" in page.text
