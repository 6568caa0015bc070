"""Seven-day returns in the demo city, in every state, through the services (after the group
buying history, whose pickups they return): requested, approved, rejected, received (refund
due), refunded, and, when the history reaches back far enough, a refund left overdue."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.community.models import PickupPoint
from linli.demo.seed import LEADER_PHONE, MERCHANT_PHONE, RESIDENT_PHONE
from linli.groupbuy.models import CampaignItem, Order, OrderLine
from linli.outbox import Dispatcher
from linli.protection import returns
from linli.protection.return_models import GoodsCondition, ReturnReason
from linli.protection.return_schemas import ReturnAnswerIn, ReturnIn, ReturnReceiptIn

STEPS = ("requested", "approved", "rejected", "received", "refunded", "overdue")
REASONS = (
    ReturnReason.CHANGED_MIND,
    ReturnReason.NOT_AS_DESCRIBED,
    ReturnReason.WRONG_ITEM,
    ReturnReason.OTHER,
)


@dataclass
class ReturnFigures:
    returns: int = 0
    refunded: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class _Line:
    line_id: int
    user: User
    owner: User
    organisation: Organisation
    leader: User
    picked_up_at: datetime


def _actor(user: User, organisation: Organisation | None = None, role: str = "") -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=frozenset({role}) if role else frozenset(),
    )


async def _candidates(session: AsyncSession, limit: int, *, oldest: bool = False) -> list[_Line]:
    """Collected lines of goods a resident may return without a reason, one per order: the
    demo resident's, merchant's and leader's first (what their pages show), newest first; or
    anyone's, oldest first."""
    # Phone numbers are stored in E.164 (+86...).
    resident = await session.scalar(select(User.id).where(User.phone.endswith(RESIDENT_PHONE)))
    merchant = await session.scalar(
        select(Membership.organisation_id)
        .join(User, User.id == Membership.user_id)
        .where(User.phone.endswith(MERCHANT_PHONE), Membership.role == "owner")
    )
    demo_leader = await session.scalar(select(User.id).where(User.phone.endswith(LEADER_PHONE)))
    led = select(PickupPoint.id).where(PickupPoint.leader_user_id == demo_leader)
    preferred = (
        case((Order.user_id == resident, 0), else_=1),
        case((Order.organisation_id == merchant, 0), else_=1),
        case((Order.pickup_point_id.in_(led.scalar_subquery()), 0), else_=1),
    )
    # The oldest collected line of anyone (an overdue refund needs goods received long ago).
    ordering = (
        (Order.picked_up_at.asc(), OrderLine.id)
        if oldest
        else (*preferred, Order.picked_up_at.desc(), OrderLine.id)
    )
    rows = (
        await session.execute(
            select(OrderLine.id, Order)
            .join(Order, Order.id == OrderLine.order_id)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .where(
                Order.picked_up_at.is_not(None),
                OrderLine.picked_qty > OrderLine.returned_qty,
                OrderLine.no_reason_return_excluded.is_(False),
                CampaignItem.return_exclusion.is_(None),
            )
            .order_by(*ordering)
        )
    ).all()
    found: list[_Line] = []
    seen: set[int] = set()
    for line_id, order in rows:
        if order.id in seen:
            continue
        seen.add(order.id)
        owner = await session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == order.organisation_id, Membership.role == "owner")
        )
        point = await session.get(PickupPoint, order.pickup_point_id)
        user = await session.get(User, order.user_id)
        organisation = await session.get(Organisation, order.organisation_id)
        leader = await session.get(User, point.leader_user_id) if point else None
        if owner is None or user is None or organisation is None or leader is None:
            continue
        if order.picked_up_at is None:
            continue
        found.append(_Line(line_id, user, owner, organisation, leader, order.picked_up_at))
        if len(found) >= limit:
            break
    return found


async def seed_returns(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> ReturnFigures:
    rng = random.Random(seed + 3)
    figures = ReturnFigures()
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    now = clock.now()
    async with sessionmaker() as session:
        lines = await _candidates(session, limit=3 * len(STEPS))
        lines += await _candidates(session, limit=1, oldest=True)
    steps = list(STEPS)
    for line in lines:
        if not steps:
            break
        days_ago = (now - line.picked_up_at).days
        # Every step but the overdue one happens within the window (asked a day after pickup);
        # the overdue refund needs goods received back more than 7 days ago.
        step = "overdue" if days_ago >= 9 and "overdue" in steps else None
        if step is None:
            if days_ago > 6:
                continue
            step = next((s for s in steps if s != "overdue"), None)
            if step is None:
                continue
        steps.remove(step)
        # A request still waiting for its answer is asked now (an older one would already be
        # approved automatically); the others a day after pickup.
        a_day_after = min(line.picked_up_at + timedelta(days=1), now)
        asked_at = now if step == "requested" else a_day_after
        with clock.frozen(asked_at):
            async with sessionmaker() as session:
                made = await returns.request_return(
                    session,
                    _actor(line.user),
                    ReturnIn(
                        line_id=line.line_id,
                        quantity=1,
                        reason_code=rng.choice(REASONS),
                        reason_text="买多了，包装未拆" if rng.random() < 0.5 else "",
                    ),
                )
                return_id = made.id
                merchant = _actor(line.owner, line.organisation, "owner")
                if step != "requested":
                    approve = step != "rejected"
                    note = "" if approve else "商品已拆封使用，影响二次销售"
                    await returns.answer(
                        session, merchant, return_id, ReturnAnswerIn(approve=approve, note=note)
                    )
                if step in ("received", "refunded", "overdue"):
                    await returns.receive(
                        session,
                        _actor(line.leader),
                        return_id,
                        ReturnReceiptIn(condition=GoodsCondition.INTACT, note="包装完好"),
                    )
                if step == "refunded":
                    await returns.refund(session, merchant, return_id)
                    figures.refunded += 1
                await session.commit()
            await dispatcher.run_once()
        figures.returns += 1
        figures.overdue += step == "overdue"
    if figures.returns:  # a city without history keeps its events for the worker
        await dispatcher.run_once()  # the overdue refund's deadline job, at the real time
    return figures
