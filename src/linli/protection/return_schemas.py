"""Bodies of the return API: a request, the merchant's answer, the leader's receipt."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Self

from pydantic import Field, StrictBool, StrictInt, model_validator
from pydantic_core import PydanticCustomError

from linli.apitypes import MAX_ID
from linli.protection.return_models import (
    GoodsCondition,
    ReceivedHow,
    ReturnReason,
    ReturnStatus,
)
from linli.schemas import OutputModel, StrictInput

MAX_UNITS = 10_000
MAX_PHOTOS = 6


class ReturnIn(StrictInput):
    """A return of a collected group-buy order line (`line_id`) or of a received live order
    (`live_order_id`): exactly one of the two."""

    line_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    live_order_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_UNITS)]
    reason_code: ReturnReason
    reason_text: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.line_id is None) == (self.live_order_id is None):
            raise PydanticCustomError(
                "one_source", "name either line_id or live_order_id, not both"
            )
        return self


class ReturnAnswerIn(StrictInput):
    approve: StrictBool
    note: Annotated[str, Field(max_length=500)] = ""  # required to reject


class ReturnReceiptIn(StrictInput):
    condition: GoodsCondition
    note: Annotated[str, Field(max_length=500)] = ""
    photo_file_ids: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_PHOTOS)
    ] = Field(default_factory=list)


class ReturnRefusalIn(StrictInput):
    reason: Annotated[str, Field(max_length=500)]


class ReturnOut(OutputModel):
    id: int
    order_id: int | None  # a group-buy order line's return
    order_line_id: int | None
    pickup_point_id: int | None
    live_order_id: int | None  # a live order's return
    product_name: str
    quantity: int
    unit_price_fen: int
    reason_code: ReturnReason
    reason_text: str
    status: ReturnStatus
    rule_id: str
    rule_version: int
    received_on: date
    last_day: date
    created_at: datetime
    answer_due_at: datetime
    decided_at: datetime | None
    decided_automatically: bool
    decision_note: str
    received_at: datetime | None
    received_how: ReceivedHow | None  # at the pickup point, or collected by the merchant
    condition: GoodsCondition | None
    condition_note: str
    photo_file_ids: list[int]
    refund_due_at: datetime | None
    refunded_at: datetime | None
    refunded_fen: int
    refund_overdue: bool
    refused_at: datetime | None
    refusal_reason: str
    # What the next step waits for and until when (the answer, then the refund); None when
    # nothing is due on a clock.
    deadline: datetime | None


class PhotoOut(OutputModel):
    id: int
    url: str
