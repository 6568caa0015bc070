"""Trace API inputs and outputs (batches, capture jobs, chain verification)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from linli.apitypes import MAX_ID
from linli.schemas import OutputModel, StrictInput

Lot = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[!-~]{1,20}$")]


class BatchIn(StrictInput):
    """A lot of one of your SKUs. The lot is printed on the pack (GS1 AI 10: up to 20
    printable ASCII characters)."""

    sku_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    lot: Lot
    production_date: date
    expiry_date: date | None = None
    origin: Annotated[str, Field(max_length=120)] = ""
    producer: Annotated[str, Field(max_length=120)] = ""

    @model_validator(mode="after")
    def _expiry_after_production(self) -> BatchIn:
        if self.expiry_date is not None and self.expiry_date < self.production_date:
            raise ValueError("expiry_date must not be before production_date")
        return self


class BatchOut(OutputModel):
    id: int
    code: str
    sku_id: int
    gtin: str | None
    lot: str
    production_date: date
    expiry_date: date | None
    origin: str
    producer: str
    status: Literal["active", "on_hold", "recalled", "destroyed"]
    created_at: datetime


class BrokenLinkOut(OutputModel):
    chain: str = Field(description="batch:{id} or org:{id}")
    seq: int = Field(description="Position of the first broken link (1-based)")
    event_id: str | None
    problem: str


class VerifyOut(BaseModel):
    ok: bool
    chains: int = Field(description="How many chains were checked")
    links: int = Field(description="How many links were checked")
    broken: BrokenLinkOut | None


class CaptureJobOut(BaseModel):
    """A capture job as the EPCIS 2.0 REST binding describes it."""

    captureID: str
    createdAt: datetime
    finishedAt: datetime
    running: bool
    success: bool
    captureErrorBehaviour: Literal["rollback", "proceed"] = "rollback"
    eventCount: int = Field(description="The events stored (with proceed: the valid ones)")
    errors: list[dict[str, Any]] = Field(
        description="Why the document, or (with proceed) each event left out, was refused: "
        "{field, reason, eventIndex}"
    )
    # Linli's addition to the binding: what was accepted but deserves attention (user
    # vocabulary, events captured before), each {field, reason, eventIndex}
    warnings: list[dict[str, Any]] = []


QueryValue = str | int | float | bool | list[Annotated[str, Field(max_length=300)]]


class NamedQueryIn(StrictInput):
    """A named query as the EPCIS REST binding creates it: a name and the query parameters of
    `/epcis/events` (`{"EQ_bizStep": ["shipping"], "GE_eventTime": "2024-05-01T00:00:00Z"}`)."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    query: Annotated[dict[str, QueryValue], Field(max_length=60)]


class NamedQueryOut(BaseModel):
    name: str
    query: dict[str, list[str]]
    createdAt: datetime


class QueryScheduleIn(StrictInput):
    """When a scheduled subscription runs (UTC): each field a value, a range [low-high] or a
    comma-separated list of them; see trace/schedules.py."""

    second: str | int | None = None
    minute: str | int | None = None
    hour: str | int | None = None
    dayOfMonth: str | int | None = None
    month: str | int | None = None
    dayOfWeek: str | int | None = Field(None, description="1 Monday ... 7 Sunday")


class SubscriptionIn(StrictInput):
    """A subscription to a named query, posted to `dest` (http or https): on each capture
    (`stream: true`, the events the capture adds that the query matches) or at the times of
    `schedule` (the events recorded since the previous run); exactly one of the two."""

    dest: Annotated[str, Field(min_length=8, max_length=2000)]
    stream: bool | None = None
    schedule: QueryScheduleIn | None = None
    reportIfEmpty: bool = Field(
        False, description="Scheduled: post an empty document when a run finds no event"
    )
    initialRecordTime: AwareDatetime | None = Field(
        None, description="Scheduled: the first run's events are recorded since then"
    )


class SubscriptionOut(BaseModel):
    subscriptionID: str
    queryName: str
    dest: str
    active: bool
    failures: int = Field(description="Consecutive failed deliveries")
    delivered: int = Field(description="Deliveries the webhook took")
    lastError: str | None
    createdAt: datetime
    deactivatedAt: datetime | None
    stream: bool
    schedule: dict[str, str] | None
    reportIfEmpty: bool
    initialRecordTime: datetime | None
    lastRunAt: datetime | None


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str = Field(
        description="HMAC-SHA256 key of the Linli-Signature header; shown only here, once"
    )
