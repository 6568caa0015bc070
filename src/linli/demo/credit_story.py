"""Credit's lists and repair in the demo city, through supervision's and credit's services
(issue 12 "Demo city"):

- a digital-goods shop in Pudong was fined eight months ago for a fictitious original price
  (a penalty, published for three years) and, for the same promotion, ordered to correct its
  price labels, which it did on time; the six months of `credit.repair` have passed, so its
  owner has applied for credit repair, and the request waits for the Pudong supervisor;
- a seafood distributor in Pudong sold fish with a banned veterinary drug: a case opened three
  weeks ago, the inspector's finding, and today the supervisor's serious penalty, which puts
  it on the serious-dishonesty list (严重违法失信名单) through credit's handler of
  `CaseDecided`.

Supervision cannot attach a rectification deadline to a penalty (only an order to rectify
has one), so the rectification is its own case; the penalty's obligation credit checks
(`rectify_by`) is then none, and the fine's payment is stated in the request.

The clock is set back for what happened in the past; the events wait in the outbox with
their times and are delivered at the end, at the real time, so credit's handlers fill the
ledger, the published penalties and the list before the repair is asked and the figures are
read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.credit import repair
from linli.credit.list_models import PublishedPenalty, SeriousListEntry
from linli.credit.repair_models import CreditRequest
from linli.demo.seed import INSPECTOR_PHONE, REGULATOR_PHONE
from linli.outbox import Dispatcher
from linli.supervision import case_service

REPAIRING = "陆家嘴数码城"  # digital goods: repair after 6 months (not a strict category)
LISTED = "周浦海鲜冷链配送"  # fresh food


@dataclass
class CreditStory:
    listed: str = ""
    listed_until: str = ""  # the Shanghai date
    repairing: str = ""
    repair_requests: int = 0


def _actor(user: User, organisation: Organisation, role: str) -> Actor:
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({role}),
    )


async def _member(
    session: AsyncSession, role: str, *, phone: str = "", organisation_id: int | None = None
) -> tuple[User, Organisation]:
    query = (
        select(User, Organisation)
        .join(Membership, Membership.user_id == User.id)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.role == role)
    )
    if phone:
        query = query.where(User.phone.endswith(phone))
    if organisation_id is not None:
        query = query.where(Organisation.id == organisation_id)
    row = (await session.execute(query.order_by(User.id).limit(1))).first()
    assert row is not None, f"no {role} {phone or organisation_id}"
    return row[0], row[1]


async def _merchant(session: AsyncSession, name: str) -> Organisation:
    found = await session.scalar(
        select(Organisation).where(Organisation.kind == "merchant", Organisation.name == name)
    )
    assert found is not None, f"no demo merchant {name}"
    return found


async def _deliver(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await Dispatcher(sessionmaker, batch_size=200).run_once()


async def seed_credit_story(
    sessionmaker: async_sessionmaker[AsyncSession], *, seed: int
) -> CreditStory:
    """The story (`seed` is taken like the other parts' but nothing here is drawn at random:
    the merchants are named, the dates relative to now)."""
    story = CreditStory(listed=LISTED, repairing=REPAIRING)
    now = clock.now()
    async with sessionmaker() as session:
        officer, regulator = await _member(session, "supervisor", phone=REGULATOR_PHONE)
        inspector_user, _ = await _member(session, "inspector", phone=INSPECTOR_PHONE)
        shop = await _merchant(session, REPAIRING)
        distributor = await _merchant(session, LISTED)
        owner, _ = await _member(session, "owner", organisation_id=shop.id)
    supervisor = _actor(officer, regulator, "supervisor")
    inspector = _actor(inspector_user, regulator, "inspector")

    # Eight months ago: the fictitious original price, fined and ordered corrected.
    fined_at = now - timedelta(days=240)
    with clock.frozen(fined_at) as frozen:
        async with sessionmaker() as session, session.begin():
            fined = await case_service.open_case(
                session, supervisor, organisation_id=shop.id, title="以旧换新活动虚构原价"
            )
            await case_service.decide(
                session,
                supervisor,
                fined.id,
                decision="penalty",
                summary="促销中标示的“原价”从未成交，属虚构原价，处罚款人民币三万元。",
                legal_basis="《中华人民共和国价格法》第十四条第（四）项、第四十条；"
                "《明码标价和禁止价格欺诈规定》第十九条",
                penalty_fen=3_000_000,
            )
            corrected = await case_service.open_case(
                session, supervisor, organisation_id=shop.id, title="更正促销价签"
            )
            await case_service.decide(
                session,
                supervisor,
                corrected.id,
                decision="rectify",
                summary="限期十四日更正全部促销价签，撤下虚构原价的宣传。",
                legal_basis="《明码标价和禁止价格欺诈规定》第二十二条",
                rectify_by=fined_at + timedelta(days=14),
            )
        frozen.advance(timedelta(days=9))
        async with sessionmaker() as session, session.begin():
            await case_service.fulfil_rectification(
                session, supervisor, corrected.id, "现场复查：价签已全部更正，宣传页已撤下。"
            )

    # Three weeks ago: the banned drug found in the distributor's fish; decided today.
    with clock.frozen(now - timedelta(days=21)) as frozen:
        async with sessionmaker() as session, session.begin():
            drug = await case_service.open_case(
                session,
                supervisor,
                organisation_id=distributor.id,
                title="销售检出孔雀石绿的鲈鱼",
            )
            assigned = drug.inspector_user_id == inspector_user.id
        frozen.advance(timedelta(days=5))
        async with sessionmaker() as session, session.begin():
            await case_service.add_finding(
                session,
                inspector if assigned else supervisor,
                drug.id,
                kind="finding",
                text="抽检三批次鲈鱼均检出孔雀石绿；进货查验记录缺失，已售出约四百公斤。",
            )
    async with sessionmaker() as session, session.begin():
        await case_service.decide(
            session,
            supervisor,
            drug.id,
            decision="penalty",
            summary="经营含禁用兽药的水产品，情节严重：没收违法所得，处罚款人民币二十万元。",
            legal_basis="《中华人民共和国食品安全法》第三十四条第（一）项、第一百二十三条；"
            "《市场监督管理严重违法失信名单管理办法》第七条",
            penalty_fen=20_000_000,
            serious=True,
        )

    # The events reach credit (the ledger, the published penalties, the list); then the shop's
    # owner asks for the repair of the old penalty, which credit now publishes.
    await _deliver(sessionmaker)
    async with sessionmaker() as session, session.begin():
        penalty = await session.scalar(
            select(PublishedPenalty).where(PublishedPenalty.case_id == fined.id)
        )
        assert penalty is not None, "credit did not publish the demo's penalty"
        await repair.apply_for_repair(
            session,
            _actor(owner, shop, "owner"),
            penalty.id,
            f"罚款已于处罚决定后十日内缴清；价签已按责令整改通知（案件 #{corrected.id}）"
            "如期更正并经复查。申请停止公示该行政处罚信息。",
        )
        entry = await session.scalar(
            select(SeriousListEntry).where(SeriousListEntry.case_id == drug.id)
        )
        assert entry is not None, "credit did not list the demo's serious penalty"
        story.listed_until = entry.listed_until.astimezone(clock.LOCAL).date().isoformat()
        story.repair_requests = len(
            (
                await session.scalars(
                    select(CreditRequest.id).where(CreditRequest.status == "pending")
                )
            ).all()
        )
    await _deliver(sessionmaker)
    return story
