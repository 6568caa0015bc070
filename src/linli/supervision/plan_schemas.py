"""Inspection plan inputs and outputs (API and pages share them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from linli.schemas import OutputModel, StrictInput
from linli.supervision.plan_models import InspectionPlan
from linli.supervision.plans import Disclosure, DrawnRow, Verification

InspectionTypeName = Literal["general", "food_safety", "pricing", "product_quality", "licensing"]


class PlanIn(StrictInput):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    inspection_type: InspectionTypeName = "general"
    period_start: date
    period_end: date
    target_count: Annotated[StrictInt, Field(ge=1, le=500)]


class ResultIn(StrictInput):
    result: Literal["passed", "issues_found", "failed"]
    findings: Annotated[str, Field(max_length=4000)] = Field(
        default="", description="Required unless passed; plain text, shown escaped"
    )
    inspected_on: date


class PlanOut(OutputModel):
    id: int
    regulator_organisation_id: int
    name: str
    inspection_type: str
    period_start: date
    period_end: date
    target_count: int
    rule_id: str
    rule_version: int
    seed: str
    status: str
    created_at: datetime
    drawn_at: datetime | None


class TargetOut(OutputModel):
    id: int
    position: int
    merchant_organisation_id: int
    merchant_name: str
    risk_class: str
    inspector_user_ids: list[int]
    result: str | None
    findings: str | None
    inspected_on: date | None
    published_at: datetime | None
    evidence_file_ids: list[int]


class PlanDetailOut(PlanOut):
    targets: list[TargetOut]


class DrawnPairOut(OutputModel):
    merchant_organisation_id: int
    inspector_user_ids: list[int]


class VerificationOut(OutputModel):
    matches: bool
    stored: list[DrawnPairOut]
    recomputed: list[DrawnPairOut]


class EvidenceOut(OutputModel):
    id: int
    target_id: int
    file_id: int
    note: str | None
    added_at: datetime


class DisclosureOut(OutputModel):
    """One published result: authority, merchant, type, date, result."""

    target_id: int
    authority: str
    merchant: str
    merchant_organisation_id: int
    inspection_type: str
    inspected_on: date
    result: str
    published_at: datetime


def present_target(row: DrawnRow) -> TargetOut:
    return TargetOut.from_row(
        row.target,
        merchant_name=row.merchant_name,
        inspector_user_ids=list(row.inspectors),
        evidence_file_ids=list(row.evidence),
    )


def present_plan(plan: InspectionPlan, rows: list[DrawnRow]) -> PlanDetailOut:
    return PlanDetailOut.from_row(plan, targets=[present_target(r) for r in rows])


def present_verification(found: Verification) -> VerificationOut:
    def pairs(items: list[tuple[int, tuple[int, ...]]]) -> list[DrawnPairOut]:
        return [
            DrawnPairOut(merchant_organisation_id=m, inspector_user_ids=list(i)) for m, i in items
        ]

    return VerificationOut(
        matches=found.matches, stored=pairs(found.stored), recomputed=pairs(found.recomputed)
    )


def present_disclosure(row: Disclosure) -> DisclosureOut:
    return DisclosureOut.model_validate(row)
