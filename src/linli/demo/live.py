"""Live selling in the demo city, played through the services: yesterday evening's stream of
the fruit merchant as a replay (two goods pinned in turn, residents' paid orders with their
delivery addresses, most shipped after the stream and one received, the unsold stream stock
back on the SKUs; with `ffmpeg` on the PATH a short generated test pattern as its video, kept
through the recordings' own remux), its stream tonight, and a foreign-trade enterprise's
export-quality goods on air now (pinned, stream stock reserved until the room's end), and the
group leader's room for their pickup point tonight, with the fruit merchant's goods under a
supply agreement the leader accepted."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import Membership, Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.catalog import offers
from linli.catalog.models import Sku
from linli.catalog.offers import ListedSku
from linli.community import points
from linli.config import Settings
from linli.demo.history import pay_in_sandbox
from linli.demo.seed import EXPORTER_PHONE, LEADER_PHONE, MERCHANT_PHONE, RESIDENT_PHONE
from linli.errors import DomainError
from linli.live import agreements, checkout, fulfilment, recordings, service, streamers
from linli.live.schemas import (
    AgreementIn,
    DeliveryIn,
    GoodsIn,
    LeaderRoomIn,
    LeaderStreamerIn,
    LiveOrderIn,
    RoomIn,
    ShipmentIn,
    StreamerIn,
)
from linli.outbox import Dispatcher
from linli.rules import service as rules

log = logging.getLogger(__name__)

LOCAL = clock.LOCAL
# The replay's generated video: a test pattern with a tone, small and quick to make (about
# 0.4 s to encode and 0.1 s to remux on the 2-core machine; the FLV about 400 KB).
VIDEO_SECONDS = 24
VIDEO_SIZE = "320x180"
VIDEO_TIMEOUT = 30.0
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


ROOM_STOCK = 30  # units of each SKU a demo room reserves


@dataclass
class LiveFigures:
    rooms: int = 0
    orders: int = 0
    replay_room: int | None = None
    on_air_room: int | None = None
    leader_room: int | None = None
    replay_video: bool = False
    video_seconds: float = 0.0  # how long making the replay's video took


@dataclass(frozen=True)
class _Seller:
    actor: Actor
    user_id: int
    skus: list[ListedSku]


def identity_number(birth: date, serial: int) -> str:
    """A valid 18-character resident identity card number (GB 11643 check character)."""
    body = f"310115{birth:%Y%m%d}{serial % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check


async def _seller(session: AsyncSession, phone: str) -> _Seller | None:
    found = (
        await session.execute(
            select(User, Organisation)
            .join(Membership, Membership.user_id == User.id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(User.phone.endswith(phone), Membership.role == "owner")
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    user, organisation = found
    rule = await rules.in_force(session, service.RULE)
    regulated = set(rule.values["pre_review_categories"])
    listed = await offers.listed_skus(session, organisation.id, limit=50)
    # The history before this has sold some SKUs out; a SKU may be in three rooms at once.
    stock_of = select(Sku.id, Sku.stock).where(Sku.id.in_(listed))
    on_hand: dict[int, int] = {sku_id: units for sku_id, units in await session.execute(stock_of)}
    skus = [
        s
        for s in listed.values()
        if not regulated & set(s.category_codes) and on_hand[s.sku_id] >= 3 * ROOM_STOCK
    ]
    actor = Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({"owner"}),
    )
    return _Seller(actor, user.id, skus)


async def _viewers(session: AsyncSession, n: int) -> list[Actor]:
    """The demo resident and neighbours without an organisation, as buying viewers."""
    members = select(Membership.user_id)
    users = (
        await session.scalars(
            select(User).where(User.id.not_in(members)).order_by(User.id).limit(n + 1)
        )
    ).all()
    users = sorted(users, key=lambda u: not u.phone.endswith(RESIDENT_PHONE))[:n]
    return [Actor(user=UserRef.of(user), roles=frozenset()) for user in users]


async def _room(
    sessionmaker: async_sessionmaker[AsyncSession],
    seller: _Seller,
    *,
    streamer_id: int,
    title: str,
    start: datetime,
    hours: float,
    goods: list[tuple[ListedSku, int]],
) -> tuple[int, list[int]]:
    async with sessionmaker() as session, session.begin():
        room = await service.create_room(
            session,
            seller.actor,
            RoomIn(
                streamer_id=streamer_id,
                title=title,
                description="产地直发，直播间专享价，售完即止。",
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=hours),
            ),
        )
        ids = []
        for sku, price_fen in goods:
            added = await service.add_goods(
                session,
                seller.actor,
                room.id,
                GoodsIn(
                    sku_id=sku.sku_id,
                    stream_price_fen=price_fen,
                    stock=ROOM_STOCK,
                    per_buyer_limit=3,
                ),
            )
            ids.append(added.id)
    return room.id, ids


async def _buy_and_pay(
    sessionmaker: async_sessionmaker[AsyncSession],
    viewer: Actor,
    room_id: int,
    goods_id: int,
    quantity: int,
    settings: Settings,
) -> bool:
    try:
        async with sessionmaker() as session, session.begin():
            placed = await checkout.place_order(
                session,
                viewer,
                room_id,
                LiveOrderIn(
                    goods_id=goods_id,
                    quantity=quantity,
                    delivery=DeliveryIn(
                        recipient_name=(viewer.user.display_name if viewer.user else "")[:60]
                        or "居民",
                        recipient_phone="13800138000",
                        address=f"上海市浦东新区锦绣路 {100 + quantity} 弄 {goods_id % 9 + 1} 号",
                    ),
                ),
                uuid.uuid4().hex,
            )
    except DomainError:
        return False  # sold out or over the limit: viewers meet that too
    intent = placed.intent
    if intent is None:
        return False
    await pay_in_sandbox(sessionmaker, settings, intent.public_id, intent.amount_fen)
    return True


async def _test_pattern(ffmpeg: str, target: Path) -> str | None:
    """Encode a short test pattern with a tone into `target` (FLV, H.264 and AAC, as the media
    server records a broadcast); why not, when it could not."""
    arguments = [
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size={VIDEO_SIZE}:rate=10:duration={VIDEO_SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={VIDEO_SECONDS}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "20"),
        *("-c:a", "aac", "-b:a", "32k", "-shortest", "-f", "flv", str(target)),
    ]
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg, *arguments, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as error:
        return str(error)
    try:
        async with asyncio.timeout(VIDEO_TIMEOUT):
            _, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return "ffmpeg took too long"
    if process.returncode != 0:
        return f"ffmpeg exited {process.returncode}: {stderr.decode(errors='replace')[-200:]}"
    return None


async def replay_video(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, room_id: int
) -> bool:
    """The replay's video when ffmpeg is on the PATH: a generated test pattern kept through
    the recordings' remux (the room's page plays it). Without ffmpeg the replay has no video
    and its page says so."""
    ffmpeg = shutil.which(settings.ffmpeg)
    if ffmpeg is None:
        return False
    recordings.configure(
        recordings.MediaPolicy(
            recordings_dir=recordings.policy().recordings_dir,
            replays_dir=settings.var_dir / "live-replays",
            ffmpeg=ffmpeg,
        )
    )
    with tempfile.TemporaryDirectory(prefix="linli-demo-video-") as directory:
        source = Path(directory) / f"room-{room_id}-{int(clock.now().timestamp())}.flv"
        problem = await _test_pattern(ffmpeg, source)
        if problem is not None:
            log.warning("the demo replay's video was not made: %s", problem)
            return False
        kept = await recordings.keep_file(sessionmaker, room_id, source)
    return kept.status == "ready"


async def _ship_most(
    sessionmaker: async_sessionmaker[AsyncSession],
    merchant: Actor,
    viewers: list[Actor],
    rng: random.Random,
) -> None:
    """After the stream the merchant ships all but one of its paid orders (SF Express); the
    first buyer confirms receipt; the rest wait for their buyers or the automatic receipt."""
    async with sessionmaker() as session:
        to_ship = await fulfilment.merchant_orders(session, merchant, state="to_ship")
    by_user = {v.user.id: v for v in viewers if v.user is not None}
    for n, view in enumerate(to_ship[:-1]):
        async with sessionmaker() as session, session.begin():
            await fulfilment.ship(
                session,
                merchant,
                view.order.id,
                ShipmentIn(carrier="sf", tracking_number=f"SF{rng.randrange(10**11, 10**12)}"),
            )
            buyer = by_user.get(view.order.user_id)
            if n == 0 and buyer is not None:
                await fulfilment.confirm_receipt(session, buyer, view.order.id)


async def _leader_room(
    sessionmaker: async_sessionmaker[AsyncSession],
    supplier: _Seller,
    tonight: datetime,
    key: str,
) -> int | None:
    """The demo group leader streams tonight for their pickup point's residents, with the
    fruit merchant's goods under a supply agreement it offered and the leader accepted."""
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.phone.endswith(LEADER_PHONE)))
        led = await points.points_led_by(session, user.id) if user is not None else []
    if user is None or not led or len(supplier.skus) < 3:
        return None
    leader = Actor(user=UserRef.of(user), roles=frozenset())
    point = led[0]
    async with sessionmaker() as session, session.begin():
        offered = await agreements.offer(
            session,
            supplier.actor,
            AgreementIn(pickup_point_id=point.id, commission_bp=800, note="当季鲜果，产地直发"),
        )
        await agreements.accept(session, leader, offered.id)
        await streamers.register_leader(
            session,
            leader,
            LeaderStreamerIn(
                real_name="王建国", identity_number=identity_number(date(1979, 6, 8), 107)
            ),
            identity_key=key,
        )
        start = tonight - timedelta(minutes=30)
        room = await service.create_leader_room(
            session,
            leader,
            LeaderRoomIn(
                pickup_point_id=point.id,
                title="团长今晚直播：邻里鲜果到点自提",
                description="本自提点居民专享，明天到点自提。",
                scheduled_start=start,
                scheduled_end=start + timedelta(hours=1),
            ),
        )
        sku = supplier.skus[2]
        await service.supply_goods(
            session,
            supplier.actor,
            room.id,
            GoodsIn(
                sku_id=sku.sku_id, stream_price_fen=_stream_price(sku), stock=20, per_buyer_limit=3
            ),
        )
    return room.id


def _stream_price(sku: ListedSku) -> int:
    """About 15 % off the list price, to the ten fen."""
    return max(10, sku.price_fen * 85 // 100 // 10 * 10)


async def seed_live(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, seed: int
) -> LiveFigures:
    rng = random.Random(seed + 16)
    figures = LiveFigures()
    dispatcher = Dispatcher(sessionmaker, batch_size=200)
    key = settings.resolved_secret_key()
    async with sessionmaker() as session:
        fruit = await _seller(session, MERCHANT_PHONE)
        exporter = await _seller(session, EXPORTER_PHONE)
        viewers = await _viewers(session, 8)
    if fruit is None or exporter is None or len(fruit.skus) < 2 or not exporter.skus:
        return figures
    streamer_of: dict[int, int] = {}
    for n, seller in enumerate((fruit, exporter)):
        async with sessionmaker() as session, session.begin():
            registered = await streamers.register(
                session,
                seller.actor,
                StreamerIn(
                    user_id=seller.user_id,
                    real_name=("李晓梅", "陈志远")[n],
                    identity_number=identity_number(date(1988 + n, 3 + n, 12), 101 + n),
                ),
                identity_key=key,
            )
            streamer_of[seller.user_id] = registered.id

    today = datetime.now(LOCAL).replace(second=0, microsecond=0)
    yesterday = (today - timedelta(days=1)).replace(hour=19, minute=0)
    with clock.frozen(yesterday.astimezone(UTC)) as frozen:
        picked = rng.sample(fruit.skus, 2)
        room_id, goods = await _room(
            sessionmaker,
            fruit,
            streamer_id=streamer_of[fruit.user_id],
            title="昨晚果园直播：当季鲜果专场",
            start=clock.now(),
            hours=1.5,
            goods=[(sku, _stream_price(sku)) for sku in picked],
        )
        async with sessionmaker() as session, session.begin():
            await service.start(session, fruit.actor, room_id)
        for turn, goods_id in enumerate(goods):
            frozen.advance(timedelta(minutes=5 + 20 * turn))
            async with sessionmaker() as session, session.begin():
                if turn:
                    await service.unpin(session, fruit.actor, room_id)
                await service.pin(session, fruit.actor, room_id, goods_id)
            for viewer in rng.sample(viewers, 4):
                frozen.advance(timedelta(seconds=rng.randint(20, 90)))
                paid = await _buy_and_pay(
                    sessionmaker, viewer, room_id, goods_id, rng.randint(1, 3), settings
                )
                figures.orders += paid
        frozen.advance(timedelta(minutes=1))
        await dispatcher.run_once()  # payments applied
        frozen.advance(timedelta(minutes=25))
        async with sessionmaker() as session, session.begin():
            await service.end(session, fruit.actor, room_id)
        figures.rooms += 1
        figures.replay_room = room_id
        began = time.monotonic()
        figures.replay_video = await replay_video(sessionmaker, settings, room_id)
        figures.video_seconds = time.monotonic() - began
        frozen.advance(timedelta(hours=1))
        await _ship_most(sessionmaker, fruit.actor, viewers, rng)

    tonight = today.replace(hour=20, minute=0)
    if tonight <= today:
        tonight += timedelta(days=1)
    await _room(
        sessionmaker,
        fruit,
        streamer_id=streamer_of[fruit.user_id],
        title="今晚八点：果园直发专场",
        start=tonight,
        hours=1.5,
        goods=[(sku, _stream_price(sku)) for sku in fruit.skus[:2]],
    )
    figures.rooms += 1

    export_sku = exporter.skus[0]
    room_id, goods = await _room(
        sessionmaker,
        exporter,
        streamer_id=streamer_of[exporter.user_id],
        title="外贸优品直播：出口同线同标同质",
        start=datetime.now(LOCAL) - timedelta(minutes=5),
        hours=3,
        goods=[(export_sku, _stream_price(export_sku))],
    )
    async with sessionmaker() as session, session.begin():
        await service.start(session, exporter.actor, room_id)
        await service.pin(session, exporter.actor, room_id, goods[0])
    figures.rooms += 1
    figures.on_air_room = room_id
    figures.leader_room = await _leader_room(sessionmaker, fruit, tonight, key)
    figures.rooms += figures.leader_room is not None
    await dispatcher.run_once()  # the replay's due jobs (its end, unpaid orders) are past
    return figures
