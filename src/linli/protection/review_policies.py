"""Who sees which reviews: everyone sees the reviews nobody hid; hidden ones (their text, photos
and reply) only operators holding `PLATFORM_REVIEWS_HIDE`. A merchant reads and answers only the
reviews of its own goods. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, select

from linli.authz import (
    PLATFORM_REVIEWS_HIDE,
    REVIEWS_READ,
    REVIEWS_REPLY,
    Actor,
    acting_organisation,
)
from linli.protection.review_models import Review


def sees_hidden(actor: Actor) -> bool:
    return actor.has(PLATFORM_REVIEWS_HIDE)


def visible_reviews(actor: Actor) -> Select[Review]:
    """Reviews the actor may read in full: those not hidden, or all of them for operators."""
    query = select(Review)
    if not sees_hidden(actor):
        query = query.where(Review.hidden_at.is_(None))
    return query


def acting_merchant(actor: Actor, *, reply: bool = False) -> int:
    """The merchant the actor reads (or replies to) reviews for."""
    return acting_organisation(actor, REVIEWS_REPLY if reply else REVIEWS_READ, kinds=("merchant",))


def merchant_reviews(organisation_id: int) -> Select[Review]:
    """The merchant's reviews nobody hid (a hidden review is no longer the merchant's to see)."""
    return select(Review).where(
        Review.organisation_id == organisation_id, Review.hidden_at.is_(None)
    )
