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
from linli.live import agreements, cancellation, fulfilment, presenters, settlement
from linli.live.schemas import (
    AgreementIn,
    AgreementOut,
    CodeIn,
    DeliveryIn,
    LiveCommissionOut,
    LiveCommissionsOut,
    MerchantLiveOrderOut,
    MyLiveOrderOut,
    PointLiveOrderOut,
    ReasonIn,
    ShipmentIn,
)

router = APIRouter(prefix="/api/v1/live", tags=["live"], responses=ERROR_RESPONSES)
Viewer = Annotated[Actor, Depends(require_scope("resident"))]
Reader = Annotated[Actor, Depends(require(LIVE_READ))]
Manager = Annotated[Actor, Depends(require(LIVE_MANAGE))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
State = Literal["to_ship", "shipped", "at_point", "received", "uncollected", "cancelled", "all"]


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


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel my paid live order before it is shipped (refunded in full)",
)
async def cancel_mine(order_id: PathId, session: DbSession, actor: Viewer) -> MyLiveOrderOut:
    await cancellation.cancel_by_buyer(session, actor, order_id)
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


@router.post(
    "/merchant/orders/{order_id}/cancel",
    summary="Cancel a paid live order the organisation cannot ship, with a reason (the buyer "
    "is refunded in full and told)",
)
async def cancel(
    order_id: PathId, body: ReasonIn, session: DbSession, actor: Manager
) -> MerchantLiveOrderOut:
    await cancellation.cancel_by_merchant(session, actor, order_id, body.reason)
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


@router.get(
    "/leader/commissions",
    summary="My commission on live orders handed over at my points: totals and the latest "
    "items (accruals at the hand-over, reversals by returns)",
)
async def my_commissions(
    session: DbSession, actor: Leader, limit: PageSize = 50
) -> LiveCommissionsOut:
    summary = await settlement.my_commissions(session, actor, limit=limit)
    return LiveCommissionsOut(
        accrued_fen=summary.accrued_fen,
        reversed_fen=summary.reversed_fen,
        net_fen=summary.net_fen,
        items=[
            LiveCommissionOut.model_validate(item, from_attributes=True) for item in summary.items
        ],
    )


# --- supply agreements (merchant <-> group leader) ------------------------------------------


def _agreement_out(view: agreements.AgreementView) -> AgreementOut:
    row = view.agreement
    return AgreementOut(
        id=row.id,
        organisation_id=row.organisation_id,
        organisation_name=view.organisation_name,
        pickup_point_id=row.pickup_point_id,
        pickup_point_name=view.pickup_point_name,
        leader_user_id=row.leader_user_id,
        commission_bp=row.commission_bp,
        status=row.status,
        note=row.note,
        created_at=row.created_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
    )


@router.get(
    "/merchant/agreements",
    summary="The organisation's supply offers and agreements with group leaders, newest first",
)
async def merchant_agreements(session: DbSession, actor: Reader) -> list[AgreementOut]:
    return [_agreement_out(v) for v in await agreements.merchant_agreements(session, actor)]


@router.post(
    "/merchant/agreements",
    status_code=201,
    summary="Offer to supply the live rooms of a pickup point's leader at a commission rate",
)
async def offer_agreement(body: AgreementIn, session: DbSession, actor: Manager) -> AgreementOut:
    row = await agreements.offer(session, actor, body)
    return _agreement_out(await agreements.merchant_agreement(session, actor, row.id))


@router.post("/merchant/agreements/{agreement_id}/end", summary="End my offer or agreement")
async def end_agreement_merchant(
    agreement_id: PathId, session: DbSession, actor: Manager
) -> AgreementOut:
    await agreements.end_by_merchant(session, actor, agreement_id)
    return _agreement_out(await agreements.merchant_agreement(session, actor, agreement_id))


@router.get("/leader/agreements", summary="Supply offers and agreements made to me as a leader")
async def leader_agreements(session: DbSession, actor: Leader) -> list[AgreementOut]:
    return [_agreement_out(v) for v in await agreements.leader_agreements(session, actor)]


@router.post(
    "/leader/agreements/{agreement_id}/{action}",
    summary="Accept or decline a supply offer made to me, or end an agreement",
)
async def answer_agreement(
    agreement_id: PathId,
    action: Literal["accept", "decline", "end"],
    session: DbSession,
    actor: Leader,
) -> AgreementOut:
    if action == "accept":
        await agreements.accept(session, actor, agreement_id)
    elif action == "decline":
        await agreements.decline(session, actor, agreement_id)
    else:
        await agreements.end_by_leader(session, actor, agreement_id)
    return _agreement_out(await agreements.leader_agreement(session, actor, agreement_id))
