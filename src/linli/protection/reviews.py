"""Reviews of verified purchases (docs/protection-reviews.md): a resident reviews an order
line they collected (or a service session they attended: `post_service_review`), once; the
merchant replies once; an operator may hide a review only for an enumerated legal reason,
recorded with a note and audited. Nothing deletes a review.

Ratings per product and per merchant are aggregate queries over the (product, rating) and
(organisation, rating) indexes: cheap at the sizes of one community's merchants."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import PLATFORM_REVIEWS_HIDE, Actor, ensure
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import ReviewHidden, ReviewPosted, ReviewReplied
from linli.files import service as files
from linli.groupbuy import lines
from linli.i18n import N_
from linli.protection import review_policies as policies
from linli.protection.review_models import MAX_PHOTOS, HideReason, Review

PAGE_SIZE = 20
MAX_PAGE = 10_000


@dataclass(frozen=True)
class ReviewInput:
    line_id: int
    rating: int
    text: str
    photo_file_ids: Sequence[int] = ()


@dataclass(frozen=True)
class RatingSummary:
    """Visible reviews' count, average and 1-5 distribution, and how many were hidden."""

    count: int = 0
    total: int = 0  # the sum of the visible ratings
    hidden: int = 0
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))

    @property
    def average(self) -> float | None:
        return round(self.total / self.count, 1) if self.count else None

    def share(self, rating: int) -> int:
        """The percentage of visible reviews with `rating` (for the distribution's bars)."""
        return round(100 * self.distribution[rating] / self.count) if self.count else 0


async def access_review(session: AsyncSession, actor: Actor, review_id: int) -> Review:
    """The review if the actor may read it in full (hidden ones: operators only); else 404."""
    row = await session.scalar(policies.visible_reviews(actor).where(Review.id == review_id))
    if row is None:
        raise NotFound(N_("No such review."))
    return row


async def reviewable_line(session: AsyncSession, actor: Actor, line_id: int) -> lines.CollectedLine:
    """The actor's own order line, collected and not reviewed yet; 404 for a line that is not
    theirs, 409 with the reason otherwise."""
    line = await lines.residents_line(session, actor.require_user_id(), line_id)
    if line is None:
        raise NotFound(N_("No such order line."))
    if not line.collected:
        raise Conflict(N_("Only goods you have collected can be reviewed."), code="not_collected")
    if await session.scalar(select(Review.id).where(Review.order_line_id == line_id)):
        raise Conflict(N_("You have already reviewed this purchase."), code="already_reviewed")
    return line


async def reviewed_line_ids(
    session: AsyncSession, user_id: int, line_ids: Collection[int]
) -> set[int]:
    """Those of `line_ids` the resident reviewed (for the order page's "Reviewed")."""
    wanted = set(line_ids)
    if not wanted:
        return set()
    found = await session.scalars(
        select(Review.order_line_id).where(
            Review.order_line_id.in_(wanted), Review.user_id == user_id
        )
    )
    return {int(i) for i in found if i is not None}


lines.provide_reviewed_lines(reviewed_line_ids)


async def post_review(session: AsyncSession, actor: Actor, data: ReviewInput) -> Review:
    line = await reviewable_line(session, actor, data.line_id)
    photos = list(dict.fromkeys(data.photo_file_ids))
    if len(photos) > MAX_PHOTOS:
        raise ValidationFailed(
            N_("Check the review."), fields={"photos": N_("At most four photos.")}
        )
    if set(photos) - await files.owned_file_ids(session, line.user_id, photos):
        raise ValidationFailed(
            N_("Check the review."), fields={"photos": N_("Attach photos you uploaded.")}
        )
    row = Review(
        order_line_id=line.line_id,
        order_id=line.order_id,
        user_id=line.user_id,
        organisation_id=line.organisation_id,
        product_id=line.product_id,
        product_name=line.product_name,
        rating=data.rating,
        text=data.text,
        photo_file_ids=photos,
        created_at=clock.now(),
    )
    return await _record(session, actor, row, order_line_id=line.line_id)


async def _record(session: AsyncSession, actor: Actor, row: Review, **subject: int) -> Review:
    """Insert the review (a double submit meets the unique line or booking: 409), audit it
    with its subject and publish ReviewPosted."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:  # the same purchase reviewed at the same moment (a double submit)
        raise Conflict(
            N_("You have already reviewed this purchase."), code="already_reviewed"
        ) from None
    audit.record(
        session,
        actor,
        "protection.review.posted",
        target_type="review",
        target_id=row.id,
        rating=row.rating,
        **subject,
    )
    outbox.publish(
        session,
        ReviewPosted(
            review_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            product_id=row.product_id,
            product_name=row.product_name,
            order_line_id=row.order_line_id,
            booking_id=row.booking_id,
            rating=row.rating,
        ),
    )
    return row


@dataclass(frozen=True)
class ServiceReviewInput:
    """A review of a completed service booking. The services domain checked that the booking
    is the reviewer's own and completed (a verified purchase) before it asks."""

    booking_id: int
    organisation_id: int  # the provider
    title: str  # the session's title
    rating: int
    text: str


async def reviewed_booking_ids(
    session: AsyncSession, user_id: int, booking_ids: Collection[int]
) -> set[int]:
    """Those of `booking_ids` the client reviewed (for "My bookings")."""
    wanted = set(booking_ids)
    if not wanted:
        return set()
    found = await session.scalars(
        select(Review.booking_id).where(Review.booking_id.in_(wanted), Review.user_id == user_id)
    )
    return {int(i) for i in found if i is not None}


async def service_reviewed(session: AsyncSession, booking_id: int) -> bool:
    found = await session.scalar(select(Review.id).where(Review.booking_id == booking_id))
    return found is not None


async def post_service_review(
    session: AsyncSession, actor: Actor, data: ServiceReviewInput
) -> Review:
    """The client's one review of a completed session (photos are not taken here)."""
    if await service_reviewed(session, data.booking_id):
        raise Conflict(N_("You have already reviewed this purchase."), code="already_reviewed")
    row = Review(
        booking_id=data.booking_id,
        user_id=actor.require_user_id(),
        organisation_id=data.organisation_id,
        product_name=data.title,
        rating=data.rating,
        text=data.text,
        photo_file_ids=[],
        created_at=clock.now(),
    )
    return await _record(session, actor, row, booking_id=data.booking_id)


async def access_own_review(session: AsyncSession, actor: Actor, review_id: int) -> Review:
    """A review of the acting merchant's goods, to reply to (404 for another merchant's)."""
    organisation_id = policies.acting_merchant(actor, reply=True)
    row = await session.scalar(
        policies.merchant_reviews(organisation_id).where(Review.id == review_id)
    )
    if row is None:
        raise NotFound(N_("No such review."))
    return row


async def reply(session: AsyncSession, actor: Actor, review_id: int, text: str) -> Review:
    """The merchant's one reply to a review of its goods (404 for another merchant's)."""
    row = await access_own_review(session, actor, review_id)
    replied = await session.execute(
        update(Review)
        .where(Review.id == review_id, Review.reply_text.is_(None))
        .values(reply_text=text, replied_at=clock.now(), replied_by_user_id=actor.user_id)
        .execution_options(synchronize_session=False)
    )
    if replied.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(N_("This review has already been answered."), code="already_replied")
    await session.refresh(row)
    audit.record(
        session, actor, "protection.review.replied", target_type="review", target_id=row.id
    )
    outbox.publish(
        session,
        ReviewReplied(
            review_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            product_name=row.product_name,
        ),
    )
    return row


async def hide(
    session: AsyncSession, actor: Actor, review_id: int, reason: HideReason, note: str
) -> Review:
    """An operator hides a review for a legal reason, with a note; audited, once."""
    ensure(actor, PLATFORM_REVIEWS_HIDE)
    row = await access_review(session, actor, review_id)
    hidden = await session.execute(
        update(Review)
        .where(Review.id == review_id, Review.hidden_at.is_(None))
        .values(
            hidden_at=clock.now(),
            hidden_by_user_id=actor.user_id,
            hidden_reason=reason.value,
            hidden_note=note,
        )
        .execution_options(synchronize_session=False)
    )
    if hidden.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(N_("This review is already hidden."), code="already_hidden")
    await session.refresh(row)
    # Its photos leave the public too: a photo showing someone's data must not stay reachable.
    await files.withdraw_public(session, row.photo_file_ids)
    audit.record(
        session,
        actor,
        "protection.review.hidden",
        target_type="review",
        target_id=row.id,
        reason=reason.value,
        note=note,
    )
    outbox.publish(
        session,
        ReviewHidden(
            review_id=row.id,
            user_id=row.user_id,
            organisation_id=row.organisation_id,
            reason=reason.value,
        ),
    )
    return row


# --- reading --------------------------------------------------------------------------------


async def rating_summary(
    session: AsyncSession,
    *,
    product_id: int | None = None,
    organisation_id: int | None = None,
    services_only: bool = False,
) -> RatingSummary:
    """One aggregate query over the product's (or merchant's) reviews (`services_only`: of
    its booked sessions)."""
    subject = (
        Review.product_id == product_id
        if product_id is not None
        else Review.organisation_id == organisation_id
    )
    conditions = [subject]
    if services_only:
        conditions.append(Review.booking_id.is_not(None))
    rows = (
        await session.execute(
            select(Review.rating, Review.hidden_at.is_(None), func.count())
            .where(*conditions)
            .group_by(Review.rating, Review.hidden_at.is_(None))
        )
    ).all()
    distribution = dict.fromkeys(range(1, 6), 0)
    hidden = 0
    for rating, visible, n in rows:
        if visible:
            distribution[int(rating)] += int(n)
        else:
            hidden += int(n)
    return RatingSummary(
        count=sum(distribution.values()),
        total=sum(r * n for r, n in distribution.items()),
        hidden=hidden,
        distribution=distribution,
    )


async def service_ratings(
    session: AsyncSession, organisation_ids: Collection[int]
) -> dict[int, RatingSummary]:
    """Each provider's visible reviews of its booked sessions, in one grouped query (providers
    without any are left out)."""
    if not organisation_ids:
        return {}
    rows = (
        await session.execute(
            select(Review.organisation_id, func.count(), func.sum(Review.rating))
            .where(
                Review.organisation_id.in_(organisation_ids),
                Review.booking_id.is_not(None),
                Review.hidden_at.is_(None),
            )
            .group_by(Review.organisation_id)
        )
    ).all()
    return {int(org): RatingSummary(count=int(n), total=int(total)) for org, n, total in rows}


@dataclass(frozen=True)
class ReviewPage:
    rows: list[Review]
    page: int
    has_next: bool


async def _paged(session: AsyncSession, query: Select[Review], page: int) -> ReviewPage:
    page = max(1, min(page, MAX_PAGE))
    rows = list(
        await session.scalars(
            query.order_by(Review.created_at.desc(), Review.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
    )
    return ReviewPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)


async def public_reviews(
    session: AsyncSession,
    actor: Actor,
    *,
    product_id: int | None = None,
    organisation_id: int | None = None,
    services_only: bool = False,
    page: int = 1,
) -> ReviewPage:
    """A product's or a merchant's reviews, newest first (hidden ones for operators only);
    `services_only`: the reviews of its booked sessions."""
    query = policies.visible_reviews(actor)
    if services_only:
        query = query.where(Review.booking_id.is_not(None))
    if product_id is not None:
        query = query.where(Review.product_id == product_id)
    if organisation_id is not None:
        query = query.where(Review.organisation_id == organisation_id)
    return await _paged(session, query, page)


async def my_reviews(session: AsyncSession, actor: Actor, page: int = 1) -> ReviewPage:
    """The resident's own reviews (a hidden one is listed; its text is shown to operators only)."""
    query = select(Review).where(Review.user_id == actor.require_user_id())
    return await _paged(session, query, page)


async def for_merchant(
    session: AsyncSession, actor: Actor, *, awaiting_reply: bool = False, page: int = 1
) -> ReviewPage:
    query = policies.merchant_reviews(policies.acting_merchant(actor))
    if awaiting_reply:
        query = query.where(Review.reply_text.is_(None))
    return await _paged(session, query, page)


async def for_operator(
    session: AsyncSession, actor: Actor, *, hidden: bool, page: int = 1
) -> ReviewPage:
    ensure(actor, PLATFORM_REVIEWS_HIDE)
    condition = Review.hidden_at.is_not(None) if hidden else Review.hidden_at.is_(None)
    return await _paged(session, select(Review).where(condition), page)


async def store_photos(
    session: AsyncSession,
    actor: Actor,
    file_store: files.FileStore,
    uploads: Sequence[tuple[bytes, str]],
) -> list[int]:
    """Review photos through the upload checks (type from content, size, quota); public, so
    their metadata (EXIF location) is stripped. `uploads`: (bytes, file name) pairs."""
    if len(uploads) > MAX_PHOTOS:
        raise ValidationFailed(
            N_("Check the review."), fields={"photos": N_("At most four photos.")}
        )
    stored = []
    for data, filename in uploads:
        row = await files.store(
            session,
            actor,
            file_store,
            data,
            filename=filename,
            purpose="review",
            allowed=files.IMAGE_TYPES,
            public=True,
            field="photos",
        )
        stored.append(row.id)
    return stored
