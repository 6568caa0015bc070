"""Request and response bodies of the supervision API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from linli.schemas import OutputModel, StrictInput


class RuleOut(OutputModel):
    rule_id: str
    version: int
    jurisdiction: str
    title: str
    legal_basis: str
    severity: str
    effective_from: datetime
    params: dict[str, Any]
    reason: str
    created_by_user_id: int | None
    created_at: datetime


class RuleEditIn(StrictInput):
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1, max_length=500)
    effective_from: datetime | None = None
    severity: Literal["low", "medium", "high"] | None = None


class AlertOut(OutputModel):
    id: int
    rule_id: str
    rule_version: int
    rule_jurisdiction: str
    severity: str
    organisation_id: int
    subject: str
    status: str
    count: int
    summary: str
    inputs: dict[str, Any]
    evidence: list[Any]
    first_at: datetime
    last_at: datetime
    case_id: int | None


class DismissIn(StrictInput):
    reason: str = Field(min_length=1, max_length=500)


class CaseIn(StrictInput):
    alert_id: int | None = Field(default=None, ge=1)
    report_id: int | None = Field(default=None, ge=1, description="A report forwarded to you")
    organisation_id: int | None = Field(default=None, ge=1)
    title: str = Field(min_length=1, max_length=200)
    strategy: Literal["least_loaded", "round_robin"] = "least_loaded"


class CaseOut(OutputModel):
    id: int
    organisation_id: int
    alert_id: int | None
    report_id: int | None
    source: str
    title: str
    status: str
    inspector_user_id: int | None
    opened_at: datetime
    decision: str | None
    penalty_fen: int | None
    legal_basis: str | None
    serious: bool
    decision_summary: str | None
    rectify_by: datetime | None
    decided_at: datetime | None
    closed_at: datetime | None


class EntryOut(OutputModel):
    id: int
    kind: str
    text: str
    internal: bool
    file_id: int | None
    user_id: int | None
    at: datetime


class CaseDetailOut(CaseOut):
    timeline: list[EntryOut]


class AssignIn(StrictInput):
    inspector_user_id: int = Field(ge=1)


class DecisionIn(StrictInput):
    decision: Literal["no_violation", "warning", "rectify", "penalty"]
    summary: str = Field(min_length=1, max_length=5000)
    legal_basis: str = Field(default="", max_length=500)
    penalty_fen: int = Field(default=0, ge=0)
    serious: bool = False
    rectify_by: datetime | None = None


class FulfilIn(StrictInput):
    note: str = Field(min_length=1, max_length=5000)


class ConflictIn(StrictInput):
    inspector_user_id: int = Field(ge=1)
    merchant_organisation_id: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=500)


class EmergencyIn(StrictInput):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    region_code: str = Field(min_length=6, max_length=6)
    categories: list[str] = Field(min_length=1, max_length=50)
    starts_at: datetime
    ends_at: datetime
    reference_at: datetime | None = None


class EmergencyOut(OutputModel):
    id: int
    authority: str
    title: str
    description: str
    region_code: str
    categories: list[str]
    starts_at: datetime
    ends_at: datetime
    reference_at: datetime


class DisclosureOut(OutputModel):
    case_id: int
    authority: str
    merchant: str
    decision: str
    summary: str
    penalty_fen: int
    serious: bool
    legal_basis: str
    decided_at: datetime
