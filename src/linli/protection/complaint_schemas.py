"""Complaint inputs and outputs (API and pages share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from linli.protection.complaint_models import Complaint, ComplaintStep
from linli.schemas import OutputModel, StrictInput

Id = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
OptionalText = Annotated[str, Field(max_length=2000)]


class ComplaintIn(StrictInput):
    order_id: Id
    target: Literal["order", "merchant", "leader", "product"]
    line_id: Id | None = Field(default=None, description="The order line, for a product")
    text: Text = Field(description="Plain text; shown escaped")
    to: Literal["platform", "regulator"] = Field(
        description="platform: a platform dispute; regulator: the one covering the merchant"
    )


class ReasonIn(StrictInput):
    reason: Text


class OptionalReasonIn(StrictInput):
    reason: OptionalText = ""


class ResolveIn(StrictInput):
    outcome: Literal["mediated", "upheld", "rejected"]
    text: OptionalText = Field(
        default="", description="The agreement (mediated) or the reasons (rejected)"
    )


class MessageIn(StrictInput):
    text: Text


class ComplaintOut(OutputModel):
    id: int
    target: str
    order_id: int | None  # None for a booked session or a course (online services)
    order_line_id: int | None
    booking_id: int | None
    enrolment_id: int | None
    product_name: str | None
    subject_organisation_id: int
    subject_leader_user_id: int | None
    text: str
    decider: str
    regulator_organisation_id: int | None
    status: str
    outcome: str | None
    outcome_text: str | None
    refusal_reason: str | None
    rule_id: str
    rule_version: int
    calendar: str
    filed_at: datetime
    accept_by: datetime
    acceptance_overdue_at: datetime | None
    accepted_at: datetime | None
    mediation_by: datetime | None
    decided_at: datetime | None
    escalated_at: datetime | None


class StepOut(OutputModel):
    id: int
    kind: str
    role: str
    actor_user_id: int | None
    organisation_id: int | None
    status: str
    text: str | None
    file_id: int | None
    at: datetime


class ComplaintDetailOut(ComplaintOut):
    timeline: list[StepOut]


def present_complaint(row: Complaint, steps: list[ComplaintStep]) -> ComplaintDetailOut:
    return ComplaintDetailOut.from_row(
        row, timeline=[StepOut.model_validate(step) for step in steps]
    )
