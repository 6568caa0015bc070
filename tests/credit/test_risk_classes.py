"""credit.risk.risk_classes, the provider of supervision's inspection draw: the rule's class by
credit score, made worse for a high-risk category (RULES.md "Credit")."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.credit.risk import risk_classes, risk_rule
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
