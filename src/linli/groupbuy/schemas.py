"""Group-buying API inputs and outputs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StrictInt

from linli.apitypes import MAX_ID
from linli.schemas import StrictInput

Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
Fen = Annotated[StrictInt, Field(ge=1, le=10**9, description="Amount in fen (1/100 yuan)")]
MAX_ITEMS = 50
MAX_LINES = 20
MAX_QUANTITY = 10_000
MAX_ALLOCATION = 1_000_000


class CampaignItemIn(StrictInput):
    sku_id: Id
    group_price_fen: Fen
    per_resident_limit: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    stock: Annotated[StrictInt, Field(ge=1, le=MAX_ALLOCATION)]
    min_group_qty: Annotated[StrictInt, Field(ge=1, le=MAX_ALLOCATION)]


class CampaignIn(StrictInput):
    title: Annotated[str, Field(min_length=1, max_length=120)]
    opens_at: AwareDatetime
    cutoff_at: AwareDatetime
    pickup_date: date
    items: Annotated[list[CampaignItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class ReturnPolicyOut(BaseModel):
    no_reason_return: bool = Field(description="Whether the 7-day no-reason return applies")
    days: int | None = Field(description="Length of the return period in days")
    last_day: date | None = Field(description="Last day to ask for a no-reason return")
    excluded_because: str | None = Field(
        description="Why excluded: storage:<class> or category:<code>"
    )
    rule_id: str | None
    rule_version: int | None
    explanation: str


class CampaignItemOut(BaseModel):
    id: int
    sku_id: int
    product_name: str
    sku_code: str
    unit: str
    list_price_fen: int
    group_price_fen: int
    per_resident_limit: int
    stock: int
    remaining: int
    min_group_qty: int
    storage_class: str
    return_policy: ReturnPolicyOut | None = Field(
        description="The return policy that applies (known once the campaign is published)"
    )


class CampaignOut(BaseModel):
    id: int
    organisation_id: int
    merchant_name: str
    title: str
    opens_at: datetime
    cutoff_at: datetime
    pickup_date: date
    status: Literal["draft", "published", "closed", "cancelled"]
    is_open: bool
    payment_window_minutes: int | None
    published_at: datetime | None
    items: list[CampaignItemOut]


class OrderLineIn(StrictInput):
    item_id: Id
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class OrderIn(StrictInput):
    campaign_id: Id
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES)]
    pickup_point_id: Id | None = None
    accept_return_terms: StrictBool = False


class OrderLineOut(BaseModel):
    item_id: int
    product_name: str
    quantity: int
    unit_price_fen: int
    amount_fen: int
    no_reason_return_excluded: bool


class OrderOut(BaseModel):
    id: int
    campaign_id: int
    user_id: int
    organisation_id: int
    pickup_point_id: int
    status: Literal["pending_payment", "paid", "cancelled"]
    total_fen: int
    return_rule_id: str
    return_rule_version: int
    return_terms_accepted: bool
    payment_due_at: datetime
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    lines: list[OrderLineOut]


class PaymentOut(BaseModel):
    public_id: str
    amount_fen: int
    status: str
    pay_url: str


class CheckoutOut(BaseModel):
    order: OrderOut
    payment: PaymentOut | None
