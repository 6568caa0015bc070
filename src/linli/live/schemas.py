"""Live selling's API inputs and outputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from linli.apitypes import MAX_ID
from linli.live.models import MAX_AGREEMENT_BP
from linli.live.states import RemovalReason
from linli.phone import normalize_mobile
from linli.schemas import OutputModel, StrictInput

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Fen = Annotated[StrictInt, Field(ge=1, le=10**9, description="Amount in fen (1/100 yuan)")]
MAX_STREAM_STOCK = 100_000
MAX_QUANTITY = 99
Reason = Annotated[str, Field(min_length=2, max_length=200)]
PersonName = Annotated[str, Field(min_length=2, max_length=60)]
IdentityNumber = Annotated[
    str,
    Field(
        min_length=18,
        max_length=18,
        pattern=r"^[0-9]{17}[0-9Xx]$",
        description="Resident identity card number (18 characters); only a keyed digest "
        "and the last 4 characters are stored",
    ),
]


class StreamerIn(StrictInput):
    user_id: Id = Field(description="A member of the organisation")
    real_name: PersonName
    identity_number: IdentityNumber
    guardian_name: PersonName | None = Field(
        default=None, description="Required for streamers aged 16-17: the consenting guardian"
    )
    guardian_consent: bool = Field(
        default=False, description="The guardian's written consent was seen and is on file"
    )


class LeaderStreamerIn(StrictInput):
    """A group leader registers themselves as a streamer for their pickup point's rooms."""

    real_name: PersonName
    identity_number: IdentityNumber
    guardian_name: PersonName | None = Field(
        default=None, description="Required for streamers aged 16-17: the consenting guardian"
    )
    guardian_consent: bool = Field(
        default=False, description="The guardian's written consent was seen and is on file"
    )


class StreamerOut(OutputModel):
    id: int
    organisation_id: int | None
    user_id: int
    real_name: str
    identity_hint: str
    birth_date: date
    guardian_name: str | None
    guardian_consent_at: datetime | None
    status: str
    suspended_reason: str | None
    verified_at: datetime


class RoomIn(StrictInput):
    streamer_id: Id
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=2000)] = ""
    scheduled_start: AwareDatetime
    scheduled_end: AwareDatetime

    @field_validator("scheduled_start", "scheduled_end")
    @classmethod
    def _in_this_era(cls, value: datetime) -> datetime:
        """In UTC, between 2000 and 2999 (no overflow anywhere downstream)."""
        if not 2000 <= value.year <= 2999:
            raise PydanticCustomError("date_out_of_range", "choose a date between 2000 and 2999")
        return value.astimezone(UTC)


class LeaderRoomIn(StrictInput):
    """A group leader's room for the residents of a pickup point they lead."""

    pickup_point_id: Id
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=2000)] = ""
    scheduled_start: AwareDatetime
    scheduled_end: AwareDatetime

    @field_validator("scheduled_start", "scheduled_end")
    @classmethod
    def _in_this_era(cls, value: datetime) -> datetime:
        """In UTC, between 2000 and 2999 (no overflow anywhere downstream)."""
        return RoomIn._in_this_era(value)


class GoodsIn(StrictInput):
    sku_id: Id
    stream_price_fen: Fen
    stock: Annotated[StrictInt, Field(ge=1, le=MAX_STREAM_STOCK, description="Stream stock cap")]
    per_buyer_limit: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 5


class AdReviewIn(StrictInput):
    reference: Annotated[
        str, Field(min_length=4, max_length=80, description="The advertising review number")
    ]


class PinIn(StrictInput):
    goods_id: Id


class ReasonIn(StrictInput):
    reason: Reason


class RemovalIn(StrictInput):
    reason: RemovalReason
    note: Annotated[str, Field(max_length=200)] = ""


class MuteIn(StrictInput):
    user_id: Id
    minutes: Annotated[StrictInt, Field(ge=1, le=1440)] = 10
    reason: Reason


class ChatMessageOut(OutputModel):
    id: int
    room_id: int
    user_id: int
    text: str
    at: datetime
    removed_at: datetime | None
    removed_reason: str | None


class MuteOut(OutputModel):
    room_id: int
    user_id: int
    until: datetime
    reason: str


class DeliveryIn(StrictInput):
    """Where a live order is shipped: given at checkout, or later until it is shipped."""

    recipient_name: Annotated[str, Field(min_length=1, max_length=60)]
    recipient_phone: Annotated[
        str, Field(min_length=11, max_length=20, description="A mainland mobile number")
    ]
    address: Annotated[
        str,
        Field(
            min_length=5,
            max_length=200,
            description="Province, city, district, street, building and room",
        ),
    ]

    @field_validator("recipient_phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        normalised = normalize_mobile(value)
        if normalised is None:
            raise PydanticCustomError("mobile", "enter a mainland mobile number")
        return normalised


class LiveOrderIn(StrictInput):
    goods_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)] = 1
    delivery: DeliveryIn | None = Field(
        default=None,
        description="Where to ship the order; may also be given later, until it is shipped",
    )
    pickup: StrictBool = Field(
        default=False,
        description="Collect it at my pickup point (my residence's) instead of shipping",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.pickup and self.delivery is not None:
            raise PydanticCustomError(
                "pickup_or_delivery", "collect at the pickup point or give an address, not both"
            )
        return self


class ShipmentIn(StrictInput):
    carrier: Annotated[str, Field(min_length=2, max_length=20, description="A carrier code")]
    tracking_number: Annotated[str, Field(min_length=6, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]


class GoodsOut(OutputModel):
    id: int
    sku_id: int
    organisation_id: int | None = Field(description="The goods' merchant (the orders' seller)")
    product_name: str
    sku_code: str
    unit: str
    list_price_fen: int
    stream_price_fen: int
    per_buyer_limit: int
    stock: int
    remaining: int
    needs_ad_review: bool
    released_units: int | None


class PinOut(OutputModel):
    id: int
    goods_id: int
    session_id: int
    pinned_at: datetime
    unpinned_at: datetime | None


class SellerOut(BaseModel):
    """Shown continuously in the room (SAMR guidance 2020 No. 175)."""

    organisation_id: int
    name: str
    credit_code: str | None
    licences: list[str]
    after_sales_phone: str | None = Field(
        default=None, description="Public after-sales line; null: none on file"
    )
    after_sales_terms: str | None = None


class RoomOut(OutputModel):
    id: int
    organisation_id: int | None = Field(description="The merchant's room; null: a leader's")
    leader_user_id: int | None = None
    pickup_point_id: int | None = Field(
        default=None, description="A leader's room: its point (only its residents see it)"
    )
    streamer_id: int
    title: str
    description: str
    scheduled_start: datetime
    scheduled_end: datetime
    status: str
    pinned_goods_id: int | None
    ad_review_reference: str | None
    ended_at: datetime | None
    retain_until: datetime | None
    likes: int = 0
    goods: list[GoodsOut] = Field(default_factory=list)
    seller: SellerOut | None = None
    sellers: list[SellerOut] = Field(
        default_factory=list, description="A leader's room: each supplying merchant"
    )


class SessionOut(OutputModel):
    id: int
    room_id: int
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class StartedOut(BaseModel):
    session: SessionOut
    stream_key: str = Field(description="Shown once: the RTMP stream key of this session")


class StatisticsOut(BaseModel):
    room_id: int
    on_air_seconds: int = Field(description="The sessions' time, to now for an open one")
    connections: int = Field(description="Viewers' connections while the room was open")
    viewers: int = Field(description="Logged-in viewers, each counted once")
    peak_viewers: int = Field(description="The most viewers connected at once while live")
    likes: int
    orders: int = Field(description="Paid orders")
    units: int
    gmv_fen: int = Field(description="The paid orders' totals, in fen")
    buyers: int
    conversion: float | None = Field(description="Buyers per logged-in viewer")


class RecordingOut(OutputModel):
    """A replay of the room: what the media server recorded while a publisher was connected."""

    id: int
    session_id: int | None
    recorded_at: datetime
    duration_ms: int | None
    bytes: int | None
    url: str  # the MP4 (byte ranges answered)


class ReplayOut(BaseModel):
    room: RoomOut
    sessions: list[SessionOut]
    pins: list[PinOut]
    recordings: list[RecordingOut]


class PaymentOut(OutputModel):
    public_id: str
    amount_fen: int
    status: str
    pay_url: str


class LiveOrderOut(OutputModel):
    id: int
    room_id: int
    session_id: int
    goods_id: int
    quantity: int
    unit_price_fen: int
    total_fen: int
    status: str
    created_at: datetime
    payment: PaymentOut | None = None


class MyLiveOrderOut(LiveOrderOut):
    room_title: str
    product_name: str
    unit: str
    # Delivery (docs/live.md "Delivery"): the address, the shipment and its receipt.
    recipient_name: str | None = None
    recipient_phone: str | None = None
    delivery_address: str | None = None
    fulfilment_status: str | None = None
    pickup_point_id: int | None = None  # collected there (else shipped to the address)
    pickup_point_name: str | None = None
    arrived_at: datetime | None = None
    pickup_code: str | None = None  # the buyer's only: shown at the point to collect
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    receive_by: datetime | None = None
    received_at: datetime | None = None
    received_automatically: bool = False
    returned_qty: int = 0
    refunded_fen: int = 0
    # The room's replay, at the moment the goods were pinned (once a recording is ready).
    replay_url: str | None = None
    replay_at_seconds: int | None = None


class MerchantLiveOrderOut(MyLiveOrderOut):
    """A paid live order as its merchant ships it (the address, the recipient's phone; never
    the pickup code)."""

    user_id: int


class PointLiveOrderOut(OutputModel):
    """A live order at a pickup point as its leader sees it: never the pickup code (the
    resident's proof of collection)."""

    id: int
    pickup_point_id: int
    product_name: str
    unit: str
    quantity: int
    fulfilment_status: str
    shipped_at: datetime | None
    arrived_at: datetime | None
    received_at: datetime | None


class CodeIn(StrictInput):
    code: Annotated[str, Field(min_length=1, max_length=20)]


class LiveCommissionOut(OutputModel):
    """One item of a leader's commission on live orders handed over at their point."""

    id: int
    order_id: int
    pickup_point_id: int
    product_name: str
    kind: str  # accrual | reversal
    base_fen: int
    rate_bp: int
    amount_fen: int
    created_at: datetime


class LiveCommissionsOut(OutputModel):
    """A leader's live commissions: totals over all time and the latest items."""

    accrued_fen: int
    reversed_fen: int
    net_fen: int
    items: list[LiveCommissionOut]


class AgreementIn(StrictInput):
    """A merchant's offer to supply a group leader's live rooms: the leader's pickup point and
    the commission on the goods in basis points (at most community's ceiling, 30 %)."""

    pickup_point_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    commission_bp: Annotated[int, Field(ge=0, le=MAX_AGREEMENT_BP)]
    note: Annotated[str, Field(max_length=200)] = ""


class AgreementOut(OutputModel):
    id: int
    organisation_id: int
    organisation_name: str
    pickup_point_id: int
    pickup_point_name: str
    leader_user_id: int
    commission_bp: int
    status: str  # offered | accepted | declined | ended
    note: str
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
