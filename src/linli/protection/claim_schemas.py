"""Bodies of the quality-claim API: a claim, a decision (merchant or platform), an
escalation, an operator's review of an abuse flag."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, StrictBool, StrictInt, model_validator
from pydantic_core import PydanticCustomError

from linli.apitypes import MAX_ID
from linli.protection.claim_models import ClaimOutcome, ClaimReason, ClaimStatus, FlagStatus
from linli.schemas import OutputModel, StrictInput

MAX_UNITS = 10_000
MAX_PHOTOS = 6
MAX_FEN = 100_000_000


class ClaimIn(StrictInput):
    """A claim on a collected group-buy order line (`line_id`) or on a received live order
    (`live_order_id`): exactly one of the two."""

    line_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    live_order_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_UNITS)]
    reason_code: ClaimReason
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    # Photos the resident uploaded for this line (at least one).
    photo_file_ids: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_PHOTOS)
    ] = Field(default_factory=list)
    # Asked for, in fen: at most the units' price; None asks for all of it.
    amount_fen: Annotated[StrictInt, Field(ge=1, le=MAX_FEN)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.line_id is None) == (self.live_order_id is None):
            raise PydanticCustomError(
                "one_source", "name either line_id or live_order_id, not both"
            )
        return self


class ClaimDecisionIn(StrictInput):
    uphold: StrictBool
    # Upheld: the amount refunded (None: what was asked for; less: in part).
    amount_fen: Annotated[StrictInt, Field(ge=1, le=MAX_FEN)] | None = None
    note: Annotated[str, Field(max_length=500)] = ""  # required to reject


class ClaimEscalationIn(StrictInput):
    note: Annotated[str, Field(max_length=500)] = ""


class FlagReviewIn(StrictInput):
    confirm: StrictBool
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class ClaimOut(OutputModel):
    id: int
    user_id: int
    # A group-buy line (order, line, pickup point) or a live order: one of the two.
    order_id: int | None
    order_line_id: int | None
    pickup_point_id: int | None
    live_order_id: int | None
    product_name: str
    quantity: int
    unit_price_fen: int
    reason_code: ClaimReason
    description: str
    photo_file_ids: list[int]
    requested_fen: int
    status: ClaimStatus
    rule_id: str
    rule_version: int
    picked_up_at: datetime
    claim_by: datetime
    created_at: datetime
    decision_due_at: datetime
    outcome: ClaimOutcome | None
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    merchant_note: str
    escalate_by: datetime | None
    escalated_at: datetime | None
    escalation_cause: str | None
    refunded_at: datetime | None
    refunded_fen: int
    # What the next step waits for and until when (the merchant's decision, the resident's
    # escalation of a rejection); None when nothing is due on a clock.
    deadline: datetime | None


class FlagOut(OutputModel):
    id: int
    user_id: int
    community_id: int
    status: FlagStatus
    claims: int
    collected_lines: int
    resident_rate_bp: int
    community_rate_bp: int
    lookback_days: int
    rule_id: str
    rule_version: int
    created_at: datetime
    reviewed_at: datetime | None
    review_reason: str


class PhotoOut(OutputModel):
    id: int
    url: str
