"""The end of a room's retention (live/retention.py, docs/live.md "Retention"): the daily
`live.purge_records` job deletes the replays' files and the room's chat, channel events and
mutes once the room's `retain_until` (its end + rule `live.commerce` `retention_years`) has
passed, never before; a second run changes nothing; the statistics stay; a crash between the
commit and the files' deletion leaks no file and serves no deleted replay."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit.models import AuditEntry
from linli.authz import Actor, UserRef
from linli.clock import FrozenClock
from linli.config import Settings
from linli.live import channel, recordings, retention
from linli.live.models import (
    ChatMessage,
    LiveOrder,
    Mute,
    Recording,
    Room,
    RoomEvent,
    RoomViewer,
)
from tests.groupbuy.helpers import Resident, pay, residents
from tests.live_selling.helpers import LIVE, Studio, a_studio, buy

_stamps = itertools.count()
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64  # enough for the route's byte ranges


@pytest.fixture
def media(tmp_path: Path) -> Iterator[recordings.MediaPolicy]:
    """A recordings directory and a replays directory of the test's own."""
    before = recordings.policy()
    policy = recordings.MediaPolicy(
        recordings_dir=tmp_path / "media" / "recordings", replays_dir=tmp_path / "replays"
    )
    assert policy.recordings_dir is not None
    policy.recordings_dir.mkdir(parents=True)
    policy.replays_dir.mkdir(parents=True)
    recordings.configure(policy)
    try:
        yield policy
    finally:
        recordings.configure(before)


async def a_recording(
    app: FastAPI, studio: Studio, policy: recordings.MediaPolicy, status: str = "ready"
) -> Recording:
    """A recording as the remux leaves it: ready with its MP4, or failed with the FLV kept."""
    stamp = int(clock.now().timestamp()) + next(_stamps)  # one file per connection
    source = f"room-{studio.room_id}-{stamp}.flv"
    assert policy.recordings_dir is not None
    row = Recording(
        room_id=studio.room_id,
        source_name=source,
        status=status,
        attempts=1,
        recorded_at=clock.now(),
        retain_until=clock.now() + timedelta(days=365 * 3),
    )
    if status == "ready":
        row.file_name = source.removesuffix(".flv") + ".mp4"
        row.bytes = len(MP4)
        row.duration_ms = 1000
        (policy.replays_dir / row.file_name).write_bytes(MP4)
    else:
        (policy.recordings_dir / source).write_bytes(b"FLV")
    async with app.state.sessionmaker() as s, s.begin():
        s.add(row)
    return row


async def chat(app: FastAPI, viewer: Resident, studio: Studio, text: str) -> int:
    async with app.state.sessionmaker() as s, s.begin():
        message = await channel.post_chat(
            s, Actor(user=UserRef.of(viewer.user)), studio.room_id, text
        )
        return message.id


async def count(app: FastAPI, model: type, room_id: int) -> int:
    async with app.state.sessionmaker() as s:
        found = await s.scalar(
            select(func.count()).select_from(model).where(model.room_id == room_id)  # type: ignore[attr-defined]
        )
    return int(found or 0)


async def purged_entries(app: FastAPI, room_id: int) -> list[AuditEntry]:
    async with app.state.sessionmaker() as s:
        return list(
            await s.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.action == "live.records_purged",
                    AuditEntry.target_id == str(room_id),
                )
                .order_by(AuditEntry.id)
            )
        )


async def a_streamed_room(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    media: recordings.MediaPolicy,
) -> tuple[Studio, Resident, list[Recording]]:
    """A room that streamed (a paid order, chat, a mute, a logged-in viewer, a recording of
    each kind) and ended."""
    studio = await a_studio(client, session)
    viewer, other = await residents(session, 2)
    bought = await buy(client, viewer.headers, studio, quantity=2)
    assert bought.status_code == 201, bought.text
    await pay(client, settings, bought.json()["payment"])
    await app.state.dispatcher.run_once()
    await chat(app, viewer, studio, "苹果甜吗？")
    await chat(app, other, studio, "多少钱一斤")
    async with app.state.sessionmaker() as s:
        await channel.count_viewer(s, studio.room_id, viewer.user.id)
        await s.commit()
    muted = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/mutes",
        json={"user_id": other.user.id, "minutes": 30, "reason": "刷屏"},
        headers=studio.shop.headers,
    )
    assert muted.status_code in (200, 201), muted.text
    ready = await a_recording(app, studio, media)
    failed = await a_recording(app, studio, media, status="failed")
    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200, ended.text
    return studio, viewer, [ready, failed]


async def retain_until(app: FastAPI, room_id: int) -> datetime:
    s: AsyncSession
    async with app.state.sessionmaker() as s:
        room = await s.get(Room, room_id)
    assert room is not None
    assert room.retain_until is not None
    return room.retain_until


async def statistics(client: httpx.AsyncClient, studio: Studio) -> dict[str, object]:
    answer = await client.get(
        f"{LIVE}/merchant/rooms/{studio.room_id}/statistics", headers=studio.shop.headers
    )
    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert isinstance(figures, dict)
    return figures


async def test_replays_and_live_content_go_after_retention_never_before_and_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    media: recordings.MediaPolicy,
) -> None:
    studio, _viewer, (ready, failed) = await a_streamed_room(app, client, session, settings, media)
    assert ready.file_name is not None
    mp4 = media.replays_dir / ready.file_name
    assert media.recordings_dir is not None
    flv = media.recordings_dir / failed.source_name
    until = await retain_until(app, studio.room_id)
    assert until - clock.now() >= timedelta(days=3 * 365)  # rule live.commerce: 3 years
    before = await statistics(client, studio)
    assert (before["orders"], before["viewers"], before["connections"]) == (1, 1, 1)
    replay_url = f"/live/{studio.room_id}/recordings/{ready.id}.mp4"
    assert (await client.get(replay_url)).status_code == 200
    async with app.state.sessionmaker() as s, s.begin():
        await retention.ensure_purge_scheduled(s)

    # The day before the end of retention: the daily job keeps everything.
    frozen_clock.set(until - timedelta(days=1))
    await app.state.dispatcher.run_once()
    assert mp4.exists()
    assert flv.exists()
    assert (await client.get(replay_url)).status_code == 200
    assert await count(app, ChatMessage, studio.room_id) == 2
    assert await count(app, RoomEvent, studio.room_id) > 0
    assert await count(app, Mute, studio.room_id) == 1
    assert await purged_entries(app, studio.room_id) == []

    # The day after: the files, the chat, the channel's events and the mutes are gone.
    frozen_clock.set(until + timedelta(days=1))
    await app.state.dispatcher.run_once()
    assert not mp4.exists()
    assert not flv.exists()
    async with app.state.sessionmaker() as s:
        rows = {r.id: r for r in await s.scalars(select(Recording))}
        room = await s.get(Room, studio.room_id)
    assert {rows[ready.id].status, rows[failed.id].status} == {"purged"}
    assert all(r.purged_at is not None and r.files_removed_at is not None for r in rows.values())
    assert room is not None
    assert room.purged_at is not None
    assert (await client.get(replay_url)).status_code == 404
    replay = await client.get(f"{LIVE}/replays/{studio.room_id}")
    assert replay.status_code == 200
    assert replay.json()["recordings"] == []
    page = await client.get(f"/live/{studio.room_id}")
    assert page.status_code == 200
    assert 'data-testid="live-replay-missing"' in page.text
    assert await count(app, ChatMessage, studio.room_id) == 0
    assert await count(app, RoomEvent, studio.room_id) == 0
    assert await count(app, Mute, studio.room_id) == 0
    # The statistics and the transaction records stay.
    assert await count(app, LiveOrder, studio.room_id) == 1
    assert await count(app, RoomViewer, studio.room_id) == 1
    after = await statistics(client, studio)
    assert after == before
    [entry] = await purged_entries(app, studio.room_id)
    assert entry.user_id is None  # the system
    assert entry.details["recordings"] == sorted([ready.id, failed.id])
    assert entry.details["chat_messages"] == 2
    assert entry.details["events"] > 0

    # Later runs find nothing more to do.
    frozen_clock.advance(timedelta(days=2))
    await app.state.dispatcher.run_once()
    assert len(await purged_entries(app, studio.room_id)) == 1
    async with app.state.sessionmaker() as s:
        again = {
            r.id: (r.status, r.purged_at, r.files_removed_at)
            for r in await s.scalars(select(Recording))
        }
    assert again == {r.id: (r.status, r.purged_at, r.files_removed_at) for r in rows.values()}


async def test_a_crash_before_the_files_go_serves_no_replay_and_the_next_run_deletes_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
    media: recordings.MediaPolicy,
) -> None:
    studio, _viewer, (ready, _failed) = await a_streamed_room(app, client, session, settings, media)
    assert ready.file_name is not None
    mp4 = media.replays_dir / ready.file_name
    frozen_clock.set(await retain_until(app, studio.room_id) + timedelta(hours=1))
    # The job's transaction commits; the process dies before its step after the commit.
    async with app.state.sessionmaker() as s, s.begin():
        purged = await retention.purge_expired(s)
        await retention.ensure_purge_scheduled(s)
    assert ready.id in purged.recordings
    assert mp4.exists()  # not deleted yet ...
    replay_url = f"/live/{studio.room_id}/recordings/{ready.id}.mp4"
    assert (await client.get(replay_url)).status_code == 404  # ... and never served again
    async with app.state.sessionmaker() as s:
        row = await s.get(Recording, ready.id)
    assert row is not None
    assert (row.status, row.files_removed_at) == ("purged", None)

    # The next daily run deletes the files left behind, and records it.
    frozen_clock.advance(timedelta(days=1, minutes=1))
    await app.state.dispatcher.run_once()
    assert not mp4.exists()
    async with app.state.sessionmaker() as s:
        row = await s.get(Recording, ready.id)
    assert row is not None
    assert row.files_removed_at is not None
    assert len(await purged_entries(app, studio.room_id)) == 1


async def test_a_recording_still_pending_or_of_an_open_room_is_kept(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    frozen_clock: FrozenClock,
    media: recordings.MediaPolicy,
) -> None:
    """A room still open has no `retain_until`: even a recording past its own is kept (the
    room's period starts at its end); so is a recording whose remux has not settled."""
    studio = await a_studio(client, session)
    kept = await a_recording(app, studio, media)
    async with app.state.sessionmaker() as s, s.begin():
        row = await s.get(Recording, kept.id)
        assert row is not None
        row.retain_until = clock.now() - timedelta(days=1)
    async with app.state.sessionmaker() as s, s.begin():
        purged = await retention.purge_expired(s)
    assert (purged.recordings, purged.rooms) == ([], [])
    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200
    async with app.state.sessionmaker() as s, s.begin():
        row = await s.get(Recording, kept.id)
        assert row is not None
        row.status = "pending"
    frozen_clock.set(await retain_until(app, studio.room_id) + timedelta(days=1))
    async with app.state.sessionmaker() as s, s.begin():
        purged = await retention.purge_expired(s)
    assert (purged.recordings, purged.rooms) == ([], [studio.room_id])
    assert kept.file_name is not None
    assert (media.replays_dir / kept.file_name).exists()
