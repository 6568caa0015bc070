"""Group buying's part of a resident's personal data (linli.personal_data, docs/privacy.md):
their orders with lines and cart for the export (and, for a group leader, the commission
itemised per hand-over and their monthly statements); an order still running keeps the account
open; the cart goes when the account closes. Orders are transaction records: they stay, tied
to a user row that names nobody once the account is closed (E-Commerce Law art. 31)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import personal_data
from linli.groupbuy.models import (
    Campaign,
    CampaignItem,
    CartLine,
    Commission,
    CommissionStatement,
    Order,
    OrderLine,
)
from linli.groupbuy.states import OrderStatus
from linli.i18n import N_, Message

# Orders that still owe the resident something (payment, goods to pick up): while one is
# open the account cannot close. Picked up, uncollected and cancelled orders are complete.
OPEN_ORDERS = (
    OrderStatus.PENDING_PAYMENT,
    OrderStatus.PAID,
    OrderStatus.CONFIRMED,
    OrderStatus.READY,
    OrderStatus.PARTIAL,
)


async def export_orders(session: AsyncSession, user_id: int) -> dict[str, Any]:
    orders = (
        await session.execute(
            select(Order, Campaign.title, Campaign.pickup_date)
            .join(Campaign, Campaign.id == Order.campaign_id)
            .where(Order.user_id == user_id)
            .order_by(Order.id)
        )
    ).all()
    lines = (
        await session.execute(
            select(OrderLine, CampaignItem.product_name, CampaignItem.sku_code, CampaignItem.unit)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.user_id == user_id)
            .order_by(OrderLine.id)
        )
    ).all()
    by_order: dict[int, list[dict[str, Any]]] = {}
    for line, product_name, sku_code, unit in lines:
        by_order.setdefault(line.order_id, []).append(
            {
                "id": line.id,
                "product_name": product_name,
                "sku_code": sku_code,
                "unit": unit,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
                "amount_fen": line.amount_fen,
                "no_reason_return_excluded": line.no_reason_return_excluded,
                "picked_qty": line.picked_qty,
                "returned_qty": line.returned_qty,
                "refunded_fen": line.refunded_fen,
            }
        )
    cart = (
        await session.execute(
            select(CartLine, CampaignItem.product_name)
            .join(CampaignItem, CampaignItem.id == CartLine.item_id)
            .where(CartLine.user_id == user_id)
            .order_by(CartLine.added_at)
        )
    ).all()
    commissions = (
        await session.scalars(
            select(Commission).where(Commission.leader_user_id == user_id).order_by(Commission.id)
        )
    ).all()
    statements = (
        await session.scalars(
            select(CommissionStatement)
            .where(CommissionStatement.leader_user_id == user_id)
            .order_by(CommissionStatement.month)
        )
    ).all()
    return {
        "orders": [
            {
                "id": order.id,
                "campaign": title,
                "pickup_date": pickup_date,
                "organisation_id": order.organisation_id,
                "pickup_point_id": order.pickup_point_id,
                "status": order.status,
                "total_fen": order.total_fen,
                "refunded_fen": order.refunded_fen,
                "return_terms_accepted": order.return_terms_accepted,
                "created_at": order.created_at,
                "paid_at": order.paid_at,
                "cancelled_at": order.cancelled_at,
                "cancel_reason": order.cancel_reason,
                "confirmed_at": order.confirmed_at,
                "ready_at": order.ready_at,
                "picked_up_at": order.picked_up_at,
                "lines": by_order.get(order.id, []),
            }
            for order, title, pickup_date in orders
        ],
        "cart": [
            {"product_name": name, "quantity": row.quantity, "added_at": row.added_at}
            for row, name in cart
        ],
        # As a pickup point's leader: the commission on goods handed over, and its months.
        "leader_commissions": [
            {
                "order_id": c.order_id,
                "order_line_id": c.order_line_id,
                "pickup_point_id": c.pickup_point_id,
                "kind": c.kind,
                "base_fen": c.base_fen,
                "rate_bp": c.rate_bp,
                "amount_fen": c.amount_fen,
                "created_at": c.created_at,
            }
            for c in commissions
        ],
        "commission_statements": [
            {
                "month": st.month,
                "accrued_fen": st.accrued_fen,
                "reversed_fen": st.reversed_fen,
                "net_fen": st.net_fen,
                "pickups": st.pickups,
                "created_at": st.created_at,
            }
            for st in statements
        ],
    }


async def open_orders(session: AsyncSession, user_id: int) -> list[Message]:
    count = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.user_id == user_id, Order.status.in_(OPEN_ORDERS))
    )
    if not count:
        return []
    return [
        Message(
            N_(
                "Orders still open (awaiting payment or pickup): {count}. Close your account "
                "once they are picked up or cancelled."
            ),
            {"count": count},
        )
    ]


async def last_order(session: AsyncSession, user_id: int) -> datetime | None:
    """The latest completion of an order: picked up, cancelled, or (uncollected) when the
    goods were last ready; the order's creation when nothing later is known."""
    rows = (
        await session.execute(
            select(
                Order.created_at,
                Order.paid_at,
                Order.ready_at,
                Order.picked_up_at,
                Order.cancelled_at,
            ).where(Order.user_id == user_id)
        )
    ).all()
    moments = [moment for row in rows for moment in row if moment is not None]
    return max(moments, default=None)


async def forget_cart(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(CartLine).where(CartLine.user_id == user_id))


personal_data.provide_export_section("groupbuy", export_orders)
personal_data.provide_open_obligations("groupbuy", open_orders)
personal_data.provide_last_transaction("groupbuy", last_order)
personal_data.provide_on_close("groupbuy", forget_cart)
