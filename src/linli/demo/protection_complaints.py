"""Complaints in the demo city, played through the real services after the group-buying
history: one in every status and outcome, about the demo resident's orders (or, when the
resident bought too little, other residents'), including a platform decision the complainant
took to the Pudong regulator and a mediation that ended in an agreement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor
from linli.demo.history import _actor
from linli.demo.seed import ADMIN_PHONE, REGION, REGULATOR_PHONE, RESIDENT_PHONE
from linli.errors import DomainError
from linli.groupbuy import lines
from linli.groupbuy.models import Order
from linli.protection import complaints
from linli.protection.complaint_models import Complaint, ComplaintTarget, Decider, Outcome

TEXTS = (
    "收到的草莓有一半压烂发霉，联系商家两天没有回复。",
    "团长没有按约定时间开门，白跑两趟，态度很差。",
    "大米包装上的生产日期被涂改过，怀疑是过期商品。",
    "订单显示已取货，但我并没有拿到这批货。",
    "鸡蛋碎了五个，商家只愿意退一个的钱。",
    "商品实物与宣传图片严重不符，分量明显不足。",
    "已经申请退款一周，商家一直显示处理中。",
    "冷冻水饺收到时已经化冻又重新冻上了。",
)


@dataclass
class ComplaintFigures:
    complaints: int = 0
    escalated: int = 0


async def _user(session: AsyncSession, phone: str) -> User | None:
    return await session.scalar(select(User).where(User.phone.endswith(phone[-8:])))


async def _member(session: AsyncSession, phone: str) -> Actor | None:
    user = await _user(session, phone)
    if user is None:
        return None
    row = (
        await session.execute(
            select(Organisation, Membership.role)
            .join(Membership, Membership.organisation_id == Organisation.id)
            .where(Membership.user_id == user.id)
        )
    ).first()
    return _actor(user, row[0], row[1]) if row else None


async def _owner_of(session: AsyncSession, organisation_id: int) -> Actor | None:
    row = (
        await session.execute(
            select(User, Organisation)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(Organisation.id == organisation_id, Membership.role == "owner")
        )
    ).first()
    return _actor(row[0], row[1], "owner") if row else None


async def seed_complaints(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> ComplaintFigures:
    figures = ComplaintFigures()
    async with sessionmaker() as session:
        regulator = await _member(session, REGULATOR_PHONE)
        operator = await _member(session, ADMIN_PHONE)
        resident = await _user(session, RESIDENT_PHONE)
        if regulator is None or operator is None or resident is None:
            return figures
        # Orders from merchants in the regulator's district, the demo resident's first.
        orders = list(
            await session.scalars(
                select(Order)
                .join(Organisation, Organisation.id == Order.organisation_id)
                .where(Organisation.district_code == REGION[2])
                .order_by((Order.user_id != resident.id), Order.id)
                .limit(len(TEXTS))
            )
        )
        complainants: dict[int, Actor] = {}
        for order in orders:
            user = await session.get(User, order.user_id)
            assert user is not None
            complainants[order.id] = _actor(user)
        if not orders:
            return figures
        plan = [(orders[i % len(orders)], i) for i in range(len(TEXTS))]

    async def run(step: Callable[[AsyncSession], Awaitable[object]]) -> object | None:
        async with sessionmaker() as session:
            try:
                done = await step(session)
            except DomainError:
                await session.rollback()
                return None
            await session.commit()
            return done

    targets = (
        ComplaintTarget.PRODUCT,
        ComplaintTarget.MERCHANT,
        ComplaintTarget.LEADER,
        ComplaintTarget.ORDER,
    )
    for (order, index), text in zip(plan, TEXTS, strict=True):
        who = complainants[order.id]
        # The stories, by index: 0 filed with the regulator; 1 accepted; 2 in mediation with
        # the merchant's answer; 3 mediated; 4 refused by the platform; 5 refused by the
        # platform and taken to the regulator; 6 withdrawn; 7 upheld by the platform.
        to = Decider.PLATFORM if index in (4, 5, 7) else Decider.REGULATOR
        target = targets[(index + seed) % len(targets)]
        row = await run(
            partial(_file, actor=who, order_id=order.id, target=target, text=text, to=to)
        )
        if not isinstance(row, Complaint):
            continue  # e.g. no leader at the point: the story is left out
        complaint_id = row.id
        figures.complaints += 1
        decider = regulator if to == Decider.REGULATOR else operator
        if index in (1, 2, 3, 7):
            await run(partial(complaints.accept, actor=decider, complaint_id=complaint_id))
        if index in (2, 3):
            await run(partial(complaints.start_mediation, actor=decider, complaint_id=complaint_id))
        if index == 2:
            await run(
                partial(
                    _merchant_answers,
                    complaint_id=complaint_id,
                    organisation_id=order.organisation_id,
                )
            )
        if index == 3:
            agreement = "商家退还全款并赠送一份同款商品。"
            await run(
                partial(
                    complaints.resolve,
                    outcome=Outcome.MEDIATED,
                    text=agreement,
                    actor=decider,
                    complaint_id=complaint_id,
                )
            )
        if index in (4, 5):
            reason = "现有材料不足以认定商家违约，请补充照片。"
            await run(
                partial(complaints.refuse, reason=reason, actor=decider, complaint_id=complaint_id)
            )
        if index == 5:
            reason = "照片已补充，平台仍不处理。"
            if (
                await run(
                    partial(
                        complaints.escalate, reason=reason, actor=who, complaint_id=complaint_id
                    )
                )
                is not None
            ):
                figures.escalated += 1
        if index == 6:
            await run(
                partial(
                    complaints.withdraw,
                    reason="商家已经退款。",
                    actor=who,
                    complaint_id=complaint_id,
                )
            )
        if index == 7:
            await run(
                partial(
                    complaints.resolve,
                    outcome=Outcome.UPHELD,
                    text="商家补发商品。",
                    actor=decider,
                    complaint_id=complaint_id,
                )
            )
    return figures


async def _merchant_answers(
    session: AsyncSession, *, complaint_id: int, organisation_id: int
) -> None:
    """The complained-about merchant's owner answers on the timeline."""
    merchant = await _owner_of(session, organisation_id)
    if merchant is not None:
        await complaints.add_message(
            session, merchant, complaint_id, "已联系顾客，愿意补发或全额退款。"
        )


async def _file(
    session: AsyncSession,
    *,
    actor: Actor,
    order_id: int,
    target: ComplaintTarget,
    text: str,
    to: Decider,
) -> Complaint:
    bought = await lines.order_of_resident(session, actor.require_user_id(), order_id)
    line_id = bought.lines[0].line_id if bought and bought.lines else None
    if target == ComplaintTarget.PRODUCT and line_id is None:
        target = ComplaintTarget.ORDER
    return await complaints.file_complaint(
        session,
        actor,
        complaints.FileInput(order_id=order_id, target=target, text=text, to=to, line_id=line_id),
    )
