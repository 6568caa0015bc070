"""Quality claims in the demo city, in every state, through the services (after the returns,
on collected lines neither returned nor claimed): waiting for the merchant, rejected by the
merchant, escalated because the merchant did not decide in time, taken to the platform by
the resident, upheld and refunded in full, upheld in part by the platform, and rejected by
the platform. Each with a photo, stored like every upload."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.config import Settings
from linli.demo.images import product_image
from linli.demo.seed import RESIDENT_PHONE
from linli.errors import DomainError
from linli.files import service as files
from linli.groupbuy.models import Order, OrderLine
from linli.outbox import Dispatcher
from linli.protection import claims
from linli.protection.claim_models import ClaimReason
from linli.protection.claim_schemas import ClaimDecisionIn, ClaimEscalationIn, ClaimIn

# The order matters: a claim still waiting for the merchant is filed now, the others need
# time behind them (the merchant's 24 hours for the one escalated by the clock).
STEPS = ("filed", "rejected", "upheld", "timeout", "escalated", "partly", "closed")
DESCRIPTIONS = (
    "叶子发黄，有两棵已经烂了",
    "拆开后发现有霉点",
    "包装破损，里面的东西压坏了",
    "闻起来有异味，不新鲜",
)


@dataclass
class ClaimFigures:
    claims: int = 0
    refunded: int = 0
    escalated: int = 0


@dataclass(frozen=True)
class _Line:
    line_id: int
    user: User
    owner: User
    organisation: Organisation
    picked_up_at: datetime


def _actor(user: User, organisation: Organisation | None = None, role: str = "") -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation) if organisation else None,
        roles=frozenset({role}) if role else frozenset(),
    )


async def _candidates(
    session: AsyncSession, limit: int, *, before: datetime | None = None
) -> list[_Line]:
    """Collected lines with units neither returned nor claimed, one per order, the demo
    resident's first, the most recent first (picked up before `before`, when given)."""
    resident = await session.scalar(select(User.id).where(User.phone.endswith(RESIDENT_PHONE)))
    rows = (
        await session.execute(
            select(OrderLine.id, Order)
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.picked_up_at.is_not(None),
                OrderLine.picked_qty > OrderLine.returned_qty + OrderLine.claimed_qty,
                OrderLine.refunded_fen < OrderLine.amount_fen,
                Order.picked_up_at <= (before or clock.now()),
            )
            .order_by(
                case((Order.user_id == resident, 0), else_=1),
                Order.picked_up_at.desc(),
                OrderLine.id,
            )
        )
    ).all()
    found: list[_Line] = []
    seen: set[int] = set()
    for line_id, order in rows:
        if order.id in seen or order.picked_up_at is None:
            continue
        seen.add(order.id)
        owner = await session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == order.organisation_id, Membership.role == "owner")
        )
        user = await session.get(User, order.user_id)
        organisation = await session.get(Organisation, order.organisation_id)
        if owner is None or user is None or organisation is None:
            continue
        found.append(_Line(line_id, user, owner, organisation, order.picked_up_at))
        if len(found) >= limit:
            break
    return found


async def _platform_operator(session: AsyncSession) -> tuple[User, Organisation] | None:
    row = (
        await session.execute(
            select(User, Organisation)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(Organisation.kind == "platform")
            .order_by(Membership.id)
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def seed_claims(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, seed: int
) -> ClaimFigures:
    rng = random.Random(seed + 5)
    figures = ClaimFigures()
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    file_store = files.FileStore(settings.var_dir / "files")
    now = clock.now()
    async with sessionmaker() as session:
        # The waiting claim on a recent pickup; the others on pickups older than the
        # merchant's 24 hours (and an hour to file in), within the defect window.
        lines = await _candidates(session, limit=3)
        lines += await _candidates(session, limit=4 * len(STEPS), before=now - timedelta(hours=26))
        found = await _platform_operator(session)
    if found is None:
        return figures
    operator = _actor(found[0], found[1], "operator")
    steps = list(STEPS)
    for line in lines:
        if not steps:
            break
        # Filed an hour after pickup (a waiting claim: now); a defect claim's window is the
        # rule's days, so only recent pickups qualify.
        filed_at = now if steps[0] == "filed" else line.picked_up_at + timedelta(hours=1)
        if filed_at + timedelta(hours=25) > now and steps[0] != "filed":
            continue
        if now - line.picked_up_at > timedelta(days=14):
            continue
        step = steps.pop(0)
        resident = _actor(line.user)
        merchant = _actor(line.owner, line.organisation, "owner")
        try:
            with clock.frozen(filed_at):
                async with sessionmaker() as session:
                    photo = await claims.add_photo(
                        session,
                        resident,
                        file_store,
                        line.line_id,
                        product_image(f"claim-{line.line_id}", "fresh_food", size=320),
                        filename="photo.png",
                    )
                    made = await claims.file_claim(
                        session,
                        resident,
                        ClaimIn(
                            line_id=line.line_id,
                            quantity=1,
                            reason_code=ClaimReason.DEFECTIVE,
                            description=rng.choice(DESCRIPTIONS),
                            photo_file_ids=[photo],
                        ),
                    )
                    claim_id, asked = made.id, made.requested_fen
                    await session.commit()
                await dispatcher.run_once()
            with clock.frozen(filed_at + timedelta(hours=2)):
                async with sessionmaker() as session:
                    if step == "upheld":
                        await claims.decide(
                            session, merchant, claim_id, ClaimDecisionIn(uphold=True)
                        )
                        figures.refunded += 1
                    elif step in ("rejected", "escalated", "closed", "partly"):
                        note = "照片看不出质量问题" if step != "closed" else "已按规定配送"
                        await claims.decide(
                            session, merchant, claim_id, ClaimDecisionIn(uphold=False, note=note)
                        )
                    if step in ("escalated", "closed", "partly"):
                        await claims.escalate(
                            session, resident, claim_id, ClaimEscalationIn(note="确实坏了")
                        )
                        figures.escalated += 1
                    if step == "partly":
                        await claims.decide_escalated(
                            session,
                            operator,
                            claim_id,
                            ClaimDecisionIn(
                                uphold=True, amount_fen=max(1, asked // 2), note="部分支持"
                            ),
                        )
                        figures.refunded += 1
                    if step == "closed":
                        await claims.decide_escalated(
                            session,
                            operator,
                            claim_id,
                            ClaimDecisionIn(uphold=False, note="证据不足"),
                        )
                    await session.commit()
                await dispatcher.run_once()
        except DomainError:
            steps.insert(0, step)  # this line cannot take it (e.g. nothing left): the next
            continue
        figures.claims += 1
        figures.escalated += step == "timeout"
    if figures.claims:
        await dispatcher.run_once()  # the merchant's 24 hours, at the real time: escalates
    return figures
