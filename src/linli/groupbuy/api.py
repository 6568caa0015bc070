"""JSON routes for group buying under /api/v1/groupbuy: campaigns (merchants create and
publish, anyone reads) and checkout (residents order; the payment is a payments intent)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import StringConstraints, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from linli.apitypes import OptionalQueryId, PageSize, PathId
from linli.authz import (
    GROUPBUY_MANAGE,
    GROUPBUY_READ,
    Actor,
    current_actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.groupbuy import campaigns, group_commit, orders, queries
from linli.groupbuy import cart as carts
from linli.groupbuy import checkout as checkouts
from linli.groupbuy.models import Campaign, CampaignItem
from linli.groupbuy.schemas import (
    CampaignIn,
    CampaignItemOut,
    CampaignOut,
    CartCheckoutIn,
    CartCheckoutOut,
    CartFailureOut,
    CartLineOut,
    CartOut,
    CartQuantityIn,
    CheckoutOut,
    OrderIn,
    OrderLineOut,
    OrderOut,
    PaymentOut,
    ReturnPolicyOut,
)
from linli.i18n import _
from linli.lean import LeanAnswer, LeanCall, lean_route
from linli.payments import providers

router = APIRouter(prefix="/api/v1/groupbuy", tags=["groupbuy"], responses=ERROR_RESPONSES)
_resident = require_scope("resident")
Resident = Annotated[Actor, Depends(_resident)]
Reader = Annotated[Actor, Depends(require(GROUPBUY_READ))]
Manager = Annotated[Actor, Depends(require(GROUPBUY_MANAGE))]
OrderReader = Annotated[Actor, Depends(require_scope("resident", "org:read"))]
Anyone = Annotated[Actor, Depends(current_actor)]
CartKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=48,
        pattern=r"^[\x21-\x7e]+$",
        description="8 to 48 printable ASCII characters; the same key returns the same orders",
    ),
]
_KEY = {"min_length": 8, "max_length": 64, "pattern": r"^[\x21-\x7e]+$"}
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        **_KEY,
        description="8 to 64 printable ASCII characters; the same key returns the same order",
    ),
]
_ORDER_KEY = TypeAdapter(Annotated[str, StringConstraints(**_KEY)])


def return_policy(campaign: Campaign, item: CampaignItem) -> ReturnPolicyOut | None:
    if campaign.return_rule_id is None:
        return None
    if item.return_exclusion is not None:
        return ReturnPolicyOut(
            no_reason_return=False,
            days=None,
            last_day=None,
            excluded_because=item.return_exclusion,
            rule_id=campaign.return_rule_id,
            rule_version=campaign.return_rule_version,
            explanation=_(
                "Fresh or perishable goods: no 7-day no-reason return. You confirm this when "
                "you order; quality problems are still covered."
            ),
        )
    days = campaign.return_days or 0
    last_day: date = campaign.pickup_date + timedelta(days=days)
    return ReturnPolicyOut(
        no_reason_return=True,
        days=days,
        last_day=last_day,
        excluded_because=None,
        rule_id=campaign.return_rule_id,
        rule_version=campaign.return_rule_version,
        explanation=_(
            "No-reason return within {days} days, counted from the day after pickup "
            "(until {last_day})."
        ).format(days=days, last_day=last_day.isoformat()),
    )


def present_campaign(view: campaigns.CampaignView) -> CampaignOut:
    """The campaign, its merchant's name, whether it is open, and each item's return policy."""
    c = view.campaign
    return CampaignOut.from_row(
        c,
        merchant_name=view.merchant_name,
        is_open=view.is_open,
        items=[CampaignItemOut.from_row(i, return_policy=return_policy(c, i)) for i in view.items],
    )


def present_checkout(checkout: checkouts.Checkout, viewer_id: int | None) -> CheckoutOut:
    """The order and its lines (with the items' names), the pickup code only for its buyer
    once the goods wait for them, and the payment with the provider's URL."""
    o = checkout.order
    intent = checkout.intent
    code = queries.visible_code(o, viewer_id)  # the row's own code must never be read here
    return CheckoutOut(
        order=OrderOut.from_row(
            o,
            pickup_code=code,
            qr_url=f"/api/v1/groupbuy/orders/{o.id}/pickup-qr.svg" if code else None,
            lines=[
                OrderLineOut.from_row(line, product_name=item.product_name)
                for line, item in checkout.lines
            ],
        ),
        payment=PaymentOut.from_row(
            intent, pay_url=providers.get(intent.provider).checkout_url(intent)
        )
        if intent is not None
        else None,
    )


async def _campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> CampaignOut:
    return present_campaign(await campaigns.access_campaign(session, actor, campaign_id))


@router.get("/campaigns", summary="Campaigns open for orders now (public)")
async def open_campaigns(session: DbSession, limit: PageSize = 50) -> list[CampaignOut]:
    return [present_campaign(v) for v in await campaigns.open_campaigns(session, limit=limit)]


@router.post("/campaigns", status_code=201, summary="Create a draft campaign (merchant)")
async def create_campaign(body: CampaignIn, session: DbSession, actor: Manager) -> CampaignOut:
    campaign = await campaigns.create_campaign(session, actor, body)
    return await _campaign(session, actor, campaign.id)


@router.get(
    "/campaigns/{campaign_id}",
    summary="One campaign: items, group price, remaining stock, return policy per item",
)
async def campaign(campaign_id: PathId, session: DbSession, actor: Anyone) -> CampaignOut:
    return await _campaign(session, actor, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/publish",
    summary="Publish a draft: take the stock from the SKUs, fix the rules (merchant)",
)
async def publish(campaign_id: PathId, session: DbSession, actor: Manager) -> CampaignOut:
    await campaigns.publish(session, actor, campaign_id)
    return await _campaign(session, actor, campaign_id)


@router.get("/merchant/campaigns", summary="The merchant's own campaigns, drafts too")
async def my_campaigns(
    session: DbSession, actor: Reader, limit: PageSize = 50
) -> list[CampaignOut]:
    return [present_campaign(v) for v in await campaigns.my_campaigns(session, actor, limit=limit)]


@router.get("/merchant/orders", summary="Orders of the merchant's campaigns")
async def merchant_orders(
    session: DbSession,
    actor: Reader,
    campaign_id: OptionalQueryId = None,
    limit: PageSize = 50,
) -> list[CheckoutOut]:
    rows = await orders.merchant_orders(session, actor, campaign_id=campaign_id, limit=limit)
    return [present_checkout(c, actor.user_id) for c in rows]


@router.post(
    "/orders",
    status_code=201,
    summary="Order in a campaign (idempotent: the same key returns the same order with 200)",
    responses={200: {"model": CheckoutOut, "description": "The order placed with this key"}},
)
async def place_order(
    body: OrderIn,
    session: DbSession,
    actor: Resident,
    response: Response,
    idempotency_key: IdempotencyKey,
    request: Request,
) -> CheckoutOut:
    # On PostgreSQL an order of one line joins its item's group commit (committed by then).
    batch_size = request.app.state.settings.checkout_batch_size
    checkout = await group_commit.place_order(session, actor, body, idempotency_key, batch_size)
    if not checkout.created:
        response.status_code = 200
    return present_checkout(checkout, actor.user_id)


@lean_route("POST", f"{router.prefix}/orders")
async def place_order_lean(call: LeanCall) -> LeanAnswer:
    """`place_order` served lean (linli.lean): the same access, inputs and answer."""
    actor = await call.actor(_resident)
    idempotency_key = call.header("Idempotency-Key", _ORDER_KEY)
    body = await call.body(OrderIn)
    batch_size = call.request.app.state.settings.checkout_batch_size
    checkout = await group_commit.place_order(
        await call.session(), actor, body, idempotency_key, batch_size
    )
    return call.json(201 if checkout.created else 200, present_checkout(checkout, actor.user_id))


@router.get("/orders", summary="My group-buying orders, newest first")
async def my_orders(session: DbSession, actor: Resident, limit: PageSize = 50) -> list[CheckoutOut]:
    return [
        present_checkout(c, actor.user_id)
        for c in await orders.my_orders(session, actor, limit=limit)
    ]


@router.get("/orders/{order_id}", summary="One order (its resident, or the merchant)")
async def order(order_id: PathId, session: DbSession, actor: OrderReader) -> CheckoutOut:
    return present_checkout(await orders.access_order(session, actor, order_id), actor.user_id)


# --- cart ---------------------------------------------------------------------------------


def present_cart(cart: carts.Cart) -> CartOut:
    """Each cart line with its campaign and item, and the cart's totals."""
    return CartOut(
        lines=[
            CartLineOut(
                item_id=e.item.id,
                campaign_id=e.campaign.id,
                campaign_title=e.campaign.title,
                product_name=e.item.product_name,
                unit=e.item.unit,
                quantity=e.line.quantity,
                unit_price_fen=e.item.group_price_fen,
                amount_fen=e.amount_fen,
                per_resident_limit=e.item.per_resident_limit,
                no_reason_return_excluded=e.item.return_exclusion is not None,
                orderable=e.orderable,
            )
            for e in cart.entries
        ],
        total_fen=cart.total_fen,
        needs_return_terms=cart.needs_return_terms,
    )


@router.get("/cart", summary="My cart: items of open campaigns, ordered together")
async def cart(session: DbSession, actor: Resident) -> CartOut:
    return present_cart(await carts.view(session, actor))


@router.put("/cart/items/{item_id}", summary="Set how many of an item are in my cart (0 removes)")
async def set_cart_quantity(
    item_id: PathId, body: CartQuantityIn, session: DbSession, actor: Resident
) -> CartOut:
    return present_cart(await carts.set_quantity(session, actor, item_id, body.quantity))


@router.post(
    "/cart/checkout",
    summary="Order everything in my cart: one order and one payment per campaign",
)
async def checkout_cart(
    body: CartCheckoutIn,
    session: DbSession,
    actor: Resident,
    idempotency_key: CartKey,
) -> CartCheckoutOut:
    result = await carts.checkout(
        session, actor, accept_return_terms=body.accept_return_terms, key=idempotency_key
    )
    return CartCheckoutOut(
        orders=[present_checkout(c, actor.user_id) for c in result.placed],
        failed=[
            CartFailureOut(campaign_id=campaign.id, message=message.render())
            for campaign, message in result.failed
        ],
    )
