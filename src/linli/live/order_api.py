"""JSON routes for the delivery of live orders under /api/v1/live (docs/live.md "Delivery"):
the resident's order (address, receipt, replay link), the merchant's orders to ship, and the
pickup point's leader receiving and handing over those collected there."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from linli.apitypes import PageSize, PathId
from linli.authz import LIVE_MANAGE, LIVE_READ, Actor, require, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.live import fulfilment, presenters
from linli.live.schemas import (
    CodeIn,
    DeliveryIn,
    MerchantLiveOrderOut,
    MyLiveOrderOut,
    PointLiveOrderOut,
    ShipmentIn,
)

router = APIRouter(prefix="/api/v1/live", tags=["live"], responses=ERROR_RESPONSES)
Viewer = Annotated[Actor, Depends(require_scope("resident"))]
Reader = Annotated[Actor, Depends(require(LIVE_READ))]
Manager = Annotated[Actor, Depends(require(LIVE_MANAGE))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
State = Literal["to_ship", "shipped", "at_point", "received", "uncollected", "all"]


# --- residents ------------------------------------------------------------------------------


@router.get("/orders/{order_id}", summary="One of my live orders: delivery and replay link")
async def my_order(order_id: PathId, session: DbSession, actor: Viewer) -> MyLiveOrderOut:
    return presenters.live_order_out(await fulfilment.my_order(session, actor, order_id))


@router.post(
    "/orders/{order_id}/address",
    summary="Give or correct where my live order is shipped (until it is shipped)",
)
async def set_address(
    order_id: PathId, body: DeliveryIn, session: DbSession, actor: Viewer
) -> MyLiveOrderOut:
    await fulfilment.set_address(session, actor, order_id, body)
    return presenters.live_order_out(await fulfilment.my_order(session, actor, order_id))


@router.post("/orders/{order_id}/receive", summary="Confirm I received my shipped live order")
async def confirm_receipt(order_id: PathId, session: DbSession, actor: Viewer) -> MyLiveOrderOut:
    await fulfilment.confirm_receipt(session, actor, order_id)
    return presenters.live_order_out(await fulfilment.my_order(session, actor, order_id))


# --- merchants ------------------------------------------------------------------------------


@router.get(
    "/merchant/orders",
    summary="The organisation's paid live orders: to ship (oldest first), shipped, received",
)
async def merchant_orders(
    session: DbSession, actor: Reader, state: State = "to_ship", limit: PageSize = 50
) -> list[MerchantLiveOrderOut]:
    views = await fulfilment.merchant_orders(session, actor, state=state, limit=limit)
    return [presenters.merchant_live_order_out(view) for view in views]


@router.post(
    "/merchant/orders/{order_id}/ship",
    summary="Record the shipment of a paid live order (carrier and tracking number)",
)
async def ship(
    order_id: PathId, body: ShipmentIn, session: DbSession, actor: Manager
) -> MerchantLiveOrderOut:
    await fulfilment.ship(session, actor, order_id, body)
    view = await fulfilment.merchant_order(session, actor, order_id)
    return presenters.merchant_live_order_out(view)


# --- the pickup point's leader ----------------------------------------------------------------


@router.get(
    "/pickup-points/{point_id}/orders",
    summary="Live orders coming to or waiting at a point I lead, oldest first; with "
    "`state=uncollected` the latest 50 not collected in time, newest first (never the pickup "
    "codes)",
)
async def point_orders(
    point_id: PathId,
    session: DbSession,
    actor: Leader,
    state: Annotated[Literal["waiting", "uncollected"], Query()] = "waiting",
) -> list[PointLiveOrderOut]:
    if state == "uncollected":
        views = await fulfilment.point_uncollected(session, actor, point_id)
    else:
        views = await fulfilment.point_orders(session, actor, point_id)
    return [presenters.point_live_order_out(view) for view in views]


@router.post(
    "/pickup-points/{point_id}/orders/{order_id}/arrive",
    summary="Record that a live order shipped to my point arrived (its pickup code is drawn)",
)
async def arrived(
    point_id: PathId, order_id: PathId, session: DbSession, actor: Leader
) -> PointLiveOrderOut:
    await fulfilment.arrived(session, actor, point_id, order_id)
    view = await fulfilment.point_order(session, actor, point_id, order_id)
    return presenters.point_live_order_out(view)


@router.post(
    "/pickup-points/{point_id}/handover",
    summary="Hand a live order over at my point against the code the buyer shows",
)
async def hand_over(
    point_id: PathId, body: CodeIn, session: DbSession, actor: Leader
) -> PointLiveOrderOut:
    order = await fulfilment.hand_over(session, actor, point_id, body.code)
    view = await fulfilment.point_order(session, actor, point_id, order.id)
    return presenters.point_live_order_out(view)
