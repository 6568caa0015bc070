"""Two weeks of group buying in the demo city, played through the real services on a moved
clock: merchants publish campaigns, residents order and pay (signed sandbox notifications),
the dispatcher applies payments and runs the cut-off, groups form or fail (failed groups are
refunded), merchants ship, leaders receive and hand over by pickup code, some goods are never
collected (refunded by rule) and a few collected ones are refunded by the merchant."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.catalog.models import Product, Sku
from linli.community.models import PickupPoint, Residence
from linli.config import Settings
from linli.errors import DomainError
from linli.groupbuy import campaigns, pickup, refunds
from linli.groupbuy import checkout as checkouts
from linli.groupbuy import delivery as deliveries
from linli.groupbuy.models import READY, CampaignItem, Delivery, Order, OrderLine
from linli.groupbuy.schemas import CampaignIn, CampaignItemIn, OrderIn, OrderLineIn
from linli.outbox import Dispatcher
from linli.payments import providers
from linli.payments import service as payments

LOCAL = clock.LOCAL
TITLES = ("鲜果拼团", "蔬菜早市团", "粮油囤货团", "乳品周末团", "海鲜鲜活团", "日用百货团")


@dataclass(frozen=True)
class Seller:
    actor: Actor
    sku_ids: list[int]


@dataclass(frozen=True)
class Neighbourhood:
    point_id: int
    leader: Actor
    residents: list[Actor]


@dataclass
class HistoryFigures:
    campaigns: int = 0
    orders: int = 0
    failed_orders: int = 0
    picked_up: int = 0
    uncollected: int = 0
    merchant_refunds: int = 0


def _actor(user: User, organisation: Organisation | None = None, role: str = "") -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=frozenset({role}) if role else frozenset(),
    )


async def _sellers(session: AsyncSession) -> list[Seller]:
    """Merchants with at least three SKUs in stock, with their owner acting for them."""
    rows = (
        await session.execute(
            select(Organisation, User)
            .join(Membership, Membership.organisation_id == Organisation.id)
            .join(User, User.id == Membership.user_id)
            .where(Organisation.kind == "merchant", Membership.role == "owner")
            .order_by(Organisation.id)
        )
    ).all()
    sellers = []
    for organisation, owner in rows:
        sku_ids = (
            await session.scalars(
                select(Sku.id)
                .join(Product, Product.id == Sku.product_id)
                .where(
                    Product.organisation_id == organisation.id,
                    Product.status == "listed",
                    Sku.stock >= 60,
                )
                .order_by(Sku.id)
            )
        ).all()
        if len(sku_ids) >= 3:
            sellers.append(Seller(_actor(owner, organisation, "owner"), list(sku_ids)))
    return sellers


async def _neighbourhoods(session: AsyncSession) -> list[Neighbourhood]:
    leaders = {
        point.id: user
        for point, user in (
            await session.execute(
                select(PickupPoint, User).join(User, User.id == PickupPoint.leader_user_id)
            )
        ).all()
    }
    residents: dict[int, list[Actor]] = defaultdict(list)
    for point_id, user in (
        await session.execute(
            select(Residence.pickup_point_id, User)
            .join(User, User.id == Residence.user_id)
            .order_by(User.id)
        )
    ).all():
        residents[point_id].append(_actor(user))
    return [
        Neighbourhood(point_id, _actor(leaders[point_id]), residents[point_id])
        for point_id in sorted(leaders)
        if len(residents[point_id]) >= 12
    ]


def _local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day.date(), time(hour, minute), LOCAL).astimezone(UTC)


async def seed_history(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    seed: int,
    days: int = 14,
    campaigns_per_day: int = 3,
) -> HistoryFigures:
    rng = random.Random(seed + 1)
    figures = HistoryFigures()
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    async with sessionmaker() as session:
        sellers = await _sellers(session)
        places = await _neighbourhoods(session)
    if not sellers or len(places) < 4:
        return figures
    today = datetime.now(LOCAL)
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        with clock.frozen(_local(day, 8)) as frozen:
            for n in range(campaigns_per_day):
                seller = sellers[(back * campaigns_per_day + n) % len(sellers)]
                chosen = rng.sample(places, 4)
                await _one_campaign(
                    sessionmaker,
                    seller,
                    chosen,
                    day,
                    settings,
                    rng,
                    figures,
                    title=TITLES[(back + n) % len(TITLES)],
                )
            frozen.set(_local(day, 8, 30))
            await dispatcher.run_once()  # payments applied
            frozen.set(_local(day, 20, 1))
            await dispatcher.run_once()  # cut-off: groups decided, failed ones refunded
            frozen.set(_local(day + timedelta(days=1), 7))
            await _deliver(sessionmaker, rng, figures)
            frozen.set(_local(day + timedelta(days=1), 21))
            await dispatcher.run_once()  # notifications, and orders left too long
    async with sessionmaker() as session:
        figures.uncollected = len(
            (await session.scalars(select(Order.id).where(Order.status == "uncollected"))).all()
        )
        figures.failed_orders = len(
            (
                await session.scalars(select(Order.id).where(Order.cancel_reason == "group_failed"))
            ).all()
        )
    return figures


async def _one_campaign(
    sessionmaker: async_sessionmaker[AsyncSession],
    seller: Seller,
    chosen: Sequence[Neighbourhood],
    day: datetime,
    settings: Settings,
    rng: random.Random,
    figures: HistoryFigures,
    *,
    title: str,
) -> None:
    async with sessionmaker() as session, session.begin():
        skus = (
            await session.execute(
                select(Sku.id, Sku.price_fen).where(Sku.id.in_(rng.sample(seller.sku_ids, 3)))
            )
        ).all()
        campaign = await campaigns.create_campaign(
            session,
            seller.actor,
            CampaignIn(
                title=title,
                opens_at=_local(day, 7, 30),
                cutoff_at=_local(day, 20),
                pickup_date=(day + timedelta(days=1)).date(),
                items=[
                    CampaignItemIn(
                        sku_id=sku_id,
                        group_price_fen=max(1, price * rng.choice((80, 85, 90)) // 100),
                        per_resident_limit=3,
                        stock=60,
                        min_group_qty=4,
                    )
                    for sku_id, price in skus
                ],
            ),
        )
        await campaigns.publish(session, seller.actor, campaign.id)
        item_ids = list(
            (
                await session.scalars(
                    select(CampaignItem.id).where(CampaignItem.campaign_id == campaign.id)
                )
            ).all()
        )
    figures.campaigns += 1
    # Three busy pickup points and a quiet one, whose group usually fails.
    for place, buyers in zip(chosen, (9, 7, 6, 2), strict=True):
        for resident in rng.sample(place.residents, min(buyers, len(place.residents))):
            lines = [
                OrderLineIn(item_id=item_id, quantity=rng.randint(1, 2))
                for item_id in rng.sample(item_ids, rng.randint(1, 2))
            ]
            await _order_and_pay(sessionmaker, resident, campaign.id, lines, settings, figures)


async def _order_and_pay(
    sessionmaker: async_sessionmaker[AsyncSession],
    resident: Actor,
    campaign_id: int,
    lines: list[OrderLineIn],
    settings: Settings,
    figures: HistoryFigures,
) -> None:
    try:
        async with sessionmaker() as session, session.begin():
            checkout = await checkouts.place_order(
                session,
                resident,
                OrderIn(campaign_id=campaign_id, lines=lines, accept_return_terms=True),
                uuid.uuid4().hex,
            )
            intent = checkout.intent
    except DomainError:
        return  # sold out or over the limit: residents meet that too
    if intent is None:
        return
    figures.orders += 1
    await pay_in_sandbox(sessionmaker, settings, intent.public_id, intent.amount_fen)


async def pay_in_sandbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    intent_public_id: str,
    amount_fen: int,
) -> None:
    """The resident pays: the sandbox provider's signed notification, received as the
    callback route receives it."""
    headers, body = providers.signed_notification(
        settings.payment_sandbox_secret.get_secret_value(),
        intent_public_id=intent_public_id,
        amount_fen=amount_fen,
        provider_txn_id=f"demo{uuid.uuid4().hex[:20]}",
    )
    async with sessionmaker() as session, session.begin():
        await payments.receive_callback(
            session, "sandbox", headers=headers, body=body, settings=settings
        )


async def _deliver(
    sessionmaker: async_sessionmaker[AsyncSession], rng: random.Random, figures: HistoryFigures
) -> None:
    """The morning after the cut-off: ship, receive, and hand over most orders."""
    async with sessionmaker() as session:
        pending = (
            await session.execute(
                select(Delivery, PickupPoint.leader_user_id, Membership.user_id)
                .join(PickupPoint, PickupPoint.id == Delivery.pickup_point_id)
                .join(
                    Membership,
                    (Membership.organisation_id == Delivery.organisation_id)
                    & (Membership.role == "owner"),
                )
                .where(Delivery.status == "confirmed")
                .order_by(Delivery.id)
            )
        ).all()
        users = {
            user.id: user
            for user in await session.scalars(
                select(User).where(
                    User.id.in_({row[1] for row in pending} | {row[2] for row in pending})
                )
            )
        }
        organisations = {
            org.id: org
            for org in await session.scalars(
                select(Organisation).where(
                    Organisation.id.in_({row[0].organisation_id for row in pending})
                )
            )
        }
    for delivery, leader_id, owner_id in pending:
        if leader_id is None:
            continue
        owner = _actor(users[owner_id], organisations[delivery.organisation_id], "owner")
        leader = _actor(users[leader_id])
        async with sessionmaker() as session, session.begin():
            await deliveries.ship(session, owner, delivery.id)
            await deliveries.confirm_arrival(session, leader, delivery.id)
        async with sessionmaker() as session:
            waiting = (
                await session.scalars(
                    select(Order).where(
                        Order.campaign_id == delivery.campaign_id,
                        Order.pickup_point_id == delivery.pickup_point_id,
                        Order.status == READY,
                    )
                )
            ).all()
        for order in waiting:
            luck = rng.random()
            if luck < 0.08:
                continue  # never comes: the uncollected rule refunds it later
            async with sessionmaker() as session, session.begin():
                quantities = None
                if luck < 0.14:  # takes part now, never the rest
                    first = await session.scalar(
                        select(OrderLine).where(
                            OrderLine.order_id == order.id, OrderLine.group_failed.is_(False)
                        )
                    )
                    if first is not None and first.quantity > 1:
                        quantities = {first.id: 1}
                assert order.pickup_code is not None
                result = await pickup.verify_pickup(
                    session, leader, delivery.pickup_point_id, order.pickup_code, quantities
                )
                figures.picked_up += 1
                if result.complete and luck > 0.985:
                    line = await session.scalar(
                        select(OrderLine).where(OrderLine.order_id == order.id).limit(1)
                    )
                    if line is not None and line.picked_qty:
                        await refunds.refund_collected(
                            session, owner, order.id, line.id, 1, "商品破损，商家退款"
                        )
                        figures.merchant_refunds += 1
