"""Traceability in the demo city, played through the real services: lots of chilled and
frozen products with their journeys as EPCIS events (produced, inspected, loaded, shipped,
transported with temperature readings, received, stored, arrived at a pickup point), pork
made into dumplings packed on a pallet, one cold-chain excursion that put a frozen lot on
hold (left for its merchant to decide), and a recall in progress of a pork lot residents
have bought and paid for (they are told and refunded).

It runs on the real clock after the group-buying history; journey events carry explicit
past event times, and each lot is created with the clock set to when it was produced, so
its commissioning event tells the truth."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor
from linli.catalog.models import Product, Sku
from linli.config import Settings
from linli.demo.history import (
    LOCAL,
    HistoryFigures,
    Neighbourhood,
    _actor,
    _neighbourhoods,
    _order_and_pay,
)
from linli.groupbuy import campaigns
from linli.groupbuy.models import PAID, CampaignItem, Order
from linli.groupbuy.schemas import CampaignIn, CampaignItemIn, OrderLineIn
from linli.outbox import Dispatcher
from linli.trace import batches, devices, generated, identifiers, recall, safety
from linli.trace.models import TraceBatch
from linli.trace.safety_models import REFUND_FULL, TraceExcursion, TraceRecallLine
from linli.trace.schemas import BatchIn

READING_EVERY = timedelta(minutes=5)  # coldchain.storage_classes: reading_interval_minutes
TRANSPORT = timedelta(hours=4)
LABORATORIES = ("谱尼测试集团上海有限公司", "上海市食品药品检验研究院", "华测检测认证集团")
RECALL_REASON = "市场监管部门抽检发现该批次恩诺沙星残留超标，二级召回，请勿食用，全额退款。"


@dataclass(frozen=True)
class Candidate:
    """A listed chilled or frozen product of a merchant, with its best-stocked SKU."""

    product_id: int
    name: str
    storage_class: str
    origin: str
    shelf_life_days: int | None
    sku_id: int
    price_fen: int
    stock: int
    organisation_id: int
    owner: Actor


@dataclass
class TraceFigures:
    batches: int = 0
    journeys: int = 0
    readings: int = 0
    excursions: int = 0
    held_batch: str | None = None  # public code of the batch on hold
    recalls: int = 0
    recalled_batch: str | None = None
    recall_batches: int = 0  # named and downstream
    buyers_notified: int = 0
    refunded_fen: int = 0
    orders: int = 0


async def seed_traceability(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, seed: int
) -> TraceFigures:
    rng = random.Random(seed + 2)
    figures = TraceFigures()
    async with sessionmaker() as session:
        candidates = await _candidates(session)
        places = await _neighbourhoods(session)
    if not candidates or len(places) < 2:
        return figures
    pork = _first(candidates, "chilled", "猪", min_stock=30) or _first(
        candidates, "chilled", "", min_stock=30
    )
    if pork is None:
        return figures
    dumplings = _first(candidates, "frozen", "饺")
    others = _others(candidates, [c for c in (pork, dumplings) if c is not None], rng)
    now = clock.now()
    point_ids = [p.point_id for p in places]

    # The pork lot sold today: produced 30 hours ago, now in the merchant's cold store.
    produced = now - timedelta(hours=30)
    pork_id = await _lot(
        sessionmaker, pork, produced, produced + timedelta(hours=4), rng, figures, point_id=None
    )
    if dumplings is not None:
        made = produced + timedelta(hours=14)
        await _made_from(
            sessionmaker, dumplings, pork_id, made, rng, figures, rng.choice(point_ids)
        )
    frozen = [c for c in others if c.storage_class == "frozen"]
    spoilt = rng.choice(frozen) if frozen else None
    for candidate in others:
        if candidate.storage_class == "frozen":
            produced = _at(now - timedelta(days=rng.randint(12, 60)), 9)
            start = now - timedelta(hours=rng.randint(30, 38))
        else:
            produced = now - timedelta(hours=rng.randint(40, 46))
            start = produced + timedelta(hours=rng.randint(5, 7))
        await _lot(
            sessionmaker,
            candidate,
            produced,
            start,
            rng,
            figures,
            point_id=None if candidate is spoilt else rng.choice(point_ids),
            excursion=candidate is spoilt,
        )
    await _sell_and_recall(sessionmaker, settings, pork, pork_id, places, rng, figures)
    return figures


# --- choosing products -----------------------------------------------------------------------


async def _candidates(session: AsyncSession) -> list[Candidate]:
    best = (
        select(Sku.product_id, func.max(Sku.stock).label("stock"))
        .group_by(Sku.product_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Product, Sku, Organisation, User)
            .join(best, best.c.product_id == Product.id)
            .join(Sku, (Sku.product_id == Product.id) & (Sku.stock == best.c.stock))
            .join(Organisation, Organisation.id == Product.organisation_id)
            .join(Membership, Membership.organisation_id == Organisation.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Product.status == "listed",
                Product.storage_class.in_(("chilled", "frozen")),
                Organisation.kind == "merchant",
                Membership.role == "owner",
            )
            .order_by(Product.id, Sku.id)
        )
    ).all()
    found: dict[int, Candidate] = {}
    for product, sku, organisation, owner in rows:
        if product.id in found:
            continue
        found[product.id] = Candidate(
            product.id,
            product.name,
            product.storage_class,
            product.origin,
            product.shelf_life_days,
            sku.id,
            sku.price_fen,
            sku.stock,
            organisation.id,
            _actor(owner, organisation, "owner"),
        )
    return list(found.values())


def _first(
    candidates: Sequence[Candidate], storage: str, word: str, *, min_stock: int = 0
) -> Candidate | None:
    return next(
        (
            c
            for c in candidates
            if c.storage_class == storage and word in c.name and c.stock >= min_stock
        ),
        None,
    )


def _others(
    candidates: Sequence[Candidate], taken: Sequence[Candidate], rng: random.Random
) -> list[Candidate]:
    """Two more products of each merchant already chosen and of two more merchants; at least
    one of them frozen (for the excursion)."""
    left = [c for c in candidates if c not in taken]
    chosen_orgs = sorted({c.organisation_id for c in taken})
    more = sorted({c.organisation_id for c in left} - set(chosen_orgs))
    chosen_orgs += sorted(rng.sample(more, min(2, len(more))))
    picked: list[Candidate] = []
    for organisation_id in chosen_orgs:
        mine = [c for c in left if c.organisation_id == organisation_id]
        picked += rng.sample(mine, min(2, len(mine)))
    if not any(c.storage_class == "frozen" for c in picked):
        frozen = [c for c in left if c.storage_class == "frozen"]
        if frozen:
            picked.append(rng.choice(frozen))
    return picked


# --- lots and journeys -----------------------------------------------------------------------


def _at(moment: datetime, hour: int) -> datetime:
    return datetime.combine(moment.astimezone(LOCAL).date(), time(hour), LOCAL).astimezone(UTC)


def _producer(candidate: Candidate) -> str:
    name = candidate.name
    if any(w in name for w in ("猪", "牛", "羊", "鸡")):
        kind = "肉类食品加工厂"
    elif any(w in name for w in ("虾", "鱼", "参", "蟹", "蚝", "鳗")):
        kind = "水产冷冻加工厂"
    elif any(w in name for w in ("奶", "乳")):
        kind = "乳业有限公司"
    elif any(w in name for w in ("饺", "速冻")):
        kind = "速冻食品有限公司"
    else:
        kind = "农业专业合作社"
    return f"{candidate.origin or '上海'}{kind}"[:120]


def _tested(candidate: Candidate) -> list[str]:
    name = candidate.name
    if any(w in name for w in ("猪", "牛", "羊", "鸡")):
        return ["瘦肉精（盐酸克伦特罗）", "兽药残留（恩诺沙星）", "挥发性盐基氮"]
    if any(w in name for w in ("虾", "鱼", "参", "蟹", "蚝", "鳗")):
        return ["甲醛", "重金属（镉、铅）", "菌落总数"]
    if any(w in name for w in ("奶", "乳")):
        return ["蛋白质", "菌落总数", "大肠菌群"]
    if "饺" in name:
        return ["菌落总数", "大肠菌群", "过氧化值"]
    return ["农药残留（有机磷类）", "重金属（铅）"]


def _batch_in(candidate: Candidate, produced: datetime, n: int) -> BatchIn:
    day = produced.astimezone(LOCAL).date()
    keeps = candidate.shelf_life_days or 7
    return BatchIn(
        sku_id=candidate.sku_id,
        lot=f"{'F' if candidate.storage_class == 'frozen' else 'C'}{day:%y%m%d}{n:04d}",
        production_date=day,
        expiry_date=day + timedelta(days=keeps),
        origin=candidate.origin,
        producer=_producer(candidate),
    )


async def _create(
    session: AsyncSession, candidate: Candidate, produced: datetime, figures: TraceFigures
) -> TraceBatch:
    """The lot, created as its merchant would, with the clock at its production."""
    figures.batches += 1
    data = _batch_in(candidate, produced, candidate.organisation_id * 100 + figures.batches)
    with clock.frozen(produced):
        return await batches.create_batch(session, candidate.owner, data)


async def _lot(
    sessionmaker: async_sessionmaker[AsyncSession],
    candidate: Candidate,
    produced: datetime,
    start: datetime,
    rng: random.Random,
    figures: TraceFigures,
    *,
    point_id: int | None,
    excursion: bool = False,
) -> int:
    async with sessionmaker() as session, session.begin():
        batch = await _create(session, candidate, produced, figures)
        await _journey(
            session, candidate, batch, start, rng, figures, point_id=point_id, excursion=excursion
        )
        return batch.id


async def _made_from(
    sessionmaker: async_sessionmaker[AsyncSession],
    candidate: Candidate,
    source_id: int,
    made: datetime,
    rng: random.Random,
    figures: TraceFigures,
    point_id: int,
) -> None:
    """A lot made from another (TransformationEvent), its cases packed on a pallet
    (AggregationEvent), then sent on its journey."""
    async with sessionmaker() as session, session.begin():
        source = await session.get(TraceBatch, source_id)
        assert source is not None
        batch = await _create(session, candidate, made, figures)
        kitchen = f"urn:linli:kitchen:{candidate.organisation_id}"
        await generated.record_event(
            session,
            batch.organisation_id,
            {
                "type": "TransformationEvent",
                "eventTime": made.isoformat(),
                "eventTimeZoneOffset": "+08:00",
                "inputQuantityList": [
                    {"epcClass": identifiers.batch_class(source), "quantity": 120, "uom": "KGM"}
                ],
                "outputQuantityList": [
                    {"epcClass": identifiers.batch_class(batch), "quantity": 300, "uom": "KGM"}
                ],
                "bizStep": "creating_class_instance",
                "disposition": "active",
                "readPoint": {"id": kitchen},
                "bizLocation": {"id": kitchen},
            },
            batches=[source, batch],
        )
        packed = made + timedelta(hours=2)
        await generated.record_event(
            session,
            batch.organisation_id,
            {
                "type": "AggregationEvent",
                "eventTime": packed.isoformat(),
                "eventTimeZoneOffset": "+08:00",
                "parentID": f"urn:epc:id:sscc:6970000.{rng.randrange(10**10):010d}",
                "childEPCs": [],
                "childQuantityList": [{"epcClass": identifiers.batch_class(batch), "quantity": 40}],
                "action": "ADD",
                "bizStep": "packing",
                "disposition": "in_progress",
                "readPoint": {"id": kitchen},
            },
            batches=[batch],
        )
        await _journey(
            session,
            candidate,
            batch,
            packed + timedelta(minutes=30),
            rng,
            figures,
            point_id=point_id,
            inspected=made + timedelta(hours=1),
        )


async def _journey(
    session: AsyncSession,
    candidate: Candidate,
    batch: TraceBatch,
    start: datetime,
    rng: random.Random,
    figures: TraceFigures,
    *,
    point_id: int | None,
    excursion: bool = False,
    inspected: datetime | None = None,
) -> None:
    """Inspected, loaded, shipped, transported (readings every 5 minutes), received and
    stored by the merchant, then arrived at a pickup point (when `point_id` is given)."""
    owner = candidate.owner
    produced = batch.created_at
    await safety.record_inspection(
        session,
        owner,
        batch.id,
        safety.InspectionInput(
            laboratory=rng.choice(LABORATORIES),
            items_tested=_tested(candidate),
            results="所检项目均符合食品安全国家标准（GB 2762、GB 2763、GB 31650）。",
            passed=True,
            inspected_at=inspected or min(produced + timedelta(hours=2), start),
        ),
    )
    site = f"urn:linli:producer:{candidate.organisation_id}-{candidate.product_id}"
    store = f"urn:linli:cold-store:{candidate.organisation_id}"
    vehicle = f"urn:linli:vehicle:HU{rng.choice('ABDEF')}{rng.randrange(10**5):05d}"
    steps: list[tuple[str, timedelta, str, str]] = [
        ("loading", timedelta(0), "in_progress", site),
        ("shipping", timedelta(minutes=20), "in_transit", site),
        ("transporting", timedelta(minutes=30), "in_transit", vehicle),
    ]
    for step, offset, disposition, place in steps:
        await _event(session, batch, step, start + offset, disposition, place)
    departed = start + timedelta(minutes=30)
    count = await _readings(session, candidate, batch, departed, rng, excursion=excursion)
    figures.readings += count
    arrived = departed + TRANSPORT + timedelta(minutes=10)
    await _event(session, batch, "receiving", arrived, "in_progress", store)
    await _event(
        session, batch, "storing", arrived + timedelta(minutes=25), "sellable_not_accessible", store
    )
    if point_id is not None and not excursion:
        await _event(
            session,
            batch,
            "arriving",
            min(arrived + timedelta(hours=rng.randint(14, 18)), clock.now() - timedelta(hours=1)),
            "sellable_accessible",
            f"urn:linli:pickup-point:{point_id}",
        )
    figures.journeys += 1
    if excursion:
        await session.refresh(batch)
        figures.held_batch = batch.code if batch.status == "on_hold" else figures.held_batch


async def _event(
    session: AsyncSession,
    batch: TraceBatch,
    step: str,
    when: datetime,
    disposition: str,
    place: str,
) -> None:
    extra: dict[str, Any] = {"bizLocation": {"id": place}} if "vehicle" not in place else {}
    await generated.record_event(
        session,
        batch.organisation_id,
        generated.object_event(
            batch,
            biz_step=step,
            when=when,
            disposition=disposition,
            read_point=place,
            extra=extra,
        ),
        batches=[batch],
    )


async def _register_logger(session: AsyncSession, owner: Actor, sensor: str) -> None:
    """The truck's logger is one of the merchant's registered devices (its devices page lists
    it; over MQTT only registered devices are heard)."""
    if await devices.active_device(session, sensor) is None:
        await devices.register_device(
            session,
            owner,
            devices.DeviceInput(device_id=sensor, model="ColdTrack T-200", name="冷链车温度记录仪"),
        )


async def _readings(
    session: AsyncSession,
    candidate: Candidate,
    batch: TraceBatch,
    departed: datetime,
    rng: random.Random,
    *,
    excursion: bool,
) -> int:
    """The truck's logger, sent as `POST /api/v1/trace/readings` would: a frozen lot keeps
    -22..-18.5 °C, a chilled one 1..7 °C. The excursion: the compressor fails for 35 minutes
    and the load warms to about -12 °C (over -18 °C + 3 °C tolerance for over 15 minutes)."""
    frozen = candidate.storage_class == "frozen"
    base = rng.uniform(-21.0, -19.5) if frozen else rng.uniform(2.5, 4.5)
    sensor = f"LG{candidate.organisation_id:02d}-{rng.randrange(1000, 10000)}"
    await _register_logger(session, candidate.owner, sensor)
    warm = (-14.6, -13.1, -12.2, -11.8, -12.0, -12.9, -14.2, -14.8, -16.5)
    items = []
    for n in range(int(TRANSPORT / READING_EVERY) + 1):
        value = base + rng.uniform(-0.6, 0.6)
        value = min(value, -18.5) if frozen else max(1.0, min(value, 7.0))
        if excursion and 18 <= n < 18 + len(warm):
            value = warm[n - 18] + rng.uniform(-0.2, 0.2)
        items.append(
            {
                "batch_code": batch.code,
                "sensor_id": sensor,
                "time": (departed + n * READING_EVERY).isoformat(),
                "temperature_c": round(value, 1),
            }
        )
    stored = await safety.store_readings(
        session, candidate.owner, safety.parse_readings(items), source="api"
    )
    return int(stored["stored"])


# --- selling the pork lot, then recalling it ---------------------------------------------------


async def _sell_and_recall(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    pork: Candidate,
    batch_id: int,
    places: Sequence[Neighbourhood],
    rng: random.Random,
    figures: TraceFigures,
) -> None:
    """Today's campaign sells the pork lot (batch named on the item); residents order and
    pay; then a level 2 recall with full refund is opened and left open."""
    now = clock.now()
    local = now.astimezone(LOCAL)
    cutoff_day = local.date() if local.hour < 19 else local.date() + timedelta(days=1)
    cutoff = datetime.combine(cutoff_day, time(21), LOCAL)
    owner = pork.owner
    async with sessionmaker() as session, session.begin():
        campaign = await campaigns.create_campaign(
            session,
            owner,
            CampaignIn(
                title="冷鲜肉品溯源团",
                opens_at=now - timedelta(hours=1),
                cutoff_at=cutoff,
                pickup_date=cutoff_day + timedelta(days=1),
                items=[
                    CampaignItemIn(
                        sku_id=pork.sku_id,
                        group_price_fen=max(1, pork.price_fen * 88 // 100),
                        per_resident_limit=3,
                        stock=min(30, pork.stock),
                        min_group_qty=4,
                        batch_id=batch_id,
                    )
                ],
            ),
        )
        await campaigns.publish(session, owner, campaign.id)
        item_id = await session.scalar(
            select(CampaignItem.id).where(CampaignItem.campaign_id == campaign.id)
        )
        assert item_id is not None
    bought = HistoryFigures()
    for place in rng.sample(list(places), 2):
        for resident in rng.sample(place.residents, min(4, len(place.residents))):
            order = [OrderLineIn(item_id=item_id, quantity=rng.randint(1, 2))]
            await _order_and_pay(sessionmaker, resident, campaign.id, order, settings, bought)
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    await dispatcher.run_once()  # payments applied
    async with sessionmaker() as session:
        figures.orders = len(
            (
                await session.scalars(
                    select(Order.id).where(Order.campaign_id == campaign.id, Order.status == PAID)
                )
            ).all()
        )
    async with sessionmaker() as session, session.begin():
        opened = await recall.open_recall(
            session,
            owner,
            recall.RecallInput(
                level=2,
                reason=RECALL_REASON,
                batch_ids=[batch_id],
                refund=REFUND_FULL,
                hazard_found_at=clock.now() - timedelta(hours=3),
            ),
        )
        recall_id = opened.id
        held = await session.get(TraceBatch, batch_id)
        figures.recalled_batch = held.code if held is not None else None
    await dispatcher.run_once()  # refunds and notifications
    async with sessionmaker() as session:
        lines = (
            await session.scalars(
                select(TraceRecallLine).where(TraceRecallLine.recall_id == recall_id)
            )
        ).all()
        figures.recalls = 1
        figures.recall_batches = len(await recall.recall_batches(session, recall_id))
        figures.buyers_notified = len({ln.user_id for ln in lines if ln.notified_at is not None})
        figures.refunded_fen = sum(ln.refunded_fen for ln in lines)
        figures.excursions = len((await session.scalars(select(TraceExcursion.id))).all())
