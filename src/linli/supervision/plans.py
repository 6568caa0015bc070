"""Inspection plans (双随机一公开): creating a plan fixes its seed and rule version; the draw
is made once and stored with its inputs; each drawn inspector records the result of their
target, which is then published (docs/supervision-inspections.md).

Every change is audited; a published result is an InspectionResultPublished event.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import SUPERVISION_INSPECT, SUPERVISION_PLANS_MANAGE, Actor, acting_organisation
from linli.credit import lists as credit_lists
from linli.credit import risk as credit_risk
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import InspectionResultPublished
from linli.i18n import N_
from linli.rules import service as rules
from linli.supervision import inspectors as directory_of_inspectors
from linli.supervision import plan_policies as policies
from linli.supervision.draw import (
    DrawImpossible,
    DrawnTarget,
    RiskClasses,
    SamplingWeights,
    compute_draw,
)
from linli.supervision.plan_models import (
    InspectionAssignment,
    InspectionEvidence,
    InspectionPlan,
    InspectionResult,
    InspectionTarget,
    InspectionType,
    PlanStatus,
)
from linli.trace.reach import regulator_reach

RULE = "supervision.random_inspection"
MAX_TARGETS = 500
MAX_FINDINGS = 4000
MAX_EVIDENCE = 10


def plan_not_found() -> NotFound:
    return NotFound(N_("No such inspection plan."), code="plan_not_found")


def target_not_found() -> NotFound:
    return NotFound(N_("No such inspection target."), code="target_not_found")


def _check(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(N_("Check the inspection plan."), fields={field: message})


# --- plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    name: str
    inspection_type: InspectionType
    period_start: date
    period_end: date
    target_count: int


async def create_plan(
    session: AsyncSession, actor: Actor, data: PlanInput, *, seed: str | None = None
) -> InspectionPlan:
    """A plan of the regulator the actor acts for; the seed is fixed here, once: 128 random
    bits. `seed` is for the demo city only (a reproducible demo); the API and the pages never
    take one from the caller."""
    regulator_id = acting_organisation(actor, SUPERVISION_PLANS_MANAGE, kinds=("regulator",))
    name = data.name.strip()
    if not 1 <= len(name) <= 120:
        raise _check("name", N_("Enter 1 to 120 characters."))
    if data.period_end < data.period_start:
        raise _check("period_end", N_("The period ends before it starts."))
    if not 1 <= data.target_count <= MAX_TARGETS:
        raise _check("target_count", N_("Draw between 1 and 500 targets."))
    regulator = await session.get(Organisation, regulator_id)
    rule = await rules.in_force(
        session, RULE, jurisdiction=regulator.district_code if regulator else None
    )
    now = clock.now()
    plan = InspectionPlan(
        regulator_organisation_id=regulator_id,
        name=name,
        inspection_type=data.inspection_type,
        period_start=data.period_start,
        period_end=data.period_end,
        target_count=data.target_count,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        rule_values=dict(rule.values),
        seed=seed or secrets.token_hex(16),
        status=PlanStatus.PLANNED,
        created_by_user_id=actor.user_id,
        created_at=now,
    )
    session.add(plan)
    await session.flush()
    audit.record(
        session,
        actor,
        "supervision.plan_created",
        target_type="inspection_plan",
        target_id=plan.id,
        seed=plan.seed,
        rule=f"{plan.rule_id}@{plan.rule_version}",
        target_count=plan.target_count,
    )
    return plan


async def access_plan(
    session: AsyncSession, actor: Actor, plan_id: int, *, lock: bool = False
) -> InspectionPlan:
    query = select(InspectionPlan).where(InspectionPlan.id == plan_id, policies.visible(actor))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    plan = await session.scalar(query)
    if plan is None:
        raise plan_not_found()
    return plan


async def listed(session: AsyncSession, actor: Actor) -> Sequence[InspectionPlan]:
    return (
        await session.scalars(
            select(InspectionPlan)
            .where(policies.visible(actor))
            .order_by(InspectionPlan.id.desc())
            .limit(200)
        )
    ).all()


async def directory(session: AsyncSession, actor: Actor) -> list[int]:
    """The merchants registered in the regulator's jurisdiction."""
    reach = await regulator_reach(session, actor)
    rows = await session.scalars(
        select(Organisation.id)
        .where(Organisation.kind == "merchant", reach.covers(Organisation.id))
        .order_by(Organisation.id)
    )
    return [int(r) for r in rows]


def _replay(inputs: dict[str, Any], seed: str) -> list[DrawnTarget]:
    """The draw from its recorded inputs. Conflicts are recorded as [inspector, merchant,
    kinds]; plans drawn before list weights have no `weights` and draw uniformly per class."""
    weights = inputs.get("weights")
    return compute_draw(
        seed,
        {int(m): str(c) for m, c in inputs["merchants"]},
        {str(c): float(s) for c, s in inputs["shares"].items()},
        int(inputs["count"]),
        [int(i) for i in inputs["inspectors"]],
        {(int(pair[0]), int(pair[1])) for pair in inputs["conflicts"]},
        int(inputs["per_target"]),
        {int(m): int(w) for m, w in weights} if weights is not None else None,
    )


async def draw(
    session: AsyncSession,
    actor: Actor,
    plan_id: int,
    *,
    risk_classes: RiskClasses = credit_risk.risk_classes,
    sampling_weights: SamplingWeights = credit_lists.sampling_weights,
) -> InspectionPlan:
    """Draw the plan's targets and inspectors from its seed; once (409 afterwards)."""
    acting_organisation(actor, SUPERVISION_PLANS_MANAGE, kinds=("regulator",))
    plan = await access_plan(session, actor, plan_id, lock=True)
    if plan.status != PlanStatus.PLANNED:
        raise Conflict(
            N_("This plan was drawn already; a draw is never repeated."),
            code="plan_drawn",
            current=plan.status,
        )
    merchant_ids = await directory(session, actor)
    if not merchant_ids:
        raise ValidationFailed(
            N_("No merchant is registered in your jurisdiction."), code="empty_directory"
        )
    per_target = int(plan.rule_values["inspectors_per_target"])
    pool = await directory_of_inspectors.directory(
        session, plan.regulator_organisation_id, directory_of_inspectors.Duty.RANDOM_INSPECTIONS
    )
    if len(pool) < per_target:
        raise ValidationFailed(
            N_("Too few inspectors: {have} may be drawn and each target needs {need}."),
            code="too_few_inspectors",
            have=len(pool),
            need=per_target,
        )
    classes = await risk_classes(session, merchant_ids)
    weights = await sampling_weights(session, merchant_ids)
    lists_rule = await credit_lists.lists_rule(session)
    conflicts = await directory_of_inspectors.conflicts(session, pool, merchant_ids)
    inputs: dict[str, Any] = {
        "merchants": [[m, classes.get(m, "B")] for m in merchant_ids],
        "weights": [[m, int(weights.get(m, 100))] for m in merchant_ids],
        "weights_rule": f"{lists_rule.rule_id}@{lists_rule.version}",
        "shares": dict(plan.rule_values["sampling_shares"]),
        "count": plan.target_count,
        "inspectors": pool,
        "conflicts": [[i, m, kinds] for (i, m), kinds in sorted(conflicts.items())],
        "per_target": per_target,
    }
    try:
        drawn = _replay(inputs, plan.seed)
    except DrawImpossible as error:
        raise ValidationFailed(
            N_("Too few inspectors without a conflict of interest for merchant #{id}."),
            code="too_few_inspectors",
            id=error.merchant_id,
        ) from error
    for position, target in enumerate(drawn, start=1):
        row = InspectionTarget(
            plan_id=plan.id,
            position=position,
            merchant_organisation_id=target.merchant_id,
            risk_class=target.risk_class,
        )
        session.add(row)
        await session.flush()
        for inspector_id in target.inspectors:
            session.add(
                InspectionAssignment(
                    target_id=row.id,
                    plan_id=plan.id,
                    merchant_organisation_id=target.merchant_id,
                    inspector_user_id=inspector_id,
                )
            )
    plan.draw_inputs = inputs
    plan.status = PlanStatus.DRAWN
    plan.drawn_at = clock.now()
    audit.record(
        session,
        actor,
        "supervision.plan_drawn",
        target_type="inspection_plan",
        target_id=plan.id,
        seed=plan.seed,
        targets=[t.merchant_id for t in drawn],
        directory_size=len(merchant_ids),
    )
    await session.flush()
    return plan


@dataclass(frozen=True)
class DrawnRow:
    target: InspectionTarget
    merchant_name: str
    inspectors: tuple[int, ...]
    evidence: tuple[int, ...]


async def targets(session: AsyncSession, plan: InspectionPlan) -> list[DrawnRow]:
    """The drawn targets of an (already accessed) plan, in draw order."""
    rows = (
        await session.execute(
            select(InspectionTarget, Organisation.name)
            .join(Organisation, Organisation.id == InspectionTarget.merchant_organisation_id)
            .where(InspectionTarget.plan_id == plan.id)
            .order_by(InspectionTarget.position)
        )
    ).all()
    assigned: dict[int, list[int]] = {}
    for target_id, inspector_id in await session.execute(
        select(InspectionAssignment.target_id, InspectionAssignment.inspector_user_id)
        .where(InspectionAssignment.plan_id == plan.id)
        .order_by(InspectionAssignment.inspector_user_id)
    ):
        assigned.setdefault(int(target_id), []).append(int(inspector_id))
    evidence: dict[int, list[int]] = {}
    for target_id, file_id in await session.execute(
        select(InspectionEvidence.target_id, InspectionEvidence.file_id)
        .join(InspectionTarget, InspectionTarget.id == InspectionEvidence.target_id)
        .where(InspectionTarget.plan_id == plan.id)
        .order_by(InspectionEvidence.id)
    ):
        evidence.setdefault(int(target_id), []).append(int(file_id))
    return [
        DrawnRow(t, str(name), tuple(assigned.get(t.id, ())), tuple(evidence.get(t.id, ())))
        for t, name in rows
    ]


@dataclass(frozen=True)
class Verification:
    matches: bool
    stored: list[tuple[int, tuple[int, ...]]]
    recomputed: list[tuple[int, tuple[int, ...]]]


async def verify(session: AsyncSession, actor: Actor, plan_id: int) -> Verification:
    """Recompute the draw from the stored seed and inputs and compare it with what is stored."""
    plan = await access_plan(session, actor, plan_id)
    if plan.status != PlanStatus.DRAWN or plan.draw_inputs is None:
        raise Conflict(N_("This plan is not drawn yet."), code="plan_not_drawn")
    stored = [
        (r.target.merchant_organisation_id, r.inspectors) for r in await targets(session, plan)
    ]
    recomputed = [(t.merchant_id, t.inspectors) for t in _replay(plan.draw_inputs, plan.seed)]
    return Verification(stored == recomputed, stored, recomputed)


# --- results ----------------------------------------------------------------------------------


async def plan_of_target(session: AsyncSession, actor: Actor, target_id: int) -> int:
    """The plan of a target of a plan the actor sees; 404 otherwise."""
    found = await session.scalar(
        select(InspectionPlan.id)
        .join(InspectionTarget, InspectionTarget.plan_id == InspectionPlan.id)
        .where(InspectionTarget.id == target_id, policies.visible(actor))
    )
    if found is None:
        raise target_not_found()
    return int(found)


async def _target(
    session: AsyncSession, actor: Actor, target_id: int
) -> tuple[InspectionTarget, InspectionPlan, set[int]]:
    found = (
        await session.execute(
            select(InspectionTarget, InspectionPlan)
            .join(InspectionPlan, InspectionPlan.id == InspectionTarget.plan_id)
            .where(InspectionTarget.id == target_id, policies.visible(actor))
            .with_for_update(of=InspectionTarget)
            .execution_options(populate_existing=True)
        )
    ).first()
    if found is None:
        raise target_not_found()
    target, plan = found
    inspectors = set(
        await session.scalars(
            select(InspectionAssignment.inspector_user_id).where(
                InspectionAssignment.target_id == target.id
            )
        )
    )
    if not policies.may_record(actor, inspectors):
        raise Forbidden(
            N_("Only the inspectors drawn for this merchant record its inspection."),
            code="not_drawn_inspector",
        )
    return target, plan, inspectors


@dataclass(frozen=True)
class ResultInput:
    result: InspectionResult
    findings: str
    inspected_on: date


async def record_result(
    session: AsyncSession, actor: Actor, target_id: int, data: ResultInput
) -> InspectionTarget:
    """One drawn inspector records the result; it is published at once, never edited."""
    acting_organisation(actor, SUPERVISION_INSPECT, kinds=("regulator",))
    target, plan, _ = await _target(session, actor, target_id)
    if target.result is not None:
        raise Conflict(
            N_("This inspection's result is recorded and published already."),
            code="result_recorded",
            current=target.result,
        )
    findings = data.findings.strip()
    if len(findings) > MAX_FINDINGS:
        raise ValidationFailed(
            N_("Check the inspection result."),
            fields={"findings": N_("Enter at most 4000 characters.")},
        )
    if data.result != InspectionResult.PASSED and not findings:
        raise ValidationFailed(
            N_("Check the inspection result."),
            fields={"findings": N_("Describe what was found.")},
        )
    today = clock.now().astimezone(clock.LOCAL).date()
    if not plan.period_start <= data.inspected_on <= min(plan.period_end, today):
        raise ValidationFailed(
            N_("Check the inspection result."),
            fields={"inspected_on": N_("Give a day within the plan's period, not in the future.")},
        )
    now = clock.now()
    target.result = data.result
    target.findings = findings or None
    target.inspected_on = data.inspected_on
    target.recorded_by_user_id = actor.user_id
    target.published_at = now
    outbox.publish(
        session,
        InspectionResultPublished(
            target_id=target.id,
            plan_id=plan.id,
            merchant_organisation_id=target.merchant_organisation_id,
            authority_organisation_id=plan.regulator_organisation_id,
            inspection_type=plan.inspection_type,
            result=data.result,
            inspected_on=data.inspected_on.isoformat(),
        ),
    )
    audit.record(
        session,
        actor,
        "supervision.inspection_recorded",
        target_type="inspection_target",
        target_id=target.id,
        plan_id=plan.id,
        merchant_organisation_id=target.merchant_organisation_id,
        result=data.result,
    )
    await session.flush()
    return target


async def ensure_may_add_evidence(session: AsyncSession, actor: Actor, target_id: int) -> None:
    """Evidence is added by the drawn inspectors, up to MAX_EVIDENCE files."""
    acting_organisation(actor, SUPERVISION_INSPECT, kinds=("regulator",))
    target, _, _ = await _target(session, actor, target_id)
    count = len(
        (
            await session.scalars(
                select(InspectionEvidence.id).where(InspectionEvidence.target_id == target.id)
            )
        ).all()
    )
    if count >= MAX_EVIDENCE:
        raise Conflict(N_("At most 10 evidence files per inspection."), code="evidence_full")


async def add_evidence(
    session: AsyncSession, actor: Actor, target_id: int, file_id: int, note: str
) -> InspectionEvidence:
    target, _, _ = await _target(session, actor, target_id)
    row = InspectionEvidence(
        target_id=target.id,
        file_id=file_id,
        note=note.strip() or None,
        added_by_user_id=actor.user_id,
        added_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        "supervision.evidence_added",
        target_type="inspection_target",
        target_id=target.id,
        file_id=file_id,
    )
    return row


async def evidence_of(session: AsyncSession, actor: Actor, target_id: int, file_id: int) -> int:
    """The file if it is evidence of a target of a plan the actor sees; 404 otherwise."""
    found = await session.scalar(
        select(InspectionEvidence.file_id)
        .join(InspectionTarget, InspectionTarget.id == InspectionEvidence.target_id)
        .join(InspectionPlan, InspectionPlan.id == InspectionTarget.plan_id)
        .where(
            InspectionEvidence.target_id == target_id,
            InspectionEvidence.file_id == file_id,
            policies.visible(actor),
        )
    )
    if found is None:
        raise NotFound(N_("No such file."))
    return int(found)


# --- public disclosure ------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    target_id: int
    authority: str
    merchant: str
    merchant_organisation_id: int
    inspection_type: str
    inspected_on: date
    result: str
    published_at: datetime


async def published(
    session: AsyncSession, *, merchant_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[Disclosure]:
    """Published results, newest first: authority, merchant, type, date, result; nothing
    regulator-only (no risk class, inspectors, findings or seed inputs)."""
    from sqlalchemy.orm import aliased

    authority = aliased(Organisation)
    merchant = aliased(Organisation)
    query = (
        select(InspectionTarget, InspectionPlan.inspection_type, authority.name, merchant.name)
        .join(InspectionPlan, InspectionPlan.id == InspectionTarget.plan_id)
        .join(authority, authority.id == InspectionPlan.regulator_organisation_id)
        .join(merchant, merchant.id == InspectionTarget.merchant_organisation_id)
        .where(InspectionTarget.published_at.is_not(None))
    )
    if merchant_id is not None:
        query = query.where(InspectionTarget.merchant_organisation_id == merchant_id)
    rows = (
        await session.execute(
            query.order_by(InspectionTarget.published_at.desc(), InspectionTarget.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ).all()
    out = []
    for target, kind, authority_name, merchant_name in rows:
        assert target.inspected_on is not None
        assert target.result is not None
        assert target.published_at is not None
        out.append(
            Disclosure(
                target_id=target.id,
                authority=str(authority_name),
                merchant=str(merchant_name),
                merchant_organisation_id=target.merchant_organisation_id,
                inspection_type=str(kind),
                inspected_on=target.inspected_on,
                result=target.result,
                published_at=target.published_at,
            )
        )
    return out
