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


# A room still holding its stream stock (goods may be added, the session may start or go on).
OPEN_STATUSES = (RoomStatus.SCHEDULED, RoomStatus.LIVE, RoomStatus.PAUSED)
