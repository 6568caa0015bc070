"""Supply agreements between a merchant organisation and a group leader (docs/live.md
"Supply agreements"): the merchant offers to supply the live rooms of a leader's pickup point
at a commission rate on its goods; the leader accepts or declines; either ends it.

Every move is one conditional UPDATE scoped in its WHERE to the actor (the merchant's own
organisation, the leader's own agreements) and audited; a row of someone else is 404, as a
missing one. One open agreement (offered or accepted) per merchant and point: a partial unique
index, so two concurrent offers make one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit import service as audit
from linli.authz import LIVE_MANAGE, LIVE_READ, Actor
from linli.community import points
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.live.models import SupplyAgreement
from linli.live.policies import acting_merchant
from linli.live.schemas import AgreementIn

OFFERED, ACCEPTED, DECLINED, ENDED = "offered", "accepted", "declined", "ended"
OPEN = (OFFERED, ACCEPTED)
STATUS_LABELS: dict[str, str] = {
    OFFERED: N_("Offered"),
    ACCEPTED: N_("Accepted"),
    DECLINED: N_("Declined"),
    ENDED: N_("Ended"),
}


def _not_found() -> NotFound:
    return NotFound(N_("No such supply agreement."), code="agreement_not_found")


@dataclass(frozen=True)
class AgreementView:
    agreement: SupplyAgreement
    organisation_name: str
    pickup_point_name: str


async def offer(session: AsyncSession, actor: Actor, data: AgreementIn) -> SupplyAgreement:
    """The merchant offers to supply the live rooms of a pickup point's leader (an open point
    with an active leader, else 404) at `commission_bp` on its goods; 409 while an offer or
    agreement with that point is open."""
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    point = await points.point(session, data.pickup_point_id)
    if point is None or not point.active or point.leader_user_id is None:
        raise NotFound(N_("No such pickup point."), code="point_not_found")
    if await points.point_led_by(session, point.leader_user_id, point.id) is None:
        raise NotFound(N_("No such pickup point."), code="point_not_found")
    row = SupplyAgreement(
        organisation_id=organisation_id,
        pickup_point_id=point.id,
        leader_user_id=point.leader_user_id,
        commission_bp=data.commission_bp,
        status=OFFERED,
        note=data.note,
        offered_by_user_id=actor.require_user_id(),
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            N_("An offer or agreement with this pickup point is open already."),
            code="agreement_exists",
        ) from None
    audit.record(
        session,
        actor,
        "live.agreement_offered",
        target_type="live_supply_agreement",
        target_id=row.id,
        pickup_point_id=point.id,
        leader_user_id=point.leader_user_id,
        commission_bp=data.commission_bp,
    )
    return row


async def _answer(session: AsyncSession, actor: Actor, agreement_id: int, to: str) -> None:
    user_id = actor.require_user_id()
    moved = await session.scalar(
        update(SupplyAgreement)
        .where(
            SupplyAgreement.id == agreement_id,
            SupplyAgreement.leader_user_id == user_id,
            SupplyAgreement.status == OFFERED,
        )
        .values(status=to, answered_at=clock.now())
        .returning(SupplyAgreement.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        await _leaders_own(session, user_id, agreement_id)  # 404 for anyone else's
        raise Conflict(N_("This offer was answered or ended already."), code="not_offered")
    audit.record(
        session,
        actor,
        f"live.agreement_{to}",
        target_type="live_supply_agreement",
        target_id=agreement_id,
    )


async def accept(session: AsyncSession, actor: Actor, agreement_id: int) -> SupplyAgreement:
    """The leader accepts an offer made to them (`offered -> accepted`, once)."""
    await _answer(session, actor, agreement_id, ACCEPTED)
    return await _leaders_own(session, actor.require_user_id(), agreement_id)


async def decline(session: AsyncSession, actor: Actor, agreement_id: int) -> SupplyAgreement:
    """The leader declines an offer made to them (`offered -> declined`, once)."""
    await _answer(session, actor, agreement_id, DECLINED)
    return await _leaders_own(session, actor.require_user_id(), agreement_id)


async def _end(
    session: AsyncSession, actor: Actor, condition: Any, agreement_id: int, by: str
) -> bool:
    moved = await session.scalar(
        update(SupplyAgreement)
        .where(condition, SupplyAgreement.id == agreement_id, SupplyAgreement.status.in_(OPEN))
        .values(status=ENDED, ended_at=clock.now(), ended_by=by)
        .returning(SupplyAgreement.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    audit.record(
        session,
        actor,
        "live.agreement_ended",
        target_type="live_supply_agreement",
        target_id=agreement_id,
        ended_by=by,
    )
    return True


def _ended_already() -> Conflict:
    return Conflict(N_("This agreement was ended or declined already."), code="not_open")


async def end_by_merchant(
    session: AsyncSession, actor: Actor, agreement_id: int
) -> SupplyAgreement:
    """The merchant ends its offer or agreement (`offered | accepted -> ended`, once)."""
    organisation_id = acting_merchant(actor, LIVE_MANAGE)
    condition = SupplyAgreement.organisation_id == organisation_id
    ended = await _end(session, actor, condition, agreement_id, "merchant")
    row = await _merchants_own(session, organisation_id, agreement_id)
    if not ended:
        raise _ended_already()
    return row


async def end_by_leader(session: AsyncSession, actor: Actor, agreement_id: int) -> SupplyAgreement:
    """The leader ends an agreement made with them (`offered | accepted -> ended`, once)."""
    user_id = actor.require_user_id()
    condition = SupplyAgreement.leader_user_id == user_id
    ended = await _end(session, actor, condition, agreement_id, "leader")
    row = await _leaders_own(session, user_id, agreement_id)
    if not ended:
        raise _ended_already()
    return row


async def _merchants_own(
    session: AsyncSession, organisation_id: int, agreement_id: int
) -> SupplyAgreement:
    row = await session.scalar(
        select(SupplyAgreement)
        .where(
            SupplyAgreement.id == agreement_id,
            SupplyAgreement.organisation_id == organisation_id,
        )
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise _not_found()
    return row


async def _leaders_own(session: AsyncSession, user_id: int, agreement_id: int) -> SupplyAgreement:
    row = await session.scalar(
        select(SupplyAgreement)
        .where(SupplyAgreement.id == agreement_id, SupplyAgreement.leader_user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise _not_found()
    return row


# --- reading --------------------------------------------------------------------------------


async def _views(
    session: AsyncSession, condition: Any, agreement_id: int | None = None
) -> list[AgreementView]:
    query = (
        select(
            SupplyAgreement,
            Organisation.name,
            points.name_of_point(SupplyAgreement.pickup_point_id),
        )
        .join(Organisation, Organisation.id == SupplyAgreement.organisation_id)
        .where(condition)
        .order_by(SupplyAgreement.id.desc())
        .limit(200)
        .execution_options(populate_existing=True)
    )
    if agreement_id is not None:
        query = query.where(SupplyAgreement.id == agreement_id)
    rows = (await session.execute(query)).all()
    return [AgreementView(row, str(name), str(point or "")) for row, name, point in rows]


async def merchant_agreements(session: AsyncSession, actor: Actor) -> Sequence[AgreementView]:
    """The organisation's offers and agreements, newest first."""
    organisation_id = acting_merchant(actor, LIVE_READ)
    return await _views(session, SupplyAgreement.organisation_id == organisation_id)


async def merchant_agreement(
    session: AsyncSession, actor: Actor, agreement_id: int
) -> AgreementView:
    organisation_id = acting_merchant(actor, LIVE_READ)
    views = await _views(session, SupplyAgreement.organisation_id == organisation_id, agreement_id)
    if not views:
        raise _not_found()
    return views[0]


async def leader_agreements(session: AsyncSession, actor: Actor) -> Sequence[AgreementView]:
    """The offers and agreements made to the actor as a leader, newest first."""
    return await _views(session, SupplyAgreement.leader_user_id == actor.require_user_id())


async def leader_agreement(session: AsyncSession, actor: Actor, agreement_id: int) -> AgreementView:
    views = await _views(
        session, SupplyAgreement.leader_user_id == actor.require_user_id(), agreement_id
    )
    if not views:
        raise _not_found()
    return views[0]
