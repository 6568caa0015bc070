"""Group buying's states and reasons as enumerations: what the columns may hold, in one place.

Each is a `StrEnum` whose values are the strings stored (and kept by CHECK constraints where
the table declares one), so comparisons with stored strings hold and no data moved. Other
domains use these (never the models) when they name a state, e.g. a recall cancelling an
unpaid order.
"""

from __future__ import annotations

from enum import StrEnum

from linli.i18n import N_


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    # After the cut-off: the group formed (confirmed), the goods arrived at the pickup point
    # (ready), the resident took some or all of them, or never came (uncollected, by rule).
    CONFIRMED = "confirmed"
    READY = "ready_for_pickup"
    PARTIAL = "partially_picked_up"
    PICKED_UP = "picked_up"
    UNCOLLECTED = "uncollected"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    """A delivery (one campaign to one pickup point) after the cut-off."""

    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    ARRIVED = "arrived"


class CancelReason(StrEnum):
    """Why an order was cancelled, set by whoever cancels it."""

    PAYMENT_TIMEOUT = "payment_timeout"  # not paid before its deadline
    CUTOFF = "cutoff"  # still unpaid when the cut-off ran
    GROUP_FAILED = "group_failed"  # no item's group formed at its pickup point
    REFUNDED = "refunded"  # every line refunded in full by the merchant before pickup
    RECALLED = "recalled"  # its goods were recalled (unpaid: cancelled; paid: refunded)


CANCEL_REASON_LABELS: dict[CancelReason, str] = {
    CancelReason.PAYMENT_TIMEOUT: N_("Not paid in time"),
    CancelReason.CUTOFF: N_("Not paid before the cut-off"),
    CancelReason.GROUP_FAILED: N_("The group did not form at your pickup point"),
    CancelReason.REFUNDED: N_("Refunded in full"),
    CancelReason.RECALLED: N_("Product recall"),
}
assert set(CANCEL_REASON_LABELS) == set(CancelReason)


def sql_in(column: str, values: type[StrEnum]) -> str:
    """A CHECK condition keeping `column` to an enumeration's values."""
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"
