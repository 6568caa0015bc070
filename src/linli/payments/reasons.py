"""Why money went back: every refund names its reason, set by the caller that refunds.

The values are stored in `payment_refunds.reason_code` (a CHECK constraint keeps them to this
list); the free-text `reason` beside it keeps the words (a merchant's, or the system's).
"""

from __future__ import annotations

from enum import StrEnum

from linli.i18n import N_


class RefundReason(StrEnum):
    MERCHANT_DECISION = "merchant_decision"  # the payee merchant refunded (e.g. quality)
    PLATFORM_DECISION = "platform_decision"  # a platform operator refunded
    GROUP_FAILED = "group_failed"  # the group did not form at the pickup point
    UNCOLLECTED = "uncollected"  # goods not collected in time, refunded by rule
    RECALL = "recall"  # the goods' batch was recalled
    PAYMENT_EXPIRED = "payment_expired"  # paid after the order or the payment was closed
    RETURN = "return"  # goods returned (seven-day no-reason return, CRPL art. 25, or art. 24)
    QUALITY_CLAIM = "quality_claim"  # a quality claim upheld: refund without return
    UNCONSUMED_CLASSES = "unconsumed_classes"  # a course's classes not yet delivered, pro rata
    ORDER_CANCELLED = "order_cancelled"  # a paid order cancelled before shipment (live selling)


REFUND_REASON_LABELS: dict[RefundReason, str] = {
    RefundReason.MERCHANT_DECISION: N_("Refunded by the merchant"),
    RefundReason.PLATFORM_DECISION: N_("Refunded by the platform"),
    RefundReason.GROUP_FAILED: N_("The group did not form at your pickup point"),
    RefundReason.UNCOLLECTED: N_("Not collected in time"),
    RefundReason.RECALL: N_("Product recall"),
    RefundReason.PAYMENT_EXPIRED: N_("Paid after the order was cancelled"),
    RefundReason.RETURN: N_("Goods returned"),
    RefundReason.QUALITY_CLAIM: N_("Quality claim upheld"),
    RefundReason.UNCONSUMED_CLASSES: N_("Classes not yet delivered"),
    RefundReason.ORDER_CANCELLED: N_("Order cancelled before shipment"),
}
assert set(REFUND_REASON_LABELS) == set(RefundReason)


def sql_check(column: str) -> str:
    """The CHECK constraint's condition keeping `column` to the declared reasons."""
    return f"{column} IN ({', '.join(repr(str(r.value)) for r in RefundReason)})"
