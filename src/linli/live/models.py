"""Live selling: streamers (real-name verified accounts of a merchant), the identity
blacklist, rooms, their sessions, their goods (stream stock reserved from a SKU), pins, and
the orders placed in a room.

Stream stock moves only by conditional UPDATE: `skus.stock` -> `live_goods.stock` when the
goods are added (through `catalog.stock`), `remaining` down at each order, and what is left
back to the SKU once, when the room ends (`released_at` set by the same UPDATE that zeroes
`remaining`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime
from linli.live.states import (
    FulfilmentStatus,
    LiveOrderStatus,
    RecordingStatus,
    RoomStatus,
    StreamerStatus,
)

# The highest commission a supply agreement may give a leader: community's ceiling for a
# leader's commission (30 %), repeated here because `live` may not import community's tables
# (a test keeps the two equal).
MAX_AGREEMENT_BP = 3000


class Streamer(Base):
    """A merchant's account allowed to stream, with its real-name identity (an HMAC digest of
    the resident identity card number, never the number), birth date (from the number) and,
    for 16-17-year-olds, the recorded guardian consent."""

    __tablename__ = "live_streamers"
    __table_args__ = (
        UniqueConstraint("organisation_id", "user_id"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        # A group leader's own streamer record (no organisation): one per user.
        Index(
            "uq_live_streamers_leader_user",
            "user_id",
            unique=True,
            sqlite_where=text("organisation_id IS NULL"),
            postgresql_where=text("organisation_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # NULL: a group leader streaming for their pickup point (docs/live.md "Leader rooms").
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    real_name: Mapped[str] = mapped_column(String(60))
    identity_digest: Mapped[str] = mapped_column(String(64), index=True)
    identity_hint: Mapped[str] = mapped_column(String(8))  # the number's last 4 characters
    birth_date: Mapped[date] = mapped_column(Date)
    guardian_name: Mapped[str | None] = mapped_column(String(60))
    guardian_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=StreamerStatus.ACTIVE)
    suspended_reason: Mapped[str | None] = mapped_column(String(200))
    rule_version: Mapped[int]
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class BlacklistedIdentity(Base):
    """A verified identity the platform barred from streaming: a new account with the same
    identity card cannot be registered as a streamer anywhere."""

    __tablename__ = "live_blacklist"

    identity_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Room(Base):
    """A merchant's live room: one scheduled broadcast (30 minutes to 24 hours)."""

    __tablename__ = "live_rooms"
    __table_args__ = (
        CheckConstraint(
            "status IN ('scheduled', 'live', 'paused', 'ended', 'banned')", name="status"
        ),
        CheckConstraint("scheduled_start < scheduled_end", name="window"),
        # Exactly one owner kind: a merchant organisation, or a leader with their point.
        CheckConstraint(
            "(organisation_id IS NOT NULL AND leader_user_id IS NULL AND pickup_point_id IS NULL)"
            " OR (organisation_id IS NULL AND leader_user_id IS NOT NULL"
            " AND pickup_point_id IS NOT NULL)",
            name="owner",
        ),
        Index("ix_live_rooms_status_start", "status", "scheduled_start"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The owner: a merchant organisation, or (NULL here) a group leader's room for the
    # residents of their pickup point (`leader_user_id` + `pickup_point_id`).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    leader_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"), index=True)
    streamer_id: Mapped[int] = mapped_column(ForeignKey("live_streamers.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime)
    scheduled_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default=RoomStatus.SCHEDULED)
    # The goods being sold now (one at a time): set by a conditional UPDATE from NULL.
    pinned_goods_id: Mapped[int | None]
    # Advertising pre-review for regulated categories (health food, medical devices, ...).
    ad_review_reference: Mapped[str | None] = mapped_column(String(80))
    ad_review_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    banned_reason: Mapped[str | None] = mapped_column(String(200))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Records of the room (sessions, orders, chat) are kept until then (rule data: 3 years).
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its chat, channel events and mutes were deleted past `retain_until` (retention.py).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the media server last said the publisher stopped, until one publishes again
    # (a paused room whose stream stays lost ends after a grace period, media.py).
    stream_lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The stream's statistics, counted from real connections and likes (channel.py), never
    # set by hand: viewers' connections while the room was open, the most connected at once
    # while live, likes while live.
    connections: Mapped[int] = mapped_column(default=0, server_default="0")
    peak_viewers: Mapped[int] = mapped_column(default=0, server_default="0")
    likes: Mapped[int] = mapped_column(default=0, server_default="0")


class LiveSession(Base):
    """One broadcast of a room: the actual start and end, and the stream key's digest."""

    __tablename__ = "live_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(30))
    stream_key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    started_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class LiveGoods(Base):
    """A SKU sold in a room: its stream price and the stream stock reserved from the SKU."""

    __tablename__ = "live_goods"
    __table_args__ = (
        UniqueConstraint("room_id", "sku_id"),
        CheckConstraint("stream_price_fen > 0", name="price_positive"),
        CheckConstraint("stock >= 1", name="stock_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= stock", name="remaining_in_range"),
        CheckConstraint("per_buyer_limit >= 1", name="limit_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    # The goods' merchant (the seller of their orders): the room's organisation, or in a
    # leader's room the supplying merchant, with the agreement and its rate copied at adding.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("live_supply_agreements.id"))
    commission_bp: Mapped[int | None]
    product_name: Mapped[str] = mapped_column(String(120))
    sku_code: Mapped[str] = mapped_column(String(40))
    unit: Mapped[str] = mapped_column(String(20))
    list_price_fen: Mapped[int]
    stream_price_fen: Mapped[int]
    per_buyer_limit: Mapped[int]
    stock: Mapped[int]
    remaining: Mapped[int]
    category_codes: Mapped[list[str]] = mapped_column(JSONData)
    needs_ad_review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once, by the UPDATE that gives what is left back to the SKU.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_units: Mapped[int | None]


class Pin(Base):
    """The goods pinned in a room's session, from when to when (the replay's timestamps)."""

    __tablename__ = "live_pins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id", ondelete="CASCADE"))
    goods_id: Mapped[int] = mapped_column(ForeignKey("live_goods.id", ondelete="CASCADE"))
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    unpinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pinned_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class LiveOrder(Base):
    """A viewer's order of the pinned goods, at the stream price, recording room and session."""

    __tablename__ = "live_orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint("status IN ('pending_payment', 'paid', 'cancelled')", name="status"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("total_fen > 0", name="total_positive"),
        Index("ix_live_orders_room_created", "room_id", "created_at"),
        CheckConstraint(
            "fulfilment_status IS NULL OR fulfilment_status IN "
            f"({', '.join(repr(str(s.value)) for s in FulfilmentStatus)})",
            name="fulfilment_status",
        ),
        CheckConstraint("returned_qty >= 0 AND returned_qty <= quantity", name="returned_in_range"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= total_fen", name="refund_in_range"),
        CheckConstraint(
            "platform_fee_bp >= 0 AND commission_bp >= 0 "
            "AND platform_fee_bp + commission_bp <= 10000",
            name="settlement_rates",
        ),
        Index("ix_live_orders_org_fulfilment", "organisation_id", "fulfilment_status"),
        Index("ix_live_orders_point_fulfilment", "pickup_point_id", "fulfilment_status"),
        # A pickup code is live once per pickup point (codes are reused after the hand-over).
        Index(
            "uq_live_orders_point_code",
            "pickup_point_id",
            "pickup_code",
            unique=True,
            sqlite_where=text("fulfilment_status = 'at_point'"),
            postgresql_where=text("fulfilment_status = 'at_point'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    goods_id: Mapped[int] = mapped_column(ForeignKey("live_goods.id"), index=True)
    pin_id: Mapped[int] = mapped_column(ForeignKey("live_pins.id"))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    total_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default=LiveOrderStatus.PENDING_PAYMENT)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Delivery (docs/live.md "Delivery"): collected at the buyer's pickup point (chosen at
    # checkout), or shipped to an address (given at checkout or later, until shipped).
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"))
    pickup_code: Mapped[str | None] = mapped_column(String(6))  # live while at the point
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # at the pickup point
    handed_over_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recipient_name: Mapped[str | None] = mapped_column(String(60))
    recipient_phone: Mapped[str | None] = mapped_column(String(20))  # +86..., normalised
    delivery_address: Mapped[str | None] = mapped_column(String(200))
    fulfilment_status: Mapped[str | None] = mapped_column(String(12))  # FulfilmentStatus
    carrier: Mapped[str | None] = mapped_column(String(20))  # fulfilment.CARRIERS
    tracking_number: Mapped[str | None] = mapped_column(String(40))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    shipped_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Received automatically at this time unless the resident confirms first (rule
    # `live.delivery` `auto_receive_days`, from the shipment).
    receive_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_automatically: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Units taken back by returns and refunded (protection's returns, through `live.lines`).
    returned_qty: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    # The settlement at receipt (`settlement.settle_received`, once): the amount moved out of
    # clearing and the rates it was split at, so a later return reverses exactly what was
    # booked; the leader earning the commission (the pickup point's, at the hand-over).
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    platform_fee_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    commission_bp: Mapped[int] = mapped_column(default=0, server_default="0")
    commission_leader_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LiveCommission(Base):
    """A pickup point leader's commission on a live order handed over at their point: accrued
    at the settlement (positive), reversed in proportion by a return (negative). Append-only;
    the leader's itemised view of the fen booked on `leader:{id}:commission`."""

    __tablename__ = "live_commissions"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'accrual' AND amount_fen > 0) OR (kind = 'reversal' AND amount_fen < 0)",
            name="kind_sign",
        ),
        Index("ix_live_commissions_leader_created", "leader_user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("live_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    base_fen: Mapped[int]  # the goods value it was computed on (signed like amount)
    rate_bp: Mapped[int]
    amount_fen: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupplyAgreement(Base):
    """A merchant organisation's agreement to supply goods to a group leader's live rooms, for
    the residents of the leader's pickup point, at a commission rate on the goods (basis
    points): offered by the merchant, accepted or declined by the leader, ended by either.
    One open agreement (offered or accepted) per merchant and point."""

    __tablename__ = "live_supply_agreements"
    __table_args__ = (
        CheckConstraint("status IN ('offered', 'accepted', 'declined', 'ended')", name="status"),
        CheckConstraint(
            f"commission_bp >= 0 AND commission_bp <= {MAX_AGREEMENT_BP}", name="commission"
        ),
        Index(
            "uq_live_supply_agreements_open",
            "organisation_id",
            "pickup_point_id",
            unique=True,
            sqlite_where=text("status IN ('offered', 'accepted')"),
            postgresql_where=text("status IN ('offered', 'accepted')"),
        ),
        Index("ix_live_supply_agreements_leader", "leader_user_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    pickup_point_id: Mapped[int] = mapped_column(ForeignKey("pickup_points.id"))
    leader_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    commission_bp: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default="offered")
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    offered_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(10))  # merchant | leader


class ChatMessage(Base):
    """A chat message in a room's session; removed ones keep their text and the reason."""

    __tablename__ = "live_chat_messages"
    __table_args__ = (Index("ix_live_chat_room_at", "room_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_reason: Mapped[str | None] = mapped_column(String(200))
    removed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Mute(Base):
    """A viewer muted in a room (until a time)."""

    __tablename__ = "live_mutes"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200))
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RoomEvent(Base):
    """What a room's channel tells its viewers (pin, stock, chat, removal, viewers, status),
    written in the transaction of the change; every server process reads the new rows and
    sends them to its own connections (the fan-out across processes)."""

    __tablename__ = "live_room_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONData)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Presence(Base):
    """How many viewers one server process holds connected to a room, refreshed while they
    are; the room's viewer count is the sum of fresh rows (never inflated: connections)."""

    __tablename__ = "live_presence"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), primary_key=True
    )
    process_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    viewers: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RoomViewer(Base):
    """A logged-in viewer who watched the room while it was open: the denominator of the
    stream's conversion (buying needs a login, so anonymous connections are counted apart)."""

    __tablename__ = "live_room_viewers"

    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BuyerQuota(Base):
    """How many units of a room's goods a viewer holds in unpaid and paid orders: taken by
    one conditional upsert per order (`quantity + n <= per_buyer_limit`), given back when an
    unpaid order expires; concurrent orders of one viewer never exceed the limit."""

    __tablename__ = "live_buyer_quotas"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    goods_id: Mapped[int] = mapped_column(
        ForeignKey("live_goods.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    quantity: Mapped[int]


class Recording(Base):
    """What the media server recorded of a room while a publisher was connected (one file per
    connection), remuxed into the MP4 the replay plays; kept until `retain_until` (rule
    `live.commerce` `retention_years`)."""

    __tablename__ = "live_recordings"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ready', 'failed', 'purged')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(
        ForeignKey("live_rooms.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="SET NULL")
    )
    # The media server's file name (room-<id>-<unix time>.flv), unique: reported once.
    source_name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=RecordingStatus.PENDING)
    file_name: Mapped[str | None] = mapped_column(String(100))  # the MP4, once ready
    bytes: Mapped[int | None] = mapped_column(BigInteger)  # hours of video pass 2 GiB
    duration_ms: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(300))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the file was closed
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # Past its retention: marked `purged` first (committed), its files deleted after that and
    # `files_removed_at` set once they are gone (a crash in between is retried by the next run).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    files_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
