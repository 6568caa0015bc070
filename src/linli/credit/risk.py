"""Enterprise credit-risk classes A/B/C/D, for regulators only (RULES.md "Credit").

A class is computed when a regulator asks and is never stored, published, or put in an event:
nothing but this module and the regulator's desk (api and pages behind
`regulator.credit.read`) names one. From the rule `credit.risk_class`: the class the credit
score reaches, made worse by `high_risk_steps` for an enterprise selling a high-risk category.
Supervision history joins when supervision exists (docs/credit.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.credit import policies
from linli.credit.ledger import Standing, scoring_in_force, standing
from linli.credit.models import SubjectKind
from linli.merchants.queries import PublicIdentity, identities_in_region, public_identity
from linli.rules import service as rules

RISK_RULE = "credit.risk_class"
CLASSES = ("A", "B", "C", "D")


class DeskSort(StrEnum):
    RISK = "risk"  # D first
    SCORE = "score"  # lowest score first
    NAME = "name"


@dataclass(frozen=True)
class RiskRule:
    rule_id: str
    version: int
    by_score: tuple[tuple[str, int], ...]
    high_risk_categories: frozenset[str]
    high_risk_steps: int
    sampling_percent: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, rule_id: str, version: int, values: Mapping[str, Any]) -> RiskRule:
        return cls(
            rule_id=rule_id,
            version=version,
            by_score=tuple((str(c), int(m)) for c, m in values["by_score"]),
            high_risk_categories=frozenset(values["high_risk_categories"]),
            high_risk_steps=int(values["high_risk_steps"]),
            sampling_percent={
                c: (int(low), int(high)) for c, (low, high) in values["sampling_percent"].items()
            },
        )

    def classify(self, score: int, categories: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        """The class, and the high-risk categories that made it worse."""
        by_credit = next((c for c, minimum in self.by_score if score >= minimum), CLASSES[-1])
        risky = tuple(sorted(set(categories) & self.high_risk_categories))
        steps = self.high_risk_steps if risky else 0
        return CLASSES[min(CLASSES.index(by_credit) + steps, len(CLASSES) - 1)], risky


@dataclass(frozen=True)
class RiskRow:
    identity: PublicIdentity
    standing: Standing
    risk_class: str
    by_credit: str
    high_risk_categories: tuple[str, ...]
    sampling_percent: tuple[int, int]
    rule_id: str
    rule_version: int


async def risk_rule(session: AsyncSession, at: datetime | None = None) -> RiskRule:
    rule = await rules.in_force(session, RISK_RULE, at=at)
    return RiskRule.of(rule.rule_id, rule.version, rule.values)


def _sort_key(sort: DeskSort) -> Any:
    if sort is DeskSort.RISK:
        return lambda r: (-CLASSES.index(r.risk_class), r.standing.score, r.identity.name)
    if sort is DeskSort.SCORE:
        return lambda r: (r.standing.score, r.identity.name)
    return lambda r: (r.identity.name, r.identity.organisation_id)


async def credit_desk(
    session: AsyncSession, actor: Actor, sort: DeskSort = DeskSort.RISK
) -> list[RiskRow]:
    """The merchants in the regulator's jurisdiction with their risk classes."""
    region = await policies.regulator_region(session, actor)
    if region is None:
        return []
    now = clock.now()
    rule = await risk_rule(session, now)
    scoring = await scoring_in_force(session, now)
    rows: list[RiskRow] = []
    for identity in await identities_in_region(session, region):
        credit = await standing(
            session, SubjectKind.MERCHANT, identity.organisation_id, now, scoring=scoring
        )
        risk_class, risky = rule.classify(credit.score, identity.business_scope)
        by_credit, _ = rule.classify(credit.score, ())
        rows.append(
            RiskRow(
                identity=identity,
                standing=credit,
                risk_class=risk_class,
                by_credit=by_credit,
                high_risk_categories=risky,
                sampling_percent=rule.sampling_percent[risk_class],
                rule_id=rule.rule_id,
                rule_version=rule.version,
            )
        )
    return sorted(rows, key=_sort_key(sort))


async def risk_classes(session: AsyncSession, merchant_ids: Sequence[int]) -> dict[int, str]:
    """The risk class of each merchant, for supervision's inspection draw (regulator-only: the
    draw records it in the plan's draw inputs, never in an event or a disclosure). A merchant
    without a verified public identity is classed by credit score alone."""
    now = clock.now()
    rule = await risk_rule(session, now)
    scoring = await scoring_in_force(session, now)
    classes: dict[int, str] = {}
    for merchant_id in merchant_ids:
        identity = await public_identity(session, merchant_id)
        credit = await standing(session, SubjectKind.MERCHANT, merchant_id, now, scoring=scoring)
        scope = identity.business_scope if identity is not None else ()
        classes[merchant_id], _ = rule.classify(credit.score, tuple(scope))
    return classes


@dataclass(frozen=True)
class RiskExplanation:
    """Why a merchant is in its class (regulator-only, like the class): the credit score and
    grade, the class they reach, the high-risk categories and the steps they added."""

    organisation_id: int
    score: int
    grade: str
    by_credit: str
    risk_class: str
    high_risk_categories: tuple[str, ...]
    steps: int
    sampling_percent: tuple[int, int]
    rule_id: str
    rule_version: int


async def explain(
    session: AsyncSession, merchant_id: int, at: datetime | None = None
) -> RiskExplanation:
    """The class of one merchant with its reasons, for supervision's risk profile (computed
    when asked, never stored, like `risk_classes`)."""
    now = at or clock.now()
    rule = await risk_rule(session, now)
    identity = await public_identity(session, merchant_id)
    credit = await standing(session, SubjectKind.MERCHANT, merchant_id, now)
    scope = tuple(identity.business_scope) if identity is not None else ()
    risk_class, risky = rule.classify(credit.score, scope)
    by_credit, _ = rule.classify(credit.score, ())
    return RiskExplanation(
        organisation_id=merchant_id,
        score=credit.score,
        grade=credit.grade,
        by_credit=by_credit,
        risk_class=risk_class,
        high_risk_categories=risky,
        steps=CLASSES.index(risk_class) - CLASSES.index(by_credit),
        sampling_percent=rule.sampling_percent[risk_class],
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
