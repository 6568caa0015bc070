"""HTML pages: review a collected purchase, my reviews, a product's and a merchant's reviews
with their ratings (and the sections on the product and merchant pages), the merchant's
reviews to answer, and the operator's hiding with a legal reason."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import PLATFORM_REVIEWS_HIDE, Actor, current_actor, ensure, require_user
from linli.db import DbSession
from linli.errors import DomainError
from linli.files import service as files
from linli.i18n import _
from linli.protection import review_policies, reviews
from linli.protection.review_models import MAX_HIDE_NOTE, MAX_TEXT, HideReason
from linli.protection.review_schemas import HIDE_REASON_LABELS, HideIn, ReplyIn, ReviewIn
from linli.web import (
    flash_error,
    form_action,
    provide_section,
    redirect,
    render,
    render_fragment,
    validate_form,
    verify_csrf,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
PageNo = Annotated[int, Query(ge=1, le=reviews.MAX_PAGE)]


def _labels() -> dict[str, Any]:
    return {
        "hide_reasons": HIDE_REASON_LABELS,
        "max_text": MAX_TEXT,
        "max_note": MAX_HIDE_NOTE,
    }


# --- sections on the product and merchant pages ------------------------------------------


async def _product_section(request: Request, session: AsyncSession, product_id: int) -> Markup:
    actor = await current_actor(request, session)
    summary = await reviews.rating_summary(session, product_id=product_id)
    latest = await reviews.public_reviews(session, actor, product_id=product_id)
    return render_fragment(
        request,
        "protection/reviews/_section.html",
        {
            "summary": summary,
            "latest": latest.rows[:3],
            "more_url": f"/p/{product_id}/reviews",
            "actor": actor,
            **_labels(),
        },
    )


async def _merchant_section(
    request: Request, session: AsyncSession, organisation_id: int
) -> Markup:
    actor = await current_actor(request, session)
    summary = await reviews.rating_summary(session, organisation_id=organisation_id)
    latest = await reviews.public_reviews(session, actor, organisation_id=organisation_id)
    return render_fragment(
        request,
        "protection/reviews/_section.html",
        {
            "summary": summary,
            "latest": latest.rows[:3],
            "more_url": f"/m/{organisation_id}/reviews",
            "actor": actor,
            **_labels(),
        },
    )


provide_section("product", "reviews", _product_section)
provide_section("merchant", "reviews", _merchant_section)


# --- public lists ----------------------------------------------------------------------------


@router.get("/p/{product_id}/reviews")
async def product_reviews(
    product_id: PathId, request: Request, session: DbSession, actor: AnyActor, page: PageNo = 1
) -> Response:
    summary = await reviews.rating_summary(session, product_id=product_id)
    found = await reviews.public_reviews(session, actor, product_id=product_id, page=page)
    return render(
        request,
        "protection/reviews/public.html",
        {
            "summary": summary,
            "found": found,
            "title": _("Reviews of this product"),
            "back_url": f"/p/{product_id}",
            "base_url": f"/p/{product_id}/reviews",
            **_labels(),
        },
        actor=actor,
    )


@router.get("/m/{organisation_id}/reviews")
async def merchant_reviews(
    organisation_id: PathId,
    request: Request,
    session: DbSession,
    actor: AnyActor,
    page: PageNo = 1,
) -> Response:
    summary = await reviews.rating_summary(session, organisation_id=organisation_id)
    found = await reviews.public_reviews(session, actor, organisation_id=organisation_id, page=page)
    return render(
        request,
        "protection/reviews/public.html",
        {
            "summary": summary,
            "found": found,
            "title": _("Reviews of this merchant"),
            "back_url": f"/m/{organisation_id}",
            "base_url": f"/m/{organisation_id}/reviews",
            **_labels(),
        },
        actor=actor,
    )


# --- the resident's ------------------------------------------------------------------------


@router.get("/reviews/mine")
async def my_reviews(
    request: Request, session: DbSession, actor: User_, page: PageNo = 1
) -> Response:
    found = await reviews.my_reviews(session, actor, page)
    return render(
        request, "protection/reviews/mine.html", {"found": found, **_labels()}, actor=actor
    )


async def _write_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    line_id: int,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
) -> Response:
    line = await reviews.reviewable_line(session, actor, line_id)
    return render(
        request,
        "protection/reviews/write.html",
        {"line": line, "form": form or {}, "error": error, **_labels()},
        status_code=error.status_code if error else 200,
        actor=actor,
    )


@router.get("/reviews/write/{line_id}")
async def write_review(
    line_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _write_page(request, session, actor, line_id)


@router.post("/reviews/write/{line_id}")
async def post_review(
    line_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await reviews.reviewable_line(session, actor, line_id)  # 404 / 409 as for the form itself
    form = await request.form()
    fields = {"rating": forms.text(form, "rating"), "text": forms.text(form, "text")}

    async def post() -> int:
        data = validate_form(
            ReviewIn,
            {"line_id": line_id, "rating": forms.whole(fields["rating"]), "text": fields["text"]},
        )
        await reviews.reviewable_line(session, actor, line_id)
        uploads = [
            (await files.read_upload(photo), photo.filename or "photo")
            for photo in form.getlist("photos")
            if isinstance(photo, UploadFile) and photo.filename
        ]
        photo_ids = await reviews.store_photos(
            session, actor, request.app.state.file_store, uploads
        )
        row = await reviews.post_review(
            session, actor, reviews.ReviewInput(line_id, data.rating, data.text, photo_ids)
        )
        return row.id

    async def again(error: DomainError) -> Response:
        if error.code == "already_reviewed":  # a double submit: the first one is stored
            return flash_error("/reviews/mine")(error)
        return await _write_page(request, session, actor, line_id, form=fields, error=error)

    done = await form_action(session, post, on_error=again)
    if isinstance(done, Response):
        return done
    return redirect("/reviews/mine", text=_("Thank you: your review is published."))


# --- the merchant's -------------------------------------------------------------------------


@router.get("/merchant/reviews")
async def merchant_console(
    request: Request,
    session: DbSession,
    actor: User_,
    awaiting: bool = False,
    page: PageNo = 1,
) -> Response:
    organisation_id = review_policies.acting_merchant(actor)
    summary = await reviews.rating_summary(session, organisation_id=organisation_id)
    found = await reviews.for_merchant(session, actor, awaiting_reply=awaiting, page=page)
    return render(
        request,
        "protection/reviews/merchant.html",
        {"summary": summary, "found": found, "awaiting": awaiting, **_labels()},
        actor=actor,
    )


@router.post("/merchant/reviews/{review_id}/reply")
async def merchant_reply(
    review_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await reviews.access_own_review(session, actor, review_id)
    form = await request.form()

    async def answer() -> None:
        data = validate_form(ReplyIn, {"text": forms.text(form, "text")})
        await reviews.reply(session, actor, review_id, data.text)

    done = await form_action(session, answer, on_error=flash_error("/merchant/reviews"))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/reviews", text=_("Reply published."))


# --- the operator's -------------------------------------------------------------------------


@router.get("/ops/reviews")
async def ops_reviews(
    request: Request,
    session: DbSession,
    actor: User_,
    hidden: bool = False,
    page: PageNo = 1,
) -> Response:
    ensure(actor, PLATFORM_REVIEWS_HIDE)
    found = await reviews.for_operator(session, actor, hidden=hidden, page=page)
    return render(
        request,
        "protection/reviews/ops.html",
        {"found": found, "hidden": hidden, "reasons": list(HideReason), **_labels()},
        actor=actor,
    )


@router.post("/ops/reviews/{review_id}/hide")
async def ops_hide(
    review_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    ensure(actor, PLATFORM_REVIEWS_HIDE)
    form = await request.form()

    async def hide() -> None:
        data = validate_form(
            HideIn, {"reason": forms.text(form, "reason"), "note": forms.text(form, "note")}
        )
        await reviews.hide(session, actor, review_id, data.reason, data.note)

    done = await form_action(session, hide, on_error=flash_error("/ops/reviews"))
    if isinstance(done, Response):
        return done
    return redirect("/ops/reviews?hidden=true", text=_("Review hidden; the reason is recorded."))
