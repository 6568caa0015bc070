"""Pick up first, pay later in the demo city (docs/pay-later.md), deterministic and played
through the services with the clock:

- two months ago, two residents without credit records open the facility and order on
  credit from one group buy; the goods are handed over the next morning;
- one pays their bill before the due date (credit +2), the other never does: a reminder
  comes, then the bill turns overdue after its grace days (credit −80, the facility
  suspended, inbox messages);
- today the demo's own resident (13800000005) opens the facility and orders on credit from
  today's group buy: this month's bill is open on their pay-later page.

Runs after the group-buying history (`seed_history`) has delivered everything it published, so
moving the clock back delivers only what this module publishes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import User
from linli.authz import Actor, UserRef
from linli.catalog.models import Sku
from linli.clock import LOCAL
from linli.config import Settings
from linli.credit import pay_later
from linli.credit.models import CreditPeriod
from linli.credit.pay_later_models import BillStatus, PayLaterBill
from linli.demo.history import (
    HistoryFigures,
    Neighbourhood,
    Seller,
    _deliver,
    _neighbourhoods,
    pay_in_sandbox,
)
from linli.demo.history import _sellers as sellers_of
from linli.errors import DomainError
from linli.groupbuy import campaigns
from linli.groupbuy import checkout as checkouts
from linli.groupbuy.models import CampaignItem
from linli.groupbuy.schemas import CampaignIn, CampaignItemIn, OrderIn, OrderLineIn
from linli.outbox import Dispatcher
from linli.phone import normalize_mobile


@dataclass
class PayLaterFigures:
    facilities: int = 0
    charges: int = 0
    repaid_on_time: int = 0
    overdue: int = 0
    open_bills: int = 0


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LOCAL).astimezone(UTC)


def _months_back(today: date, months: int) -> date:
    month = today.month - months
    year = today.year + (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1)


def _group_price(price_fen: int) -> int:
    return max(1, price_fen * 85 // 100)


async def _affordable(
    session: AsyncSession, sellers: list[Seller], start: int, limit_fen: int
) -> tuple[Seller, int] | None:
    """The first seller from `start` with a SKU of which two fit a new resident's limit (the
    seller's last such SKU), so the demo's orders on credit are never refused."""
    for k in range(len(sellers)):
        seller = sellers[(start + k) % len(sellers)]
        prices = dict(
            (
                await session.execute(
                    select(Sku.id, Sku.price_fen).where(Sku.id.in_(seller.sku_ids))
                )
            ).all()
        )
        fitting = [s for s in seller.sku_ids if 2 * _group_price(prices[s]) <= limit_fen]
        if fitting:
            return seller, fitting[-1]
    return None


async def _campaign(
    sessionmaker: async_sessionmaker[AsyncSession],
    seller: Seller,
    sku_id: int,
    day: date,
    title: str,
) -> int:
    async with sessionmaker() as session, session.begin():
        price = await session.scalar(select(Sku.price_fen).where(Sku.id == sku_id))
        assert price is not None
        campaign = await campaigns.create_campaign(
            session,
            seller.actor,
            CampaignIn(
                title=title,
                opens_at=_at(day, 8),
                cutoff_at=_at(day, 20),
                pickup_date=day + timedelta(days=1),
                items=[
                    CampaignItemIn(
                        sku_id=sku_id,
                        group_price_fen=_group_price(price),
                        per_resident_limit=2,
                        stock=8,
                        min_group_qty=1,
                    )
                ],
            ),
        )
        await campaigns.publish(session, seller.actor, campaign.id)
        item_id = await session.scalar(
            select(CampaignItem.id).where(CampaignItem.campaign_id == campaign.id)
        )
    assert item_id is not None
    return int(item_id)


async def _on_credit(
    sessionmaker: async_sessionmaker[AsyncSession],
    resident: Actor,
    campaign_item: int,
    campaign_id: int,
    quantity: int,
) -> None:
    async with sessionmaker() as session, session.begin():
        await pay_later.open_facility(session, resident)
        await checkouts.place_order(
            session,
            resident,
            OrderIn(
                campaign_id=campaign_id,
                lines=[OrderLineIn(item_id=campaign_item, quantity=quantity)],
                accept_return_terms=True,
                pay_later=True,
            ),
            uuid.uuid4().hex,
        )


async def _campaign_of(sessionmaker: async_sessionmaker[AsyncSession], item_id: int) -> int:
    async with sessionmaker() as session:
        campaign_id = await session.scalar(
            select(CampaignItem.campaign_id).where(CampaignItem.id == item_id)
        )
    assert campaign_id is not None
    return int(campaign_id)


async def _without_records(session: AsyncSession, places: list[Neighbourhood]) -> list[Actor]:
    """Residents with no credit record yet (their score at any earlier moment is the base)."""
    scored = set(
        await session.scalars(
            select(CreditPeriod.subject_id).where(CreditPeriod.subject_kind == "resident")
        )
    )
    return [r for place in places for r in place.residents if r.user_id not in scored]


async def seed_pay_later(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    seed: int,
    resident_phone: str,
) -> PayLaterFigures:
    figures = PayLaterFigures()
    async with sessionmaker() as session:
        sellers = await sellers_of(session)
        places = await _neighbourhoods(session)
        quiet = await _without_records(session, places)
        own = await session.scalar(
            select(User).where(User.phone == normalize_mobile(resident_phone))
        )
        rule = await pay_later.rule_in_force(session)
        chosen = (
            await _affordable(session, sellers, seed, min(limit for _, limit in rule.bands))
            if sellers
            else None
        )
    quiet = [r for r in quiet if own is None or r.user_id != own.id]
    if chosen is None or len(places) < 4 or len(quiet) < 3:
        return figures
    rng = random.Random(seed + 12)
    seller, sku_id = chosen
    payer, defaulter = quiet[:2]
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    today = clock.now().astimezone(LOCAL).date()
    old = _months_back(today, 2)
    with clock.frozen(_at(old, 9)) as frozen:
        item_id = await _campaign(sessionmaker, seller, sku_id, old, "月初先提后付团")
        campaign_id = await _campaign_of(sessionmaker, item_id)
        for resident, quantity in ((payer, 1), (defaulter, 2)):
            await _on_credit(sessionmaker, resident, item_id, campaign_id, quantity)
            figures.facilities += 1
            figures.charges += 1
        frozen.set(_at(old, 20, 1))
        await dispatcher.run_once()  # paid on credit, then the cut-off: the group formed
        frozen.set(_at(old + timedelta(days=1), 7))
        await _deliver(sessionmaker, rng, HistoryFigures())
        await dispatcher.run_once()
        async with sessionmaker() as session:
            bill = await session.scalar(
                select(PayLaterBill).where(PayLaterBill.user_id == payer.user_id)
            )
        assert bill is not None
        frozen.set(_at(date.fromisoformat(bill.due_date) - timedelta(days=5), 10))
        async with sessionmaker() as session, session.begin():
            intent = await pay_later.pay_bill(session, payer, bill.id, settings)
        await pay_in_sandbox(sessionmaker, settings, intent.public_id, intent.amount_fen)
        await dispatcher.run_once()
        frozen.set(bill.overdue_at + timedelta(hours=1))
        await dispatcher.run_once()  # the reminders, then the unpaid bills turn overdue
        await dispatcher.run_once()
    if own is not None:
        resident = Actor(user=UserRef.of(own), organisation=None, roles=frozenset())
        with clock.frozen(_at(today, 9)):
            item_id = await _campaign(sessionmaker, seller, sku_id, today, "今日先提后付团")
            campaign_id = await _campaign_of(sessionmaker, item_id)
            try:
                await _on_credit(sessionmaker, resident, item_id, campaign_id, 1)
                figures.facilities += 1
                figures.charges += 1
            except DomainError:  # no pickup point, or a grade below the minimum
                pass
            await dispatcher.run_once(jobs=False)
    async with sessionmaker() as session:
        statuses = list(await session.scalars(select(PayLaterBill.status)))
    figures.repaid_on_time = statuses.count(BillStatus.PAID)
    figures.overdue = statuses.count(BillStatus.OVERDUE)
    figures.open_bills = statuses.count(BillStatus.OPEN)
    return figures
