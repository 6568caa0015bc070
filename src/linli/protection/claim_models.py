"""Quality claims on collected goods: refund without return (docs/protection-claims.md).

One row per claim: its units are held against the line (`claimed_qty` in group buying) from
the claim until it is rejected, so two claims, or a claim and a return, never cover the same
units. Each decision records the rule (id and version) it applied; the rule is the one in
force when the claim was filed. Abuse flags are an operator's worklist: a resident whose
claim rate is far above their community's, never punished automatically.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime


class ClaimStatus(StrEnum):
    FILED = "filed"  # waiting for the merchant's decision
    REJECTED = "rejected"  # the merchant rejected it, with a reason; the resident may escalate
    ESCALATED = "escalated"  # the platform decides (the merchant was late, or a rejection)
    REFUNDED = "refunded"  # upheld, in full or in part, and refunded
    CLOSED = "closed"  # rejected by the platform: final


class ClaimReason(StrEnum):
    FRESH_QUALITY = "fresh_quality"  # a quality problem of fresh produce (platform rule, 48 h)
    DEFECTIVE = "defective"  # defective goods (CRPL art. 24), not limited by the 7-day window


class ClaimOutcome(StrEnum):
    UPHELD = "upheld"  # the amount asked for
    PARTLY = "partly"  # less than asked for
    REJECTED = "rejected"


class Decider(StrEnum):
    MERCHANT = "merchant"
    PLATFORM = "platform"


class EscalationCause(StrEnum):
    TIMEOUT = "timeout"  # the merchant did not decide in time
    RESIDENT = "resident"  # the resident took a rejection to the platform


class FlagStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


# Claims whose units are held against the line.
HOLDING_STATUSES = (ClaimStatus.FILED, ClaimStatus.ESCALATED, ClaimStatus.REFUNDED)


def _within(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


ONE_SOURCE = (
    "(order_line_id IS NOT NULL AND order_id IS NOT NULL AND pickup_point_id IS NOT NULL "
    "AND community_id IS NOT NULL AND live_order_id IS NULL) OR "
    "(order_line_id IS NULL AND order_id IS NULL AND live_order_id IS NOT NULL)"
)


class QualityClaim(Base):
    __tablename__ = "protection_claims"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("requested_fen >= 1", name="requested_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= requested_fen", name="refunded"),
        CheckConstraint(_within("status", ClaimStatus), name="status"),
        CheckConstraint(_within("reason_code", ClaimReason), name="reason_code"),
        CheckConstraint(f"outcome IS NULL OR {_within('outcome', ClaimOutcome)}", name="outcome"),
        CheckConstraint(
            f"decided_by IS NULL OR {_within('decided_by', Decider)}", name="decided_by"
        ),
        CheckConstraint(
            f"escalation_cause IS NULL OR {_within('escalation_cause', EscalationCause)}",
            name="escalation_cause",
        ),
        Index("ix_protection_claims_line_status", "order_line_id", "status"),
        Index("ix_protection_claims_org_status", "organisation_id", "status"),
        Index("ix_protection_claims_status_due", "status", "decision_due_at"),
        # A claim is of exactly one thing bought: a group-buy order line (with its order,
        # pickup point and community) or a live order (its pickup point and community when it
        # was collected at one, or the resident's home community's, else none).
        CheckConstraint(ONE_SOURCE, name="one_source"),
        Index("ix_protection_claims_live_order_status", "live_order_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # A group-buy line (order, line, pickup point), or a live order (docs/live.md): one.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("groupbuy_order_lines.id"))
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"))
    # The community whose claims the resident's pattern is compared with (None: a shipped
    # live order of a resident with no home community).
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), index=True)
    live_order_id: Mapped[int | None] = mapped_column(ForeignKey("live_orders.id"))
    product_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    reason_code: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(1000))
    photo_file_ids: Mapped[list[Any]] = mapped_column(JSONData, default=list)
    requested_fen: Mapped[int]  # asked for: at most the units' price
    status: Mapped[str] = mapped_column(String(20), default=ClaimStatus.FILED)
    # The rule the claim was checked against (and every decision applies).
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    picked_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claim_by: Mapped[datetime] = mapped_column(UTCDateTime)  # the end of the claim window
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decision_due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the merchant's
    outcome: Mapped[str | None] = mapped_column(String(10))
    decided_by: Mapped[str | None] = mapped_column(String(10))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    # The merchant's rejection (kept when the platform decides afterwards).
    merchant_note: Mapped[str] = mapped_column(String(500), default="")
    escalate_by: Mapped[datetime | None] = mapped_column(UTCDateTime)  # after a rejection
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalation_cause: Mapped[str | None] = mapped_column(String(10))
    escalation_note: Mapped[str] = mapped_column(String(500), default="")
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    commission_reversed_fen: Mapped[int] = mapped_column(default=0, server_default="0")


class ClaimAbuseFlag(Base):
    """A resident's claims matched the rule's abuse pattern: an operator confirms or dismisses
    it with a reason. At most one open flag per resident."""

    __tablename__ = "protection_claim_flags"
    __table_args__ = (
        CheckConstraint(_within("status", FlagStatus), name="status"),
        Index("ix_protection_claim_flags_user_status", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    status: Mapped[str] = mapped_column(String(10), default=FlagStatus.OPEN)
    claims: Mapped[int]  # the resident's claims in the look-back window
    collected_lines: Mapped[int]  # the resident's collected lines in the window
    resident_rate_bp: Mapped[int]
    community_rate_bp: Mapped[int]
    lookback_days: Mapped[int]
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_reason: Mapped[str] = mapped_column(String(500), default="")
