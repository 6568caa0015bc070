"""JSON routes for what happens after the cut-off: deliveries (merchant ships, leader
receives), pickup by code, procurement and sorting lists (JSON and CSV), refunds of collected
goods, the resident's pickup QR code and the leader's earnings."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.apitypes import OptionalQueryId, PathId
from linli.authz import (
    GROUPBUY_MANAGE,
    GROUPBUY_READ,
    PAYMENTS_REFUND,
    Actor,
    require,
    require_scope,
)
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.groupbuy import (
    commission,
    delivery,
    lists,
    orders,
    pickup,
    presenters,
    queries,
    refunds,
    reports,
)
from linli.groupbuy.schemas import (
    AwaitingLineOut,
    AwaitingOrderOut,
    CommissionOut,
    DeliveryOut,
    EarningsOut,
    HandOverWithoutCodeIn,
    PickupIn,
    PickupOut,
    ProcurementOut,
    ProcurementRowOut,
    RefundCollectedIn,
    RefundOut,
    SalesOut,
    SortingOut,
    SortingRowOut,
    StatementOut,
)
from linli.i18n import N_

router = APIRouter(prefix="/api/v1/groupbuy", tags=["groupbuy"], responses=ERROR_RESPONSES)
Resident = Annotated[Actor, Depends(require_scope("resident"))]
Leader = Annotated[Actor, Depends(require_scope("leader"))]
Reader = Annotated[Actor, Depends(require(GROUPBUY_READ))]
Manager = Annotated[Actor, Depends(require(GROUPBUY_MANAGE))]
Refunder = Annotated[Actor, Depends(require(PAYMENTS_REFUND))]
ListReader = Annotated[Actor, Depends(require_scope("leader", "org:read"))]
PickupDate = Annotated[date | None, Query(description="Pickup day (Asia/Shanghai)")]
CSV = "text/csv; charset=utf-8"


def present_awaiting_order(found: pickup.AwaitingOrder) -> AwaitingOrderOut:
    """The order at the pickup desk: its customer and what is left of each line."""
    return AwaitingOrderOut(
        order_id=found.order.id,
        customer=found.customer_name,
        status=found.order.status,
        lines=[
            AwaitingLineOut(
                line_id=line.id,
                product_name=item.product_name,
                unit=item.unit,
                quantity=line.quantity,
                picked_qty=line.picked_qty,
                left=found.left(line),
                group_failed=line.group_failed,
            )
            for line, item in found.lines
        ],
    )


def csv_response(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- merchant -----------------------------------------------------------------------------


@router.get("/merchant/deliveries", summary="The merchant's deliveries to pickup points")
async def merchant_deliveries(
    session: DbSession, actor: Reader, campaign_id: OptionalQueryId = None
) -> list[DeliveryOut]:
    rows = await delivery.deliveries_for_merchant(session, actor, campaign_id)
    return [DeliveryOut.model_validate(d) for d in rows]


@router.post("/deliveries/{delivery_id}/ship", summary="Mark one delivery shipped (merchant)")
async def ship(delivery_id: PathId, session: DbSession, actor: Manager) -> DeliveryOut:
    return DeliveryOut.model_validate(await delivery.ship(session, actor, delivery_id))


@router.post("/campaigns/{campaign_id}/ship", summary="Mark every delivery of a campaign shipped")
async def ship_campaign(
    campaign_id: PathId, session: DbSession, actor: Manager
) -> list[DeliveryOut]:
    return [
        DeliveryOut.model_validate(d)
        for d in await delivery.ship_campaign(session, actor, campaign_id)
    ]


async def _procurement(
    session: AsyncSession, actor: Actor, campaign_id: int
) -> lists.ProcurementList:
    return await lists.procurement(session, actor, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/procurement",
    summary="Procurement list: SKU totals by pickup point (merchant)",
)
async def procurement(campaign_id: PathId, session: DbSession, actor: Reader) -> ProcurementOut:
    sheet = await _procurement(session, actor, campaign_id)
    return ProcurementOut(
        campaign_id=sheet.campaign.id,
        rows=[ProcurementRowOut.model_validate(row) for row in sheet.rows],
    )


@router.get(
    "/campaigns/{campaign_id}/procurement.csv",
    summary="Procurement list as CSV",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}},
)
async def procurement_csv(campaign_id: PathId, session: DbSession, actor: Reader) -> Response:
    sheet = await _procurement(session, actor, campaign_id)
    return csv_response(lists.procurement_csv(sheet), f"procurement-{campaign_id}.csv")


@router.post(
    "/orders/{order_id}/lines/{line_id}/refund",
    summary="Refund collected goods (merchant); reverses the settlement and the commission",
)
async def refund_collected(
    order_id: PathId, line_id: PathId, body: RefundCollectedIn, session: DbSession, actor: Refunder
) -> RefundOut:
    event = await refunds.refund_collected(
        session, actor, order_id, line_id, body.quantity, body.reason
    )
    return RefundOut.model_validate(event)


@router.get(
    "/merchant/sales",
    summary="Group-buying sales per product (for an exporter: its domestic sales)",
)
async def merchant_sales(
    session: DbSession,
    actor: Reader,
    days: Annotated[int, Query(ge=1, le=366, description="Orders confirmed in the last days")] = 30,
) -> SalesOut:
    report = await reports.sales(session, actor, days=days)
    return SalesOut.model_validate(report)


# --- leader -------------------------------------------------------------------------------


@router.get("/leader/deliveries", summary="Deliveries to the pickup points I run")
async def leader_deliveries(session: DbSession, actor: Leader) -> list[DeliveryOut]:
    return [
        DeliveryOut.model_validate(d)
        for d, _c in await delivery.deliveries_for_leader(session, actor)
    ]


@router.post("/deliveries/{delivery_id}/arrive", summary="Confirm a delivery arrived (leader)")
async def arrive(delivery_id: PathId, session: DbSession, actor: Leader) -> DeliveryOut:
    return DeliveryOut.model_validate(await delivery.confirm_arrival(session, actor, delivery_id))


@router.get(
    "/pickup-points/{point_id}/awaiting/{code}",
    summary="The order waiting at my pickup point under this code (leader)",
)
async def awaiting(
    point_id: PathId,
    code: Annotated[str, Path(min_length=1, max_length=20)],
    session: DbSession,
    actor: Leader,
) -> AwaitingOrderOut:
    return present_awaiting_order(await pickup.find_by_code(session, actor, point_id, code))


@router.post(
    "/pickup-points/{point_id}/pickups",
    status_code=201,
    summary="Hand over an order (or part of it) against its pickup code (leader)",
)
async def pick_up(point_id: PathId, body: PickupIn, session: DbSession, actor: Leader) -> PickupOut:
    quantities = None if body.lines is None else {ln.line_id: ln.quantity for ln in body.lines}
    result = await pickup.verify_pickup(
        session, actor, point_id, body.code, quantities, how=body.how
    )
    return PickupOut(
        order_id=result.order.id,
        status=result.order.status,
        goods_fen=result.pickup.goods_fen,
        commission_fen=result.commission_fen,
        complete=result.complete,
    )


@router.post(
    "/pickup-points/{point_id}/orders/{order_id}/handover-without-code",
    status_code=201,
    summary="Hand over an order without its pickup code (leader; recorded, the resident is told)",
)
async def hand_over_without_code(
    point_id: PathId,
    order_id: PathId,
    body: HandOverWithoutCodeIn,
    session: DbSession,
    actor: Leader,
) -> PickupOut:
    quantities = None if body.lines is None else {ln.line_id: ln.quantity for ln in body.lines}
    result = await pickup.hand_over_without_code(
        session, actor, point_id, order_id, body.reason, quantities
    )
    return PickupOut(
        order_id=result.order.id,
        status=result.order.status,
        goods_fen=result.pickup.goods_fen,
        commission_fen=result.commission_fen,
        complete=result.complete,
    )


async def _sorting(
    session: AsyncSession,
    actor: Actor,
    point_id: int,
    pickup_date: date | None,
    campaign_id: int | None,
) -> lists.SortingList:
    return await lists.sorting_list(
        session, actor, point_id, pickup_date=pickup_date, campaign_id=campaign_id
    )


@router.get(
    "/pickup-points/{point_id}/sorting-list",
    summary="Sorting list: per resident, without pickup codes (leader; merchant with campaign_id)",
)
async def sorting_list(
    point_id: PathId,
    session: DbSession,
    actor: ListReader,
    pickup_date: PickupDate = None,
    campaign_id: OptionalQueryId = None,
) -> SortingOut:
    sheet = await _sorting(session, actor, point_id, pickup_date, campaign_id)
    return SortingOut(
        pickup_point_id=sheet.pickup_point.id,
        pickup_date=sheet.pickup_date,
        campaign_id=sheet.campaign_id,
        rows=[SortingRowOut.model_validate(row) for row in sheet.rows],
    )


@router.get(
    "/pickup-points/{point_id}/sorting-list.csv",
    summary="Sorting list as CSV",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}},
)
async def sorting_list_csv(
    point_id: PathId,
    session: DbSession,
    actor: ListReader,
    pickup_date: PickupDate = None,
    campaign_id: OptionalQueryId = None,
) -> Response:
    sheet = await _sorting(session, actor, point_id, pickup_date, campaign_id)
    return csv_response(lists.sorting_csv(sheet), f"sorting-{point_id}.csv")


@router.get("/leader/earnings", summary="My commission: this month, recent entries, statements")
async def earnings(session: DbSession, actor: Leader) -> EarningsOut:
    month = commission.month_of(clock.now())
    start, end = commission.month_bounds(month)
    earned = await commission.earnings(session, actor.require_user_id(), start, end)
    return EarningsOut.from_row(
        earned,
        month=month,
        recent=[
            CommissionOut.model_validate(c)
            for c in await commission.my_commissions(session, actor, limit=50)
        ],
        statements=[
            StatementOut.from_row(s, paid_out=s.ledger_entry_id is not None)
            for s in await commission.my_statements(session, actor)
        ],
    )


# --- resident -----------------------------------------------------------------------------


@router.get(
    "/orders/{order_id}/pickup-qr.svg",
    summary="My pickup code as a QR image (once the goods have arrived)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def pickup_qr(order_id: PathId, session: DbSession, actor: Resident) -> Response:
    checkout = await orders.access_order(session, actor, order_id)
    code = queries.visible_code(checkout.order, actor.user_id)
    if code is None:
        raise NotFound(N_("This order has no pickup code to show."), code="no_pickup_code")
    return Response(
        presenters.qr_svg(code),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store"},
    )
