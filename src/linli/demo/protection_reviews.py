"""Reviews in the demo city (docs/protection-reviews.md): about half the collected order lines
reviewed through the service (ratings mostly good, some poor), merchants replying to some, and
one review hidden by the platform for a legal reason, so every state is on show."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.groupbuy.models import Order, OrderLine
from linli.protection import reviews
from linli.protection.review_models import HideReason

PRAISE = ("很新鲜，家里人都说好吃。", "分量足，下次还买。", "包装很好，团长也很热心。", "")
COMPLAINTS = ("有几个坏了，希望商家注意。", "和图片有些差距。")
REPLIES = ("感谢您的支持，欢迎再来！", "抱歉给您带来不便，我们已改进分拣。")


@dataclass
class ReviewFigures:
    reviews: int = 0
    replies: int = 0
    hidden: int = 0


def _actor(user: User, organisation: Organisation | None = None, role: str = "") -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=frozenset({role}) if role else frozenset(),
    )


async def _owner(session: AsyncSession, organisation_id: int) -> Actor:
    owner, organisation = (
        await session.execute(
            select(User, Organisation)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(Organisation.id == organisation_id, Membership.role == "owner")
            .limit(1)
        )
    ).one()
    return _actor(owner, organisation, "owner")


async def seed_reviews(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> ReviewFigures:
    rng = random.Random(seed + 11)
    figures = ReviewFigures()
    async with sessionmaker() as session:
        collected = (
            await session.execute(
                select(OrderLine.id, User, Order.organisation_id)
                .join(Order, Order.id == OrderLine.order_id)
                .join(User, User.id == Order.user_id)
                .where(OrderLine.picked_qty > 0)
                .order_by(OrderLine.id)
            )
        ).all()
        admin, platform = (
            await session.execute(
                select(User, Organisation)
                .join(Membership, Membership.user_id == User.id)
                .join(Organisation, Organisation.id == Membership.organisation_id)
                .where(Organisation.kind == "platform")
                .limit(1)
            )
        ).one()
        operator = _actor(admin, platform, "admin")
        owners: dict[int, Actor] = {}
        posted = []
        for line_id, user, organisation_id in collected:
            if rng.random() < 0.5:
                continue  # left for the resident to review ("Review this" on the order)
            good = rng.random() < 0.8
            row = await reviews.post_review(
                session,
                _actor(user),
                reviews.ReviewInput(
                    line_id=line_id,
                    rating=rng.choice((4, 5, 5)) if good else rng.choice((1, 2, 3)),
                    text=rng.choice(PRAISE if good else COMPLAINTS),
                ),
            )
            posted.append(row)
            figures.reviews += 1
            if rng.random() < 0.4:
                if organisation_id not in owners:
                    owners[organisation_id] = await _owner(session, organisation_id)
                await reviews.reply(
                    session, owners[organisation_id], row.id, REPLIES[0 if good else 1]
                )
                figures.replies += 1
        if posted:
            await reviews.hide(
                session,
                operator,
                posted[0].id,
                HideReason.PERSONAL_DATA,
                "评价中写出了团长的手机号码",
            )
            figures.hidden += 1
        await session.commit()  # their events wait for the dispatcher, as the city's do
    return figures
