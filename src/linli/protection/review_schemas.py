"""Review inputs, outputs and their labels, shared by the review API and pages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from linli.i18n import N_
from linli.protection.review_models import MAX_HIDE_NOTE, MAX_TEXT, HideReason, Review
from linli.protection.reviews import RatingSummary
from linli.schemas import OutputModel, StrictInput

Rating = Annotated[StrictInt, Field(ge=1, le=5)]
Id = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]

HIDE_REASON_LABELS: dict[str, str] = {
    HideReason.ILLEGAL_CONTENT: N_("Illegal content"),
    HideReason.PERSONAL_DATA: N_("Someone's personal data"),
}
assert set(HIDE_REASON_LABELS) == set(HideReason)


class ReviewIn(StrictInput):
    line_id: Id
    rating: Rating
    text: Annotated[str, Field(max_length=MAX_TEXT)] = ""


class ServiceReviewIn(StrictInput):
    """A review of a completed service session (no photos)."""

    rating: Rating
    text: Annotated[str, Field(max_length=MAX_TEXT)] = ""


class ReplyIn(StrictInput):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class HideIn(StrictInput):
    reason: HideReason
    note: Annotated[str, Field(min_length=1, max_length=MAX_HIDE_NOTE)]


class ReviewOut(OutputModel):
    """A review as anyone may read it; `hidden` ones reach operators only."""

    id: int
    product_id: int | None
    booking_id: int | None  # a review of a service session (product_name: its title)
    product_name: str
    organisation_id: int
    rating: int
    text: str
    photo_urls: list[str]
    created_at: datetime
    reply_text: str | None
    replied_at: datetime | None
    hidden: bool


class HiddenReviewOut(ReviewOut):
    """What operators see of a hidden review: why, by whom, when."""

    hidden_at: datetime | None
    hidden_by_user_id: int | None
    hidden_reason: HideReason | None
    hidden_note: str | None


class MyReviewOut(OutputModel):
    """The resident's own review: a hidden one keeps its rating and reason, not its text."""

    id: int
    order_line_id: int | None
    booking_id: int | None
    product_name: str
    rating: int
    text: str | None
    created_at: datetime
    reply_text: str | None
    hidden: bool
    hidden_reason: HideReason | None


class SummaryOut(OutputModel):
    count: int
    average: float | None
    distribution: dict[int, int]
    hidden: int


class ReviewListOut(OutputModel):
    summary: SummaryOut | None
    reviews: list[ReviewOut]
    page: int
    has_next: bool


def photo_urls(row: Review) -> list[str]:
    return [f"/files/{file_id}" for file_id in row.photo_file_ids]


def present_review(row: Review) -> ReviewOut:
    return ReviewOut.from_row(row, photo_urls=photo_urls(row), hidden=row.hidden_at is not None)


def present_hidden(row: Review) -> HiddenReviewOut:
    return HiddenReviewOut.from_row(
        row, photo_urls=photo_urls(row), hidden=row.hidden_at is not None
    )


def present_mine(row: Review) -> MyReviewOut:
    hidden = row.hidden_at is not None
    return MyReviewOut.from_row(
        row,
        text=None if hidden else row.text,
        reply_text=None if hidden else row.reply_text,
        hidden=hidden,
    )


def present_summary(summary: RatingSummary) -> SummaryOut:
    return SummaryOut(
        count=summary.count,
        average=summary.average,
        distribution=summary.distribution,
        hidden=summary.hidden,
    )
