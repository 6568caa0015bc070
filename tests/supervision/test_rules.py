"""Each built-in supervision rule fires just over its threshold and stays silent just under,
with the clock; repeated firings merge into one open alert with a count."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.clock import FrozenClock
from linli.merchants.models import Licence
from linli.supervision import alert_service, rule_evaluation
from linli.supervision import rule_defaults as R
from linli.supervision.rule_evaluation import COMPLAINT, ORDER_PAID, RETURN_REQUESTED
from tests.supervision.world import a_world, alerts, set_rule


async def _signals(session: AsyncSession, org: int, kind: str, n: int, prefix: str) -> None:
    for i in range(n):
        await alert_service.record_signal(session, org, kind, f"{prefix}:{i}")
    await session.commit()


async def test_complaint_rate_fires_just_over_and_not_at_the_threshold(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await set_rule(session, R.COMPLAINT_RATE, min_orders=20, max_rate_pct=5.0)
    org = w.merchant.id
    await _signals(session, org, ORDER_PAID, 40, "order")
    await _signals(session, org, COMPLAINT, 2, "complaint")  # 5 %: not over
    assert not await rule_evaluation.complaint_rate(session, org)
    await _signals(session, org, COMPLAINT, 1, "more")  # 7.5 %
    assert await rule_evaluation.complaint_rate(session, org)
    await session.commit()
    (alert,) = await alerts(session, R.COMPLAINT_RATE)
    assert alert.regulator_organisation_id == w.regulator.id
    assert alert.rule_version == 2
    assert alert.inputs["complaints"] == 3
    assert alert.inputs["orders"] == 40
    # again: merged, counted
    assert await rule_evaluation.complaint_rate(session, org)
    await session.commit()
    (merged,) = await alerts(session, R.COMPLAINT_RATE)
    assert merged.count == 2
    # outside the window the complaints no longer count
    frozen_clock.advance(timedelta(days=31))
    assert not await rule_evaluation.complaint_rate(session, org)


async def test_too_few_orders_never_fire_the_rate(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await _signals(session, w.merchant.id, ORDER_PAID, 19, "order")
    await _signals(session, w.merchant.id, COMPLAINT, 19, "complaint")
    assert not await rule_evaluation.complaint_rate(session, w.merchant.id)


async def test_return_spike_against_the_merchants_own_baseline(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    org = w.merchant.id
    # baseline (8 weeks back, before the last week): 100 orders, 5 returns = 5 %
    frozen_clock.advance(timedelta(days=-30))
    await _signals(session, org, ORDER_PAID, 100, "old-order")
    await _signals(session, org, RETURN_REQUESTED, 5, "old-return")
    frozen_clock.advance(timedelta(days=30))
    await _signals(session, org, ORDER_PAID, 20, "order")
    await _signals(session, org, RETURN_REQUESTED, 2, "return")  # 10 % = 2 x 5 %: not over
    assert not await rule_evaluation.refund_spike(session, org)
    await _signals(session, org, RETURN_REQUESTED, 1, "more")  # 15 %
    assert await rule_evaluation.refund_spike(session, org)
    await session.commit()
    (alert,) = await alerts(session, R.REFUND_SPIKE)
    assert alert.inputs["baseline_rate_pct"] == 5.0
    assert alert.inputs["rate_pct"] == 15.0


async def test_counted_rules_fire_at_their_minimum_count(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    org = w.merchant.id
    for rule_id in (
        R.RETURN_REFUND_OVERDUE,
        R.INSPECTION_FAILED,
        R.COLD_CHAIN,
        R.RECALL_OVERDUE,
        R.PRESCRIPTION_UNREVIEWED,
        R.PREPAID_OVER_LIMIT,
    ):
        await set_rule(session, rule_id, min_count=2, window_days=7)
        assert not await rule_evaluation.counted_fact(session, rule_id, org, "a:1")
        frozen_clock.advance(timedelta(days=8))  # the first falls out of the window
        assert not await rule_evaluation.counted_fact(session, rule_id, org, "a:2")
        assert await rule_evaluation.counted_fact(session, rule_id, org, "a:3")
        await session.commit()
        (alert,) = await alerts(session, rule_id)
        assert alert.inputs["count"] == 2
        assert [e["ref"] for e in alert.evidence] == ["a:3", "a:2"]


async def test_licence_lapsed_after_the_grace_days(
    session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    w = await a_world(session)
    await set_rule(session, R.LICENCE_LAPSED, grace_days=3)
    today = clock.now().date()
    from linli.files.models import StoredFile

    stored = StoredFile(
        sha256="0" * 64,
        content_type="application/pdf",
        size=1,
        original_name="l.pdf",
        purpose="licence",
        public=False,
        owner_user_id=w.owner.id,
        owner_organisation_id=w.merchant.id,
        created_at=clock.now(),
    )
    session.add(stored)
    await session.flush()
    session.add(
        Licence(
            organisation_id=w.merchant.id,
            licence_type="food_business",
            number="JY1",
            valid_from=date(2020, 1, 1),
            valid_to=today - timedelta(days=3),
            file_id=stored.id,
            created_at=clock.now(),
        )
    )
    await session.commit()
    assert not await rule_evaluation.licence_lapsed(session, w.merchant.id, today)
    assert await rule_evaluation.licence_lapsed(session, w.merchant.id, today + timedelta(days=1))
    await session.commit()
    (alert,) = await alerts(session, R.LICENCE_LAPSED)
    assert alert.subject == "licence:food_business"
