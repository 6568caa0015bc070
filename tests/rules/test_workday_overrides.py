"""Editing the overrides: each edit a new version; a stale or concurrent edit is refused with
409 and stores nothing; only platform staff may edit."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor, OrganisationRef, UserRef
from linli.errors import Conflict, Forbidden
from linli.rules import workday_overrides, workdays
from linli.rules.models import RuleVersion
from linli.rules.schemas import OverrideIn
from linli.rules.workdays import DayKind
from tests.conftest import DATABASE_KIND
from tests.factories import make_org, make_user


async def operator_actor(session: AsyncSession) -> Actor:
    user = await make_user(session, name="运营")
    platform = await make_org(session, "platform", owner=user, role="operator")
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(platform),
        roles=frozenset({"operator"}),
    )


def holiday(day: date, version: int = 1) -> OverrideIn:
    return OverrideIn(day=day, kind=DayKind.HOLIDAY, reason="放假", version=version)


async def versions(app: FastAPI) -> list[int]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(
            select(RuleVersion.version).where(RuleVersion.rule_id == workdays.CALENDAR_RULE)
        )
        return sorted(rows)


async def test_an_edit_is_seen_at_once_by_the_session_that_made_it(
    app: FastAPI, session: AsyncSession
) -> None:
    actor = await operator_actor(session)
    async with app.state.sessionmaker() as s:
        before = await workdays.load(s)
        assert before.is_working_day(date(2027, 1, 1))
        await workday_overrides.set_override(s, actor, holiday(date(2027, 1, 1)))
        after = await workdays.load(s)  # the cached calendar was dropped
        assert after.version == 2
        assert not after.is_working_day(date(2027, 1, 1))
        await s.commit()


async def test_only_platform_staff_edit(app: FastAPI, session: AsyncSession) -> None:
    owner = await make_user(session, name="店主")
    shop = await make_org(session, "merchant", owner=owner)
    merchant = Actor(
        user=UserRef.of(owner), organisation=OrganisationRef.of(shop), roles=frozenset({"owner"})
    )
    async with app.state.sessionmaker() as s:
        with pytest.raises(Forbidden):
            await workday_overrides.set_override(s, merchant, holiday(date(2027, 1, 1)))
    assert await versions(app) == [1]


@pytest.mark.skipif(
    DATABASE_KIND != "postgresql", reason="SQLite runs one writer at a time: edits queue"
)
async def test_two_operators_saving_at_once_one_is_told_to_look_again(
    app: FastAPI, session: AsyncSession
) -> None:
    actor = await operator_actor(session)
    async with app.state.sessionmaker() as first, app.state.sessionmaker() as second:
        await workdays.load(second)  # both saw version 1
        await workday_overrides.set_override(first, actor, holiday(date(2027, 1, 1)))
        late = asyncio.create_task(
            workday_overrides.set_override(second, actor, holiday(date(2027, 1, 4)))
        )
        await asyncio.sleep(0.3)  # the second insert waits on the first's version 2
        await first.commit()
        with pytest.raises(Conflict) as refused:
            await late
        assert refused.value.code == "calendar_changed"
        await second.rollback()
    assert await versions(app) == [1, 2]
