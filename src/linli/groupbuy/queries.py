"""Read helpers for the group-buying pages: one resident's order with everything its page
shows, order counts per campaign, group outcomes with names, and the operators' overview.
Every function scopes its rows to the actor (or is only called after the page checked it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.authz import Actor
from linli.catalog import offers
from linli.community import points as pickup_points
from linli.errors import NotFound
from linli.groupbuy import policies, states
from linli.groupbuy.models import (
    PARTIAL,
    READY,
    Campaign,
    CampaignItem,
    Delivery,
    GroupOutcome,
    Order,
    OrderLine,
)
from linli.groupbuy.orders import access_own_order
from linli.groupbuy.states import CampaignStatus, DeliveryStatus, OrderStatus
from linli.i18n import N_, Message
from linli.payments import service as payments
from linli.payments.reasons import REFUND_REASON_LABELS, RefundReason
from linli.payments.views import RefundView

# Cancel reasons in words live with the enumeration.
CANCEL_REASON_LABELS = states.CANCEL_REASON_LABELS
# Refunds whose own words (a person's) are worth showing beside the reason.
OWN_WORDS_REASONS = frozenset({RefundReason.MERCHANT_DECISION, RefundReason.PLATFORM_DECISION})

# Order statuses in words (resident, merchant and leader pages).
ORDER_STATUS_LABELS: dict[str, str] = {
    OrderStatus.PENDING_PAYMENT: N_("Waiting for payment"),
    OrderStatus.PAID: N_("Paid"),
    OrderStatus.CONFIRMED: N_("Group formed"),
    OrderStatus.READY: N_("Ready for pickup"),
    OrderStatus.PARTIAL: N_("Partly picked up"),
    OrderStatus.PICKED_UP: N_("Picked up"),
    OrderStatus.UNCOLLECTED: N_("Not collected"),
    OrderStatus.CANCELLED: N_("Cancelled"),
}
CAMPAIGN_STATUS_LABELS: dict[str, str] = {
    CampaignStatus.DRAFT: N_("Draft"),
    CampaignStatus.PUBLISHED: N_("Published"),
    CampaignStatus.CLOSED: N_("Closed"),
    CampaignStatus.CANCELLED: N_("Cancelled"),
}
DELIVERY_STATUS_LABELS: dict[str, str] = {
    DeliveryStatus.CONFIRMED: N_("To be shipped"),
    DeliveryStatus.SHIPPED: N_("Shipped"),
    DeliveryStatus.ARRIVED: N_("Arrived"),
}
assert set(ORDER_STATUS_LABELS) == set(OrderStatus)
assert set(CAMPAIGN_STATUS_LABELS) == set(CampaignStatus)
assert set(DELIVERY_STATUS_LABELS) == set(DeliveryStatus)


def refund_kind(refund: RefundView) -> str:
    """Why money went back, in words (the caller of the refund named the reason)."""
    return REFUND_REASON_LABELS[RefundReason(refund.reason_code)]


@dataclass(frozen=True)
class TimelineStep:
    label: str
    at: datetime | None

    @property
    def text(self) -> Message:
        return Message(self.label)


def visible_code(order: Order, viewer_id: int | None) -> str | None:
    """The pickup code, for the resident who ordered, once the goods wait for them."""
    if order.user_id == viewer_id and order.status in (READY, PARTIAL):
        return order.pickup_code
    return None


@dataclass(frozen=True)
class OrderPage:
    order: Order
    campaign: Campaign
    lines: list[tuple[OrderLine, CampaignItem]]
    point: pickup_points.Point | None
    delivery: Delivery | None
    refunds: Sequence[RefundView]
    pay_url: str | None
    pickup_code: str | None

    @property
    def timeline(self) -> list[TimelineStep]:
        o = self.order
        return [
            TimelineStep(N_("Ordered"), o.created_at),
            TimelineStep(N_("Paid"), o.paid_at),
            TimelineStep(N_("Group formed"), o.confirmed_at),
            TimelineStep(N_("Arrived at the pickup point"), o.ready_at),
            TimelineStep(N_("Picked up"), o.picked_up_at),
        ]

    @property
    def refund_reasons(self) -> list[tuple[RefundView, Message, bool]]:
        """(refund, why, whether the merchant's own words are worth showing)."""
        return [
            (r, Message(refund_kind(r)), r.reason_code in OWN_WORDS_REASONS) for r in self.refunds
        ]


async def resident_order(session: AsyncSession, actor: Actor, order_id: int) -> OrderPage:
    """The resident's own order (404 for anyone else's, merchants included: this is the
    resident's page)."""
    from linli.payments import providers

    user_id = actor.require_user_id()
    checkout = await access_own_order(session, actor, order_id)
    order = checkout.order
    campaign = await session.get(Campaign, order.campaign_id)
    assert campaign is not None
    point = await pickup_points.point(session, order.pickup_point_id)
    delivery = await session.scalar(
        select(Delivery).where(
            Delivery.campaign_id == order.campaign_id,
            Delivery.pickup_point_id == order.pickup_point_id,
        )
    )
    intent = checkout.intent
    refunds = await payments.refunds_of(session, intent.id) if intent is not None else []
    pay_url = (
        providers.get(intent.provider).checkout_url(intent)
        if intent is not None and order.status == OrderStatus.PENDING_PAYMENT
        else None
    )
    return OrderPage(
        order=order,
        campaign=campaign,
        lines=checkout.lines,
        point=point,
        delivery=delivery,
        refunds=refunds,
        pay_url=pay_url,
        pickup_code=visible_code(order, user_id),
    )


async def order_counts(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """{campaign id: {order status: count}}."""
    counts: dict[int, dict[str, int]] = {i: {} for i in campaign_ids}
    if not campaign_ids:
        return counts
    rows = await session.execute(
        select(Order.campaign_id, Order.status, func.count())
        .where(Order.campaign_id.in_(campaign_ids))
        .group_by(Order.campaign_id, Order.status)
    )
    for campaign_id, status, n in rows.all():
        counts[campaign_id][status] = int(n)
    return counts


@dataclass(frozen=True)
class OutcomeRow:
    outcome: GroupOutcome
    product_name: str
    point_name: str


async def outcomes(session: AsyncSession, campaign_id: int) -> list[OutcomeRow]:
    """Group outcomes of a campaign the caller has already checked is theirs."""
    rows = await session.execute(
        select(
            GroupOutcome,
            CampaignItem.product_name,
            pickup_points.name_of_point(GroupOutcome.pickup_point_id),
        )
        .join(CampaignItem, CampaignItem.id == GroupOutcome.item_id)
        .where(GroupOutcome.campaign_id == campaign_id)
        .order_by(GroupOutcome.pickup_point_id, CampaignItem.id)
    )
    return [OutcomeRow(o, product, point) for o, product, point in rows.all()]


async def point_names(session: AsyncSession, point_ids: set[int]) -> dict[int, str]:
    return {i: p.name for i, p in (await pickup_points.points(session, point_ids)).items()}


async def access_own_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """A campaign of the merchant the actor acts for; 404 for anyone else's."""
    organisation_id = policies.acting_merchant(actor)
    campaign = await session.scalar(
        policies.own_campaigns(organisation_id)
        .where(Campaign.id == campaign_id)
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    return campaign


async def sku_choices(session: AsyncSession, actor: Actor) -> list[tuple[int, str, int]]:
    """(sku id, "product · code", list price fen) of the merchant's own listed SKUs."""
    organisation_id = policies.acting_merchant(actor)
    listed = await offers.listed_skus(session, organisation_id, limit=500)
    return [(sku.sku_id, sku.label, sku.price_fen) for sku in listed.values()]


@dataclass(frozen=True)
class OpsRow:
    campaign: Campaign
    merchant_name: str
    orders: int
    failed_groups: int
    refunded_fen: int


async def ops_campaigns(
    session: AsyncSession, status: str | None, *, limit: int = 200
) -> list[OpsRow]:
    """Every campaign (newest first) for the platform's oversight page; the page checks the
    operator's permission."""
    orders = (
        select(func.count())
        .where(Order.campaign_id == Campaign.id, Order.paid_at.is_not(None))
        .correlate(Campaign)
        .scalar_subquery()
    )
    failed = (
        select(func.count())
        .where(GroupOutcome.campaign_id == Campaign.id, GroupOutcome.formed.is_(False))
        .correlate(Campaign)
        .scalar_subquery()
    )
    refunded = (
        select(func.coalesce(func.sum(Order.refunded_fen), 0))
        .where(Order.campaign_id == Campaign.id)
        .correlate(Campaign)
        .scalar_subquery()
    )
    query = (
        select(Campaign, Organisation.name, orders, failed, refunded)
        .join(Organisation, Organisation.id == Campaign.organisation_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Campaign.status == status)
    rows = await session.execute(query)
    return [OpsRow(c, name, int(n), int(f), int(r)) for c, name, n, f, r in rows.all()]


async def campaign_status_totals(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Campaign.status, func.count()).group_by(Campaign.status))
    return {status: int(n) for status, n in rows.all()}
