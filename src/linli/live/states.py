"""Live selling's states as enumerations: what the status columns may hold."""

from __future__ import annotations

from enum import StrEnum


class RoomStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"
    BANNED = "banned"


class StreamerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # by the platform; blacklisting suspends every account of the identity


class LiveOrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    CANCELLED = "cancelled"


class FulfilmentStatus(StrEnum):
    """A paid live order on its way to the resident (docs/live.md "Delivery"): NULL while
    unpaid or cancelled."""

    TO_SHIP = "to_ship"  # paid: the merchant ships it to the order's address
    SHIPPED = "shipped"  # handed to a carrier, with its tracking number
    AT_POINT = "at_point"  # a pickup order arrived at the resident's pickup point: code live
    RECEIVED = "received"  # confirmed, handed over at the point, or the rule's days passed
    # A pickup order never handed over within rule `live.uncollected`'s days of its arrival:
    # refunded (or only reported to the merchant), and its code no longer live.
    UNCOLLECTED = "uncollected"


# A room still holding its stream stock (goods may be added, the session may start or go on).
OPEN_STATUSES = (RoomStatus.SCHEDULED, RoomStatus.LIVE, RoomStatus.PAUSED)


class RemovalReason(StrEnum):
    """Why a chat message was removed. A negative comment about the goods is none of these:
    it may not be removed to mislead (2021 Measures art. 18), so the channel offers no such
    reason."""

    SPAM = "spam"  # floods, advertising, links
    ABUSE = "abuse"  # insults, harassment
    ILLEGAL = "illegal"  # unlawful content
    PERSONAL_DATA = "personal_data"  # someone's phone number, address, identity
    FRAUD = "fraud"  # scams, payment outside the platform


class RecordingStatus(StrEnum):
    """A session's recording on its way to being the room's replay."""

    PENDING = "pending"  # the media server's file is waiting to be remuxed
    READY = "ready"  # the replay (MP4) is kept
    FAILED = "failed"  # the file could not be remuxed (missing, unreadable): no replay
    PURGED = "purged"  # past its retention: the row stays, the files are deleted (retention.py)
