"""Seven-day no-reason returns of collected group-buy goods and received live orders
(docs/protection-returns.md).

One row per request: its units are held against the line from the request until it is
rejected or refunded, so two requests never claim the same units. Each answer records the rule
(id and version) it applied.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class ReturnStatus(StrEnum):
    REQUESTED = "requested"  # waiting for the merchant's answer
    APPROVED = "approved"  # to be brought back to the pickup point
    REJECTED = "rejected"  # the merchant refused, with a reason
    RECEIVED = "received"  # the leader (or the merchant) took the goods back; refund due
    REFUNDED = "refunded"
    # Received damaged by the resident (art. 25: goods must be intact): the merchant refused
    # the refund with a reason; the resident may complain.
    REFUND_REFUSED = "refund_refused"


class ReturnReason(StrEnum):
    CHANGED_MIND = "changed_mind"  # no reason needed (art. 25)
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_ITEM = "wrong_item"
    DEFECTIVE = "defective"  # art. 24: not subject to the art. 25 exclusions
    OTHER = "other"


class GoodsCondition(StrEnum):
    INTACT = "intact"
    DAMAGED = "damaged"


class ReceivedHow(StrEnum):
    """Where the goods came back: brought to the pickup point (the leader records them), or
    collected by the merchant (the merchant records them)."""

    AT_PICKUP_POINT = "pickup_point"
    MERCHANT_COLLECTED = "merchant_collected"


# Units a request holds against its line until it ends.
OPEN_STATUSES = (ReturnStatus.REQUESTED, ReturnStatus.APPROVED, ReturnStatus.RECEIVED)
# Units that cannot be asked for again: held by an open request, or with the merchant after a
# refund refused for damage (that dispute goes on as a complaint, not as a new return).
HOLDING_STATUSES = (*OPEN_STATUSES, ReturnStatus.REFUND_REFUSED)


def _within(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


class ReturnRequest(Base):
    __tablename__ = "protection_returns"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(_within("status", ReturnStatus), name="status"),
        CheckConstraint(_within("reason_code", ReturnReason), name="reason_code"),
        CheckConstraint(
            f"condition IS NULL OR {_within('condition', GoodsCondition)}", name="condition"
        ),
        CheckConstraint(
            f"received_how IS NULL OR {_within('received_how', ReceivedHow)}",
            name="received_how",
        ),
        Index("ix_protection_returns_line_status", "order_line_id", "status"),
        Index("ix_protection_returns_org_status", "organisation_id", "status"),
        Index("ix_protection_returns_point_status", "pickup_point_id", "status"),
        # A return is of exactly one thing bought: a group-buy order line or a live order.
        CheckConstraint(
            "(order_line_id IS NOT NULL AND order_id IS NOT NULL AND live_order_id IS NULL) OR "
            "(order_line_id IS NULL AND order_id IS NULL AND pickup_point_id IS NULL "
            "AND live_order_id IS NOT NULL)",
            name="one_source",
        ),
        Index("ix_protection_returns_live_order_status", "live_order_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # A group-buy line (order, line and pickup point), or a live order (docs/live.md): one.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_order_lines.id"))
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"))
    live_order_id: Mapped[int | None] = mapped_column(ForeignKey("live_orders.id"))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    reason_code: Mapped[str] = mapped_column(String(30))
    reason_text: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(20), default=ReturnStatus.REQUESTED)
    # The rule the request was checked against (and every later answer applies).
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    received_on: Mapped[date] = mapped_column(Date)  # pickup day (Asia/Shanghai)
    last_day: Mapped[date] = mapped_column(Date)  # the last day a request was possible
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_automatically: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_how: Mapped[str | None] = mapped_column(String(20))  # ReceivedHow, once received
    condition: Mapped[str | None] = mapped_column(String(10))
    condition_note: Mapped[str] = mapped_column(String(500), default="")
    photo_file_ids: Mapped[list[Any]] = mapped_column(JSONData, default=list)
    # Photos uploaded for the receipt (kept or not), bounded per return (returns.MAX_UPLOADS).
    photos_uploaded: Mapped[int] = mapped_column(default=0, server_default="0")
    refund_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    commission_reversed_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refused_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refusal_reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # Flagged by the due job when the refund was not out within the law's 7 days.
    refund_overdue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
