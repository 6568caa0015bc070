"""API: reviews of verified purchases (docs/protection-reviews.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import ValidationError

from linli.apitypes import PathId
from linli.authz import (
    PLATFORM_REVIEWS_HIDE,
    REVIEWS_READ,
    REVIEWS_REPLY,
    Actor,
    current_actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES, translate_validation
from linli.files import service as files
from linli.protection import reviews
from linli.protection.review_models import MAX_TEXT
from linli.protection.review_schemas import (
    HiddenReviewOut,
    HideIn,
    MyReviewOut,
    ReplyIn,
    ReviewIn,
    ReviewListOut,
    ReviewOut,
    present_hidden,
    present_mine,
    present_review,
    present_summary,
)

router = APIRouter(
    prefix="/api/v1/protection/reviews", tags=["protection"], responses=ERROR_RESPONSES
)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
AnyActor = Annotated[Actor, Depends(current_actor)]
PageNo = Annotated[int, Query(ge=1, le=reviews.MAX_PAGE)]


@router.post(
    "",
    status_code=201,
    summary="Review an order line you collected (multipart: line_id, rating 1-5, text, photos)",
    description="One review per order line. A line that is not yours is 404; one you have not "
    "collected is 409 `not_collected`; a second review of the same line is 409 "
    "`already_reviewed`. Photos (at most four images) pass the upload checks.",
)
async def post_review(
    request: Request,
    session: DbSession,
    actor: Resident,
    line_id: Annotated[int, Form()],
    rating: Annotated[int, Form()],
    text: Annotated[str, Form(max_length=MAX_TEXT * 4)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> ReviewOut:
    try:
        data = ReviewIn(line_id=line_id, rating=rating, text=text)
    except ValidationError as exc:
        raise translate_validation(exc.errors()) from None
    await reviews.reviewable_line(session, actor, data.line_id)
    uploads = [
        (await files.read_upload(photo), photo.filename or "photo")
        for photo in photos or []
        if photo.filename
    ]
    photo_ids = await reviews.store_photos(session, actor, request.app.state.file_store, uploads)
    row = await reviews.post_review(
        session,
        actor,
        reviews.ReviewInput(data.line_id, data.rating, data.text, photo_ids),
    )
    return present_review(row)


@router.get("/mine", summary="Your reviews, newest first")
async def my_reviews(session: DbSession, actor: Resident, page: PageNo = 1) -> list[MyReviewOut]:
    found = await reviews.my_reviews(session, actor, page)
    return [present_mine(row) for row in found.rows]


@router.get(
    "/products/{product_id}",
    summary="A product's reviews, newest first, with the rating distribution",
    description="Hidden reviews are counted in `summary.hidden` and listed to operators only.",
)
async def product_reviews(
    product_id: PathId, session: DbSession, actor: AnyActor, page: PageNo = 1
) -> ReviewListOut:
    found = await reviews.public_reviews(session, actor, product_id=product_id, page=page)
    summary = await reviews.rating_summary(session, product_id=product_id)
    return ReviewListOut(
        summary=present_summary(summary),
        reviews=[present_review(row) for row in found.rows],
        page=found.page,
        has_next=found.has_next,
    )


@router.get(
    "/merchants/{organisation_id}",
    summary="A merchant's reviews, newest first, with the rating distribution",
)
async def merchant_reviews(
    organisation_id: PathId, session: DbSession, actor: AnyActor, page: PageNo = 1
) -> ReviewListOut:
    found = await reviews.public_reviews(session, actor, organisation_id=organisation_id, page=page)
    summary = await reviews.rating_summary(session, organisation_id=organisation_id)
    return ReviewListOut(
        summary=present_summary(summary),
        reviews=[present_review(row) for row in found.rows],
        page=found.page,
        has_next=found.has_next,
    )


@router.get(
    "/merchant",
    summary="Reviews of the acting merchant's goods (awaiting_reply: those not answered yet)",
)
async def own_reviews(
    session: DbSession,
    actor: Annotated[Actor, Depends(require(REVIEWS_READ))],
    awaiting_reply: bool = False,
    page: PageNo = 1,
) -> ReviewListOut:
    found = await reviews.for_merchant(session, actor, awaiting_reply=awaiting_reply, page=page)
    return ReviewListOut(
        summary=None,
        reviews=[present_review(row) for row in found.rows],
        page=found.page,
        has_next=found.has_next,
    )


@router.post(
    "/{review_id}/reply",
    summary="Reply to a review of your goods (once)",
    description="404 for a review of another merchant's goods; 409 `already_replied`.",
)
async def post_reply(
    review_id: PathId,
    body: ReplyIn,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(REVIEWS_REPLY))],
) -> ReviewOut:
    return present_review(await reviews.reply(session, actor, review_id, body.text))


@router.post(
    "/{review_id}/hide",
    summary="Hide a review for a legal reason (operators; recorded with a note and audited)",
)
async def post_hide(
    review_id: PathId,
    body: HideIn,
    session: DbSession,
    actor: Annotated[Actor, Depends(require(PLATFORM_REVIEWS_HIDE))],
) -> HiddenReviewOut:
    return present_hidden(await reviews.hide(session, actor, review_id, body.reason, body.note))


@router.get("/hidden", summary="Hidden reviews with why, who and when (operators)")
async def hidden_reviews(
    session: DbSession,
    actor: Annotated[Actor, Depends(require(PLATFORM_REVIEWS_HIDE))],
    page: PageNo = 1,
) -> list[HiddenReviewOut]:
    found = await reviews.for_operator(session, actor, hidden=True, page=page)
    return [present_hidden(row) for row in found.rows]
