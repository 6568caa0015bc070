"""Supervision in the demo city, through the services: the Pudong regulator declares a cold
snap emergency over essentials, the first Pudong grocer (a merchant in its jurisdiction)
raises a price far over its pre-emergency level, the rule raises an alert with the price rows
as evidence, the alert becomes a case, the inspector records a finding and the supervisor a
published penalty; two more cases stay open (one investigating, one ordered to rectify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.catalog import prices
from linli.catalog.models import Product, Sku
from linli.categories.models import Category
from linli.demo.seed import INSPECTOR_PHONE, REGULATOR_PHONE
from linli.events import OrderPaid
from linli.groupbuy.models import Order, OrderLine
from linli.outbox import Envelope
from linli.supervision import (
    case_service,
    emergency_service,
    rule_gouging,
    rule_handlers,
)
from linli.supervision.alert_models import OPEN, Alert
from linli.supervision.rule_defaults import PRICE_DISCRIMINATION, PRICE_GOUGING


@dataclass
class SupervisionFigures:
    alerts: int = 0
    cases: int = 0
    penalty_fen: int = 0
    discrimination_alerts: int = 0


def _actor(user: User, organisation: Organisation, role: str) -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({role}),
    )


async def _member(session: AsyncSession, phone: str, role: str) -> tuple[User, Organisation]:
    row = (
        await session.execute(
            select(User, Organisation)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(User.phone.endswith(phone), Membership.role == role)
        )
    ).first()
    assert row is not None, f"no {role} with phone {phone}"
    return row[0], row[1]


async def seed_supervision(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> SupervisionFigures:
    figures = SupervisionFigures()
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        officer, regulator = await _member(session, REGULATOR_PHONE, "supervisor")
        inspector_user, _ = await _member(session, INSPECTOR_PHONE, "inspector")
        supervisor = _actor(officer, regulator, "supervisor")
        essentials = await session.scalar(select(Category.id).where(Category.code == "essentials"))
        found = (
            await session.execute(
                select(Sku, Organisation)
                .join(Product, Product.id == Sku.product_id)
                .join(Category, Category.id == Product.category_id)
                .join(Organisation, Organisation.id == Product.organisation_id)
                .where(
                    Organisation.kind == "merchant",
                    Organisation.district_code == regulator.district_code,
                    Product.status == "listed",
                    Category.parent_id == essentials,
                )
                .order_by(Organisation.id, Sku.id)
                .limit(1)
            )
        ).first()
        assert found is not None, "no merchant in the regulator's district lists essentials"
        sku, merchant = found
        sku_id, before = sku.id, sku.price_fen
        owner = await session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == merchant.id, Membership.role == "owner")
        )
        assert owner is not None
        await emergency_service.declare(
            session,
            supervisor,
            title="寒潮应急保供稳价",
            description="寒潮期间，蔬菜水果粮油等生活必需品价格纳入重点监测。",
            region_code=regulator.district_code or regulator.city_code or "310115",
            categories=["essentials"],
            starts_at=now - timedelta(hours=6),
            ends_at=now + timedelta(days=10),
        )
    # Prices are raised after the declaration: half again, then double. The rule runs here
    # as its PriceChanged handler would (the events stay for the worker, which finds these
    # prices already judged).
    for price in (before * 3 // 2, before * 2):
        async with sessionmaker() as session, session.begin():
            seller = _actor(owner, merchant, "owner")
            await prices.change_price(session, seller, sku_id, price, source="edit")
            await session.flush()
            await rule_gouging.price_gouging(session, sku_id, price)
    async with sessionmaker() as session, session.begin():
        alert = await session.scalar(
            select(Alert).where(Alert.rule_id == PRICE_GOUGING, Alert.status == OPEN)
        )
        assert alert is not None, "the gouging rule did not fire in the demo"
        figures.alerts = alert.count
        case = await case_service.open_case(
            session, supervisor, alert_id=alert.id, title="寒潮期间哄抬生鲜价格"
        )
        inspector = _actor(inspector_user, regulator, "inspector")
        await case_service.add_finding(
            session,
            inspector if case.inspector_user_id == inspector_user.id else supervisor,
            case.id,
            kind="finding",
            text="调取价格记录：应急期间两次提价，进货价未变。",
        )
        penalty = 5_000_000  # CNY 50,000: no illegal gains established (RULES.md)
        await case_service.decide(
            session,
            supervisor,
            case.id,
            decision="penalty",
            summary="应急期间哄抬生鲜价格，处罚款人民币五万元。",
            legal_basis="《中华人民共和国价格法》第十四条第（三）项、第四十条",
            penalty_fen=penalty,
        )
        figures.penalty_fen = penalty
        open_one = await case_service.open_case(
            session, supervisor, organisation_id=merchant.id, title="价格标签与结算价不一致（举报）"
        )
        await case_service.add_finding(
            session, supervisor, open_one.id, kind="task", text="现场核对价签与系统价格。"
        )
        rectify = await case_service.open_case(
            session, supervisor, organisation_id=merchant.id, title="冷藏柜温度记录不完整"
        )
        await case_service.decide(
            session,
            supervisor,
            rectify.id,
            decision="rectify",
            summary="限期七日补全冷藏温度记录并完善制度。",
            legal_basis="《中华人民共和国食品安全法》第五十四条",
            rectify_by=now + timedelta(days=7),
        )
        figures.cases = 3
    figures.discrimination_alerts = await seed_discrimination(sessionmaker, regulator.id)
    return figures


async def seed_discrimination(
    sessionmaker: async_sessionmaker[AsyncSession], regulator_id: int
) -> int:
    """A grocer (in the regulator's district when one there sold an item to two residents at
    one moment) charges one resident 20 % over what the others paid for the same campaign item
    at that moment. Linli's checkout never prices per resident, so the demo writes the charged
    price on that order (its line and total). Supervision's `OrderPaid` handler (the function
    the outbox delivers `OrderPaid` to) then runs on the order, as the gouging scenario above
    runs its rule: the order's own `OrderPaid` was delivered during the history, and
    publishing it again would tell the resident a second time. The alert's evidence is the
    orders and their prices. Returns the alerts raised (0 in a city too small for two
    residents to buy one item at once)."""
    async with sessionmaker() as session, session.begin():
        regulator = await session.get(Organisation, regulator_id)
        assert regulator is not None
        buyers = func.count(func.distinct(Order.user_id))
        query = (
            select(OrderLine.item_id, Order.paid_at)
            .join(Order, Order.id == OrderLine.order_id)
            .join(Organisation, Organisation.id == Order.organisation_id)
            .where(
                Order.paid_at.is_not(None),
                Order.cancelled_at.is_(None),
                Order.refunded_fen == 0,
            )
            .group_by(OrderLine.item_id, Order.paid_at)
            .having(buyers >= 2)
            .order_by(buyers.desc(), OrderLine.item_id)
            .limit(1)
        )
        busiest = (
            await session.execute(
                query.where(Organisation.district_code == regulator.district_code)
            )
        ).first() or (await session.execute(query)).first()
        if busiest is None:
            return 0
        item_id, paid_at = busiest
        order = await session.scalar(
            select(Order)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(
                OrderLine.item_id == item_id,
                Order.paid_at == paid_at,
                # Money already moved back (a failed group, a return) is left as it was.
                Order.cancelled_at.is_(None),
                Order.refunded_fen == 0,
            )
            .order_by(Order.id.desc())
            .limit(1)
        )
        if order is None:
            return 0
        line = await session.scalar(
            select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.item_id == item_id)
        )
        assert line is not None
        extra = line.unit_price_fen // 5
        line.unit_price_fen += extra
        line.amount_fen += extra * line.quantity
        order.total_fen += extra * line.quantity
        event = OrderPaid(
            order_id=order.id,
            campaign_id=order.campaign_id,
            user_id=order.user_id,
            merchant_organisation_id=order.organisation_id,
            pickup_point_id=order.pickup_point_id,
            total_fen=order.total_fen,
            intent_id=0,
        )
        await session.flush()
        await rule_handlers.order_paid(
            session,
            Envelope(
                f"demo-discrimination-{order.id}",
                event.event_name,
                event,
                order.paid_at or clock.now(),
            ),
        )
    async with sessionmaker() as session:
        found = await session.scalar(
            select(func.count(Alert.id)).where(Alert.rule_id == PRICE_DISCRIMINATION)
        )
    return int(found or 0)
