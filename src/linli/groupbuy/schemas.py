"""Group-buying API inputs and outputs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StrictInt

from linli.apitypes import MAX_ID
from linli.groupbuy.states import CancelReason
from linli.schemas import OutputModel, StrictInput

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
    batch_id: Id | None = Field(
        default=None, description="The batch (lot) sold: an active batch of this SKU of yours"
    )


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


class CampaignItemOut(OutputModel):
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
    batch_id: int | None = Field(default=None, description="The batch (lot) sold, if named")
    return_policy: ReturnPolicyOut | None = Field(
        description="The return policy that applies (known once the campaign is published)"
    )


class CampaignOut(OutputModel):
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
    # pick up first, pay later (先提后付): settled at once on the resident's credit facility
    pay_later: StrictBool = False


class OrderLineOut(OutputModel):
    id: int
    item_id: int
    product_name: str
    quantity: int
    unit_price_fen: int
    amount_fen: int
    no_reason_return_excluded: bool
    group_failed: bool = Field(description="The item's group did not form; refunded")
    picked_qty: int
    returned_qty: int
    refunded_fen: int


class OrderOut(OutputModel):
    id: int
    campaign_id: int
    user_id: int
    organisation_id: int
    pickup_point_id: int
    status: Literal[
        "pending_payment",
        "paid",
        "confirmed",
        "ready_for_pickup",
        "partially_picked_up",
        "picked_up",
        "uncollected",
        "cancelled",
    ]
    total_fen: int
    refunded_fen: int
    pickup_code: str | None = Field(
        description="Shown to the resident once the goods have arrived at the pickup point"
    )
    qr_url: str | None = Field(description="The pickup code as a QR image (SVG)")
    return_rule_id: str
    return_rule_version: int
    return_terms_accepted: bool
    payment_due_at: datetime
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: CancelReason | None = Field(description="Why the order was cancelled")
    confirmed_at: datetime | None
    ready_at: datetime | None
    picked_up_at: datetime | None
    lines: list[OrderLineOut]


class PaymentOut(OutputModel):
    public_id: str
    amount_fen: int
    status: str
    pay_url: str


class CheckoutOut(BaseModel):
    order: OrderOut
    payment: PaymentOut | None


# --- fulfilment ------------------------------------------------------------------------------


class DeliveryOut(OutputModel):
    id: int
    campaign_id: int
    pickup_point_id: int
    status: Literal["confirmed", "shipped", "arrived"]
    orders: int
    created_at: datetime
    shipped_at: datetime | None
    arrived_at: datetime | None
    collect_by: datetime | None


class PickupLineIn(StrictInput):
    line_id: Id
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]


class PickupIn(StrictInput):
    code: Annotated[str, Field(min_length=6, max_length=20, description="Typed or scanned")]
    lines: Annotated[list[PickupLineIn], Field(max_length=MAX_LINES)] | None = Field(
        default=None,
        description="Quantities to hand over per order line; all that is left if omitted",
    )
    how: Literal["typed", "scanned"] = "typed"


class HandOverWithoutCodeIn(StrictInput):
    reason: str = Field(
        min_length=2,
        max_length=200,
        description="Why the resident could not show the code; the resident is told",
    )
    lines: Annotated[list[PickupLineIn], Field(max_length=MAX_LINES)] | None = Field(
        default=None,
        description="Quantities to hand over per order line; all that is left if omitted",
    )


class PickupOut(BaseModel):
    order_id: int
    status: str
    goods_fen: int
    commission_fen: int
    complete: bool


class AwaitingLineOut(BaseModel):
    line_id: int
    product_name: str
    unit: str
    quantity: int
    picked_qty: int
    left: int
    group_failed: bool


class AwaitingOrderOut(BaseModel):
    order_id: int
    customer: str
    status: str
    lines: list[AwaitingLineOut]


class RefundCollectedIn(StrictInput):
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class RefundOut(OutputModel):
    order_id: int
    amount_fen: int
    commission_reversed_fen: int


class ProcurementRowOut(OutputModel):
    sku_code: str
    product_name: str
    unit: str
    pickup_point_id: int
    pickup_point_name: str
    quantity: int


class ProcurementOut(BaseModel):
    campaign_id: int
    rows: list[ProcurementRowOut]


class SortingRowOut(OutputModel):
    order_id: int
    customer: str
    status: str
    product_name: str
    sku_code: str
    unit: str
    quantity: int
    picked_qty: int


class SortingOut(BaseModel):
    pickup_point_id: int
    pickup_date: date | None
    campaign_id: int | None
    rows: list[SortingRowOut]


class CommissionOut(OutputModel):
    id: int
    order_id: int
    kind: Literal["accrual", "reversal"]
    base_fen: int
    rate_bp: int
    amount_fen: int
    created_at: datetime


class StatementOut(OutputModel):
    month: str
    accrued_fen: int
    reversed_fen: int
    net_fen: int
    pickups: int
    paid_out: bool


class EarningsOut(OutputModel):
    month: str
    accrued_fen: int
    reversed_fen: int
    net_fen: int
    pickups: int
    recent: list[CommissionOut]
    statements: list[StatementOut]


class ProductSalesOut(OutputModel):
    product_id: int
    product_name: str
    orders: int
    units: int = Field(description="Bought, less failed groups, uncollected and returned units")
    revenue_fen: int = Field(description="Paid, less every refund")


class SalesOut(OutputModel):
    days: int
    units: int
    revenue_fen: int
    rows: list[ProductSalesOut]


# --- cart ---------------------------------------------------------------------------------


class CartQuantityIn(StrictInput):
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY, description="0 removes the item")]


class CartLineOut(BaseModel):
    item_id: int
    campaign_id: int
    campaign_title: str
    product_name: str
    unit: str
    quantity: int
    unit_price_fen: int
    amount_fen: int
    per_resident_limit: int
    no_reason_return_excluded: bool
    orderable: bool = Field(description="False once the campaign's ordering window closed")


class CartOut(BaseModel):
    lines: list[CartLineOut]
    total_fen: int
    needs_return_terms: bool


class CartCheckoutIn(StrictInput):
    accept_return_terms: StrictBool = False


class CartFailureOut(BaseModel):
    campaign_id: int
    message: str


class CartCheckoutOut(BaseModel):
    orders: list[CheckoutOut]
    failed: list[CartFailureOut]
