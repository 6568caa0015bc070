"""Reviews of verified purchases: one per collected order line or completed service booking
(docs/protection-reviews.md).

A review is never deleted, by anyone: the ORM refuses it here and, on PostgreSQL, a trigger
(migration 0014) refuses it in the database. What changes afterwards is only the merchant's
one reply and an operator's hiding (with its legal reason), each set once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime

MAX_TEXT = 1000  # characters of a review or a reply
MAX_PHOTOS = 4
MAX_HIDE_NOTE = 500


class HideReason(StrEnum):
    """The legal reasons an operator may hide a review for (and no others)."""

    ILLEGAL_CONTENT = "illegal_content"  # Cybersecurity Law art. 47, E-Commerce Law art. 29
    PERSONAL_DATA = "personal_data"  # PIPL art. 47: someone's personal information exposed


class Review(Base):
    __tablename__ = "protection_reviews"
    __table_args__ = (
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
        CheckConstraint(
            "hidden_reason IS NULL OR hidden_reason IN ('illegal_content', 'personal_data')",
            name="hidden_reason",
        ),
        CheckConstraint("(hidden_at IS NULL) = (hidden_reason IS NULL)", name="hidden_with_reason"),
        CheckConstraint("(replied_at IS NULL) = (reply_text IS NULL)", name="reply_complete"),
        # A review is of one collected order line or of one completed service booking.
        CheckConstraint("(order_line_id IS NULL) <> (booking_id IS NULL)", name="line_or_booking"),
        # Ratings per product and per merchant are counted by aggregate queries on these.
        # (hidden_at is in them so that the counts are read from the index alone.)
        Index("ix_protection_reviews_product_rating", "product_id", "rating", "hidden_at"),
        Index("ix_protection_reviews_org_rating", "organisation_id", "rating", "hidden_at"),
        Index("ix_protection_reviews_product_created", "product_id", "created_at"),
        Index("ix_protection_reviews_org_created", "organisation_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # One review per order line (or per service booking): the unique constraints settle
    # concurrent submissions.
    order_line_id: Mapped[int | None] = mapped_column(
        ForeignKey("groupbuy_order_lines.id"), unique=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_orders.id"))
    # A completed session of online services (docs/services.md): product_name holds its title.
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("services_bookings.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(120))
    rating: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text, default="")
    photo_file_ids: Mapped[list[int]] = mapped_column(JSONData, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reply_text: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    hidden_reason: Mapped[str | None] = mapped_column(String(20))
    hidden_note: Mapped[str | None] = mapped_column(String(MAX_HIDE_NOTE))


def _refuse_delete(mapper: Any, connection: Any, target: Any) -> None:
    raise RuntimeError("reviews are never deleted (hide one with a legal reason instead)")


event.listen(Review, "before_delete", _refuse_delete)
