"""Report inputs and outputs (API and pages share them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from linli.schemas import OutputModel, StrictInput
from linli.supervision.report_models import Report

Id = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class ReportIn(StrictInput):
    merchant_organisation_id: Id
    description: Text = Field(description="What happened; plain text, shown escaped")
    role: Literal["resident", "leader"] = Field(
        default="resident", description="The capacity you report in (a leader: your point)"
    )
    order_id: Id | None = Field(default=None, description="One of your orders from the merchant")
    product_name: Annotated[str, Field(max_length=120)] | None = None


class ReasonIn(StrictInput):
    reason: Text


class OutcomeIn(StrictInput):
    outcome: Text


class ReportOut(OutputModel):
    """What the reporter, the platform and the regulator see of a report."""

    id: int
    reporter_role: str
    merchant_organisation_id: int
    merchant_name: str
    order_id: int | None
    product_name: str | None
    description: str
    status: str
    regulator_organisation_id: int | None
    close_reason: str | None
    outcome: str | None
    created_at: datetime
    triaged_at: datetime | None
    acknowledged_at: datetime | None
    concluded_at: datetime | None
    photo_file_ids: list[int]
    case_status: str | None = Field(
        default=None, description="The status of the regulator's case opened from the report"
    )


class PhotoOut(OutputModel):
    id: int
    report_id: int
    file_id: int
    added_at: datetime


def present_report(
    row: Report, merchant_name: str, photos: list[int], case_status: str | None = None
) -> ReportOut:
    return ReportOut.from_row(
        row, merchant_name=merchant_name, photo_file_ids=photos, case_status=case_status
    )
