"""Enterprise credit-risk classes A/B/C/D, for regulators only (RULES.md "Credit").

A class is computed when a regulator asks and is never stored, published, or put in an event:
nothing but this module and the regulator's desk (api and pages behind
`regulator.credit.read`) names one. From the rule `credit.risk_class`: the class the credit
score reaches, made worse by `high_risk_steps` for an enterprise selling a high-risk category and
(version 2) by `history_steps` for one with supervision history: a record of a kind in
`history_kinds` (penalties, warnings, failed inspections...) within `history_days`. Credit
learns that history from supervision's and traceability's events, so it reads its own ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.credit import policies
from linli.credit.ledger import Standing, scoring_in_force, standing
from linli.credit.models import CreditRecord, SubjectKind
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
    # version 2: supervision history (version 1 had none: no kinds, no steps)
    history_kinds: frozenset[str] = frozenset()
    history_days: int = 0
    history_steps: int = 0

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
            history_kinds=frozenset(values.get("history_kinds", ())),
            history_days=int(values.get("history_days", 0)),
            history_steps=int(values.get("history_steps", 0)),
        )

    def classify(
        self, score: int, categories: tuple[str, ...], history: int = 0
    ) -> tuple[str, tuple[str, ...]]:
        """The class, and the high-risk categories that made it worse; `history` is the number
        of supervision-history records within the rule's days."""
        by_credit = next((c for c, minimum in self.by_score if score >= minimum), CLASSES[-1])
        risky = tuple(sorted(set(categories) & self.high_risk_categories))
        steps = (self.high_risk_steps if risky else 0) + (self.history_steps if history else 0)
        return CLASSES[min(CLASSES.index(by_credit) + steps, len(CLASSES) - 1)], risky


async def supervision_history(
    session: AsyncSession, rule: RiskRule, merchant_ids: Sequence[int], now: datetime
) -> dict[int, int]:
    """Per merchant, its records of the rule's history kinds within the rule's days (absent:
    none). One query for all of them."""
    if not rule.history_kinds or not rule.history_days or not merchant_ids:
        return {}
    since = now - timedelta(days=rule.history_days)
    rows = await session.execute(
        select(CreditRecord.subject_id, func.count())
        .where(
            CreditRecord.subject_kind == SubjectKind.MERCHANT,
            CreditRecord.subject_id.in_(list(merchant_ids)),
            CreditRecord.kind.in_(sorted(rule.history_kinds)),
            CreditRecord.occurred_at >= since,
            CreditRecord.occurred_at <= now,
        )
        .group_by(CreditRecord.subject_id)
    )
    return {int(subject): int(n) for subject, n in rows.all()}


@dataclass(frozen=True)
class RiskRow:
    identity: PublicIdentity
    standing: Standing
    risk_class: str
    by_credit: str
    high_risk_categories: tuple[str, ...]
    supervision_records: int
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
    identities = await identities_in_region(session, region)
    history = await supervision_history(session, rule, [i.organisation_id for i in identities], now)
    for identity in identities:
        credit = await standing(
            session, SubjectKind.MERCHANT, identity.organisation_id, now, scoring=scoring
        )
        records = history.get(identity.organisation_id, 0)
        risk_class, risky = rule.classify(credit.score, identity.business_scope, records)
        by_credit, _ = rule.classify(credit.score, ())
        rows.append(
            RiskRow(
                identity=identity,
                standing=credit,
                risk_class=risk_class,
                by_credit=by_credit,
                high_risk_categories=risky,
                supervision_records=records,
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
    history = await supervision_history(session, rule, merchant_ids, now)
    classes: dict[int, str] = {}
    for merchant_id in merchant_ids:
        identity = await public_identity(session, merchant_id)
        credit = await standing(session, SubjectKind.MERCHANT, merchant_id, now, scoring=scoring)
        scope = identity.business_scope if identity is not None else ()
        classes[merchant_id], _ = rule.classify(
            credit.score, tuple(scope), history.get(merchant_id, 0)
        )
    return classes


@dataclass(frozen=True)
class RiskExplanation:
    """Why a merchant is in its class (regulator-only, like the class): the credit score and
    grade, the class they reach, the high-risk categories and the supervision history (records
    within the rule's days), and the steps they added."""

    organisation_id: int
    score: int
    grade: str
    by_credit: str
    risk_class: str
    high_risk_categories: tuple[str, ...]
    supervision_records: int
    history_days: int
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
    records = (await supervision_history(session, rule, [merchant_id], now)).get(merchant_id, 0)
    risk_class, risky = rule.classify(credit.score, scope, records)
    by_credit, _ = rule.classify(credit.score, ())
    return RiskExplanation(
        organisation_id=merchant_id,
        score=credit.score,
        grade=credit.grade,
        by_credit=by_credit,
        risk_class=risk_class,
        high_risk_categories=risky,
        supervision_records=records,
        history_days=rule.history_days,
        steps=CLASSES.index(risk_class) - CLASSES.index(by_credit),
        sampling_percent=rule.sampling_percent[risk_class],
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
