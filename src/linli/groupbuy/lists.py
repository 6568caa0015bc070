"""The two working lists of the day after the cut-off: what a merchant must procure (SKU
totals by pickup point) and how a pickup point sorts what arrives (per resident, with codes).
Both as rows for a page and as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.authz import GROUPBUY_READ, Actor
from linli.community import points as pickup_points
from linli.errors import NotFound
from linli.groupbuy import policies
from linli.groupbuy.models import FULFILLED, Campaign, CampaignItem, Order, OrderLine
from linli.i18n import N_
from linli.phone import mask_phone

# Cells a spreadsheet would run as a formula (CSV injection, OWASP): prefixed with '.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ProcurementRow:
    sku_code: str
    product_name: str
    unit: str
    pickup_point_id: int
    pickup_point_name: str
    quantity: int


@dataclass(frozen=True)
class ProcurementList:
    campaign: Campaign
    rows: list[ProcurementRow]

    def totals(self) -> list[tuple[str, str, str, int]]:
        """(sku code, product, unit, quantity over all pickup points), in SKU order."""
        sums: dict[tuple[str, str, str], int] = {}
        for row in self.rows:
            key = (row.sku_code, row.product_name, row.unit)
            sums[key] = sums.get(key, 0) + row.quantity
        return [(*key, quantity) for key, quantity in sums.items()]


async def procurement(session: AsyncSession, actor: Actor, campaign_id: int) -> ProcurementList:
    organisation_id = policies.acting_merchant(actor, GROUPBUY_READ)
    campaign = await session.scalar(
        policies.own_campaigns(organisation_id).where(Campaign.id == campaign_id)
    )
    if campaign is None:
        raise NotFound(N_("No such campaign."), code="campaign_not_found")
    quantity = func.sum(OrderLine.quantity)
    rows = await session.execute(
        select(
            CampaignItem.sku_code,
            CampaignItem.product_name,
            CampaignItem.unit,
            Order.pickup_point_id,
            pickup_points.name_of_point(Order.pickup_point_id),
            quantity,
        )
        .join(OrderLine, OrderLine.item_id == CampaignItem.id)
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            CampaignItem.campaign_id == campaign.id,
            Order.status.in_(FULFILLED),
            OrderLine.group_failed.is_(False),
        )
        .group_by(
            CampaignItem.id,
            CampaignItem.sku_code,
            CampaignItem.product_name,
            CampaignItem.unit,
            Order.pickup_point_id,
        )
        .order_by(CampaignItem.id, Order.pickup_point_id)
    )
    return ProcurementList(campaign, [ProcurementRow(*row) for row in rows.all()])


@dataclass(frozen=True)
class SortingRow:
    order_id: int
    customer: str  # display name and masked phone: enough to hand over, no more
    # No pickup code: it is the resident's proof of collection, shown to them alone.
    status: str
    product_name: str
    sku_code: str
    unit: str
    quantity: int
    picked_qty: int


@dataclass(frozen=True)
class SortingList:
    pickup_point: pickup_points.Point
    pickup_date: date | None
    campaign_id: int | None
    rows: list[SortingRow]


async def sorting_list(
    session: AsyncSession,
    actor: Actor,
    point_id: int,
    *,
    pickup_date: date | None = None,
    campaign_id: int | None = None,
) -> SortingList:
    """Per resident, what to bag for them at a pickup point. The leader of the point sees
    every merchant's goods for a pickup day; a merchant sees only its own campaign's."""
    if campaign_id is not None and actor.organisation_id is not None and actor.has(GROUPBUY_READ):
        organisation_id = policies.acting_merchant(actor, GROUPBUY_READ)
        point = await pickup_points.point(session, point_id)
        owned = await session.scalar(
            policies.own_campaigns(organisation_id)
            .with_only_columns(Campaign.id)
            .where(Campaign.id == campaign_id)
        )
        if point is None or owned is None:
            raise NotFound(N_("No such pickup point of yours."), code="pickup_point_not_found")
    else:
        point = await policies.access_led_point(session, actor, point_id)
    query = (
        select(OrderLine, Order, CampaignItem, User.display_name, User.phone)
        .join(Order, Order.id == OrderLine.order_id)
        .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
        .join(Campaign, Campaign.id == Order.campaign_id)
        .join(User, User.id == Order.user_id)
        .where(
            Order.pickup_point_id == point.id,
            Order.status.in_(FULFILLED),
            OrderLine.group_failed.is_(False),
        )
        .order_by(Order.id, OrderLine.id)
    )
    if pickup_date is not None:
        query = query.where(Campaign.pickup_date == pickup_date)
    if campaign_id is not None:
        query = query.where(Order.campaign_id == campaign_id)
    rows = [
        SortingRow(
            order_id=order.id,
            customer=f"{name} {mask_phone(phone)}",
            status=order.status,
            product_name=item.product_name,
            sku_code=item.sku_code,
            unit=item.unit,
            quantity=line.quantity,
            picked_qty=line.picked_qty,
        )
        for line, order, item, name, phone in (await session.execute(query)).all()
    ]
    return SortingList(point, pickup_date, campaign_id, rows)


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV with a byte-order mark (so spreadsheet programs read the Chinese right) and
    formula-looking cells neutralised."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in header])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def procurement_csv(sheet: ProcurementList) -> str:
    return to_csv(
        ["sku_code", "product", "unit", "pickup_point_id", "pickup_point", "quantity"],
        (
            (r.sku_code, r.product_name, r.unit, r.pickup_point_id, r.pickup_point_name, r.quantity)
            for r in sheet.rows
        ),
    )


def sorting_csv(sheet: SortingList) -> str:
    return to_csv(
        [
            "order_id",
            "customer",
            "product",
            "sku_code",
            "unit",
            "quantity",
            "picked",
            "status",
        ],
        (
            (
                r.order_id,
                r.customer,
                r.product_name,
                r.sku_code,
                r.unit,
                r.quantity,
                r.picked_qty,
                r.status,
            )
            for r in sheet.rows
        ),
    )
