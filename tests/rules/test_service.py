from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.rules import service
from linli.rules.models import RuleVersion


def version(
    rule_id: str,
    number: int,
    jurisdiction: str,
    since: datetime,
    until: datetime | None = None,
    **values: object,
) -> RuleVersion:
    return RuleVersion(
        rule_id=rule_id,
        version=number,
        jurisdiction=jurisdiction,
        title="t",
        legal_basis="b",
        effective_from=since,
        effective_to=until,
        values=dict(values),
        created_at=clock.now(),
    )


async def test_defaults_are_installed_once(session: AsyncSession) -> None:
    assert await service.ensure_defaults(session) == 0  # the app installed them at start
    rule = await service.in_force(session, "market_access.negative_list")
    assert rule.version == 1
    assert "drugs" in rule.values["prohibited"]


async def test_newest_version_in_force_and_local_rules_win(session: AsyncSession) -> None:
    jan, jul = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)
    session.add_all(
        [
            version("price.gouging", 1, "CN", jan, threshold=35),
            version("price.gouging", 2, "CN", jul, threshold=30),
            version("price.gouging", 1, "310000", jan, threshold=20),
            version(
                "price.gouging", 1, "310115", jan, datetime(2026, 3, 1, tzinfo=UTC), threshold=10
            ),
        ]
    )
    await session.flush()
    at = datetime(2026, 8, 1, tzinfo=UTC)
    assert (await service.in_force(session, "price.gouging", at=at)).values == {"threshold": 30}
    national_before = await service.in_force(
        session, "price.gouging", at=datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert national_before.values == {"threshold": 35}
    shanghai = await service.in_force(session, "price.gouging", at=at, jurisdiction="310101")
    assert shanghai.values == {"threshold": 20}  # the province's own rule
    pudong_feb = await service.in_force(
        session, "price.gouging", at=datetime(2026, 2, 1, tzinfo=UTC), jurisdiction="310115"
    )
    assert pudong_feb.values == {"threshold": 10}
    pudong_aug = await service.in_force(session, "price.gouging", at=at, jurisdiction="310115")
    assert pudong_aug.values == {"threshold": 20}  # the district's version has ended
    with pytest.raises(service.RuleMissing):
        await service.in_force(session, "price.gouging", at=datetime(2025, 1, 1, tzinfo=UTC))
