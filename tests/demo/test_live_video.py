"""The demo replay's video (demo/live.py): with ffmpeg, a short generated test pattern kept
through the recordings' own remux, which the ended room's page plays, made in well under 3 s;
without ffmpeg no video, and the page says it is not available."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.config import Settings
from linli.demo import live as demo_live
from linli.live import recordings
from linli.live.models import Recording
from tests.live_selling.helpers import LIVE, Studio, a_studio

FFMPEG = shutil.which("ffmpeg")
BUDGET_SECONDS = 3.0  # `linli demo` stays fast


@pytest.fixture
def kept_policy() -> Iterator[None]:
    """The demo configures the recordings' policy for its process: put it back."""
    before = recordings.policy()
    try:
        yield
    finally:
        recordings.configure(before)


async def an_ended_room(client: httpx.AsyncClient, session: AsyncSession) -> Studio:
    studio = await a_studio(client, session)
    ended = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/end", headers=studio.shop.headers
    )
    assert ended.status_code == 200, ended.text
    return studio


async def rows(app: FastAPI, room_id: int) -> list[Recording]:
    async with app.state.sessionmaker() as s:
        return list(await s.scalars(select(Recording).where(Recording.room_id == room_id)))


@pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg (scripts/test installs it)")
async def test_with_ffmpeg_the_replay_plays_a_generated_test_pattern(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    kept_policy: None,
) -> None:
    studio = await an_ended_room(client, session)
    began = time.monotonic()
    made = await demo_live.replay_video(app.state.sessionmaker, settings, studio.room_id)
    took = time.monotonic() - began
    assert made is True
    assert took < BUDGET_SECONDS, f"the demo's replay video took {took:.2f} s"
    [recording] = await rows(app, studio.room_id)
    assert recording.status == "ready"
    assert recording.file_name is not None
    assert recording.duration_ms is not None
    assert abs(recording.duration_ms - demo_live.VIDEO_SECONDS * 1000) < 1500
    kept = settings.var_dir / "live-replays" / recording.file_name
    assert kept.stat().st_size == recording.bytes
    assert kept.read_bytes()[4:8] == b"ftyp"  # an MP4
    page = await client.get(f"/live/{studio.room_id}")
    url = f"/live/{studio.room_id}/recordings/{recording.id}.mp4"
    assert f'src="{url}" data-testid="live-replay"' in page.text
    video = await client.get(url, headers={"Range": "bytes=0-99"})
    assert video.status_code == 206
    assert video.headers["content-type"] == "video/mp4"
    assert len(video.content) == 100


async def test_without_ffmpeg_the_replay_says_its_video_is_not_available(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    kept_policy: None,
) -> None:
    studio = await an_ended_room(client, session)
    missing = settings.model_copy(update={"ffmpeg": str(settings.var_dir / "no-such-ffmpeg")})
    made = await demo_live.replay_video(app.state.sessionmaker, missing, studio.room_id)
    assert made is False
    assert await rows(app, studio.room_id) == []
    page = await client.get(f"/live/{studio.room_id}")
    assert page.status_code == 200
    assert "The video of this stream is not available." in page.text
    assert 'data-testid="live-replay"' not in page.text
