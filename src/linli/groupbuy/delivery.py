"""Deliveries, one per campaign and pickup point from the cut-off: the merchant ships, the
leader confirms arrival (its orders become ready for pickup, residents get their code, and
the collection period of the `groupbuy.uncollected` rule starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import GROUPBUY_MANAGE, Actor
from linli.community import points as pickup_points
from linli.errors import Conflict, NotFound
from linli.events import DeliveryShipped, OrderReadyForPickup
from linli.groupbuy import policies, uncollected
from linli.groupbuy.models import (
    ARRIVED,
    CONFIRMED,
    DELIVERY_CONFIRMED,
    READY,
    SHIPPED,
    Campaign,
    Delivery,
    Order,
)
from linli.i18n import N_
from linli.jobs import UncollectedCheck
from linli.rules import service as rules


async def access_delivery(
    session: AsyncSession, organisation_id: int, delivery_id: int
) -> Delivery:
    delivery = await session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.organisation_id == organisation_id)
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(N_("No such delivery."), code="delivery_not_found")
    return delivery


async def ship(session: AsyncSession, actor: Actor, delivery_id: int) -> Delivery:
    """The merchant sends one pickup point's goods on their way."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    delivery = await access_delivery(session, organisation_id, delivery_id)
    shipped = await session.scalar(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == DELIVERY_CONFIRMED)
        .values(status=SHIPPED, shipped_at=clock.now(), shipped_by_user_id=actor.user_id)
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if shipped is None:
        if delivery.status in (SHIPPED, ARRIVED):
            return delivery
        raise Conflict(N_("This delivery cannot be shipped now."), code="not_shippable")
    leader = await pickup_points.leader_of(session, shipped.pickup_point_id)
    outbox.publish(
        session,
        DeliveryShipped(
            delivery_id=shipped.id,
            campaign_id=shipped.campaign_id,
            pickup_point_id=shipped.pickup_point_id,
            leader_user_id=leader,
        ),
    )
    audit.record(
        session, actor, "groupbuy.delivery_shipped", target_type="delivery", target_id=shipped.id
    )
    return shipped


async def ship_campaign(session: AsyncSession, actor: Actor, campaign_id: int) -> list[Delivery]:
    """Ship every pickup point's goods of one campaign at once."""
    organisation_id = policies.acting_merchant(actor, GROUPBUY_MANAGE)
    ids = (
        await session.scalars(
            select(Delivery.id)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.organisation_id == organisation_id,
            )
            .order_by(Delivery.id)
        )
    ).all()
    if not ids:
        raise NotFound(N_("This campaign has nothing to ship."), code="delivery_not_found")
    return [await ship(session, actor, delivery_id) for delivery_id in ids]


async def confirm_arrival(session: AsyncSession, actor: Actor, delivery_id: int) -> Delivery:
    """The leader received a delivery: its orders become ready for pickup, residents get
    their code, and the collection period of the `groupbuy.uncollected` rule starts."""
    delivery = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id).execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(N_("No such delivery."), code="delivery_not_found")
    await policies.access_led_point(session, actor, delivery.pickup_point_id)
    if delivery.status == ARRIVED:
        return delivery
    if delivery.status != SHIPPED:
        raise Conflict(N_("The merchant has not shipped this delivery yet."), code="not_shipped")
    rule = await rules.in_force(session, uncollected.UNCOLLECTED_RULE)
    now = clock.now()
    collect_by = now + timedelta(days=int(rule.values["days"]))
    arrived = await session.scalar(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == SHIPPED)
        .values(
            status=ARRIVED, arrived_at=now, received_by_user_id=actor.user_id, collect_by=collect_by
        )
        .returning(Delivery)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if arrived is None:  # a concurrent tap got there first
        return await _refreshed(session, delivery)
    ready = (
        await session.execute(
            update(Order)
            .where(
                Order.campaign_id == arrived.campaign_id,
                Order.pickup_point_id == arrived.pickup_point_id,
                Order.status == CONFIRMED,
            )
            .values(status=READY, ready_at=now)
            .returning(Order.id, Order.user_id, Order.pickup_code)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for order_id, user_id, code in ready:
        outbox.publish(
            session,
            OrderReadyForPickup(
                order_id=order_id,
                user_id=user_id,
                pickup_point_id=arrived.pickup_point_id,
                pickup_code=code,
                collect_by=collect_by.isoformat(),
            ),
        )
    await outbox.schedule(
        session,
        UncollectedCheck(delivery_id=arrived.id),
        collect_by,
        dedupe_key=f"groupbuy-uncollected-{arrived.id}",
    )
    audit.record(
        session,
        actor,
        "groupbuy.delivery_arrived",
        target_type="delivery",
        target_id=arrived.id,
        orders=len(ready),
        rule=f"{rule.rule_id}@{rule.version}",
    )
    return arrived


async def _refreshed(session: AsyncSession, delivery: Delivery) -> Delivery:
    await session.refresh(delivery)
    return delivery


async def deliveries_for_merchant(
    session: AsyncSession, actor: Actor, campaign_id: int | None = None
) -> Sequence[Delivery]:
    organisation_id = policies.acting_merchant(actor)
    query = select(Delivery).where(Delivery.organisation_id == organisation_id)
    if campaign_id is not None:
        query = query.where(Delivery.campaign_id == campaign_id)
    return (await session.scalars(query.order_by(Delivery.id.desc()).limit(200))).all()


async def deliveries_for_leader(
    session: AsyncSession,
    actor: Actor,
    *,
    statuses: Sequence[str] | None = None,
    led: Sequence[int] | None = None,
) -> Sequence[tuple[Delivery, Campaign]]:
    """Deliveries to the points the actor leads (`led`: their ids, when the caller has just
    read them with `policies.led_points`)."""
    if led is None:
        led = [p.id for p in await policies.led_points(session, actor)]
    point_ids = list(led)
    if not point_ids:
        return []
    query = (
        select(Delivery, Campaign)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.pickup_point_id.in_(point_ids))
    )
    if statuses:
        query = query.where(Delivery.status.in_(statuses))
    rows = await session.execute(
        query.order_by(Campaign.pickup_date.desc(), Delivery.id).limit(200)
    )
    return [(d, c) for d, c in rows.all()]
