"""credit.risk.risk_classes, the provider of supervision's inspection draw: the rule's class by
credit score, made worse for a high-risk category and for supervision history (RULES.md
"Credit")."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.credit.risk import explain, risk_classes, risk_rule
from tests.credit.helpers import inspection_failed, publish
from tests.factories import make_merchant, make_user


async def test_a_high_risk_category_makes_the_drawn_class_worse(session: AsyncSession) -> None:
    plain = await make_merchant(session, await make_user(session, name="甲"), name="日用")
    fresh = await make_merchant(
        session, await make_user(session, name="乙"), name="生鲜", scope=("fresh_food",)
    )
    rule = await risk_rule(session)
    classes = await risk_classes(session, [plain.id, fresh.id, 999_999])
    assert set(classes) == {plain.id, fresh.id, 999_999}
    assert rule.high_risk_steps > 0
    assert classes[fresh.id] > classes[plain.id]  # "A" < "B" < "C" < "D"
    # without a verified identity: by credit score alone, like the plain shop
    assert classes[999_999] == classes[plain.id]


async def test_supervision_history_makes_the_class_worse_for_the_rules_days(
    app: FastAPI, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    inspected = await make_merchant(session, await make_user(session, name="丙"), name="冷链")
    clean = await make_merchant(session, await make_user(session, name="丁"), name="百货")
    await publish(app, inspection_failed(inspected.id))
    rule = await risk_rule(session)
    assert (rule.version, rule.history_steps, rule.history_days) == (2, 1, 730)
    async with app.state.sessionmaker() as s:
        failed = await explain(s, inspected.id)
        plain = await explain(s, clean.id)
        classes = await risk_classes(s, [inspected.id, clean.id])
    # 600 - 120 = 480: class C by credit, one step worse for the failed inspection
    assert (failed.score, failed.by_credit, failed.supervision_records) == (480, "C", 1)
    assert failed.risk_class == classes[inspected.id] == "D"
    assert (plain.by_credit, plain.supervision_records, plain.risk_class) == ("B", 0, "B")
    # The record stays in the ledger (and decays); after the rule's days it is history no more.
    frozen_clock.advance(timedelta(days=rule.history_days, seconds=1))
    async with app.state.sessionmaker() as s:
        later = await explain(s, inspected.id)
    assert later.supervision_records == 0
    assert later.risk_class == later.by_credit
