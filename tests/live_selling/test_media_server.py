"""Real video through a real media server (issue 16): nginx with the RTMP module, configured
by `linli media-config`'s `MediaServer`, in front of Linli served by uvicorn on the test's
event loop; ffmpeg publishes a generated test pattern.

A wrong key is refused by `on_publish` (ffmpeg fails, nothing is served); the session's key
is let in as `room-<id>`: HLS playlist and segments are served (never named after the key),
the room's page plays them; when the publisher stops the room pauses, and the recording
becomes the room's replay (MP4, seekable by byte ranges), kept for the rule's retention.

Skipped only when nginx, its RTMP module or ffmpeg is missing (`scripts/test` installs them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import async_playwright
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.live.media_server import DEBIAN_RTMP_MODULE, MediaServer
from linli.live.models import Recording
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.live_selling.helpers import LIVE, Studio, a_studio, pin

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
FFMPEG = shutil.which("ffmpeg")
MISSING = [
    name
    for name, found in (
        ("nginx", NGINX),
        ("ffmpeg", FFMPEG),
        (str(DEBIAN_RTMP_MODULE), DEBIAN_RTMP_MODULE.exists()),
    )
    if not found
]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs {', '.join(MISSING)}: apt-get install nginx-light libnginx-mod-rtmp ffmpeg "
    "(scripts/test installs them)",
)

T = TypeVar("T")
PUSH_SECONDS = 6
WAIT = 20.0  # seconds, for anything the media server does (a loaded 2-core machine)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ports() -> dict[str, int]:
    return {"linli": free_port(), "rtmp": free_port(), "http": free_port()}


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, ports: dict[str, int], media_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-not-for-production",
        run_dispatcher=False,
        default_locale="en",
        media_rtmp_url=f"rtmp://127.0.0.1:{ports['rtmp']}/live",
        media_hls_url=f"http://127.0.0.1:{ports['http']}/hls",
        media_dir=media_dir,
        ffmpeg=FFMPEG or "ffmpeg",
    )


@pytest.fixture
async def linli_url(app: FastAPI, ports: dict[str, int]) -> AsyncIterator[str]:
    """Linli served for the media server's callbacks."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=ports["linli"], lifespan="off", log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    try:
        while not served.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{ports['linli']}"
    finally:
        served.should_exit = True
        await task
        await app.state.live_hub.stop()


@contextlib.contextmanager
def nginx(server: MediaServer) -> Iterator[subprocess.Popen[bytes]]:
    assert NGINX is not None
    server.write()
    log = (server.directory / "logs" / "stdout.log").open("wb")
    process = subprocess.Popen(
        server.command(NGINX), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + WAIT
        while not all(_accepts(port) for port in (server.rtmp_port, server.http_port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not start: {_logs(server)}")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log.close()


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _logs(server: MediaServer) -> str:
    return "\n".join(
        path.read_text(errors="replace")[-3000:]
        for path in sorted((server.directory / "logs").glob("*.log"))
    )


async def publish(rtmp_url: str, key: str, seconds: int) -> asyncio.subprocess.Process:
    assert FFMPEG is not None
    return await asyncio.create_subprocess_exec(
        FFMPEG,
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-re"),
        *("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"),
        *("-f", "lavfi", "-i", "sine=frequency=440"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac"),
        *("-t", str(seconds), "-f", "flv", f"{rtmp_url}/{key}"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, within: float) -> tuple[int, str]:
    try:
        async with asyncio.timeout(within):
            _, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


async def eventually(check: Callable[[], Awaitable[T]], what: str, within: float = WAIT) -> T:
    """Poll `check` (returning a truthy value when done) for `within` seconds at most."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.2)


def media_server(
    settings: Settings, linli_url: str, ports: dict[str, int], media_dir: Path
) -> MediaServer:
    server = MediaServer(
        directory=media_dir,
        linli_url=linli_url,
        callback_secret=settings.media_callback_secret(),
        rtmp_port=ports["rtmp"],
        http_port=ports["http"],
        user="root" if os.geteuid() == 0 else None,
    )
    assert server.rtmp_url == settings.media_rtmp_url
    assert server.hls_url == settings.media_hls_url
    return server


async def live_room(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Studio, str]:
    """A room gone live with its goods pinned, and its session's stream key."""
    studio = await a_studio(client, session, live=False)
    started = await client.post(
        f"{LIVE}/merchant/rooms/{studio.room_id}/start", headers=studio.shop.headers
    )
    assert started.status_code == 200, started.text
    assert (await pin(client, studio)).status_code == 200
    return studio, str(started.json()["stream_key"])


def served_playlist(hls: httpx.AsyncClient, room_id: int) -> Callable[[], Awaitable[str | None]]:
    async def playlist() -> str | None:
        answer = await hls.get(f"room-{room_id}.m3u8")
        if answer.status_code == 200 and ".ts" in answer.text:
            return answer.text
        return None

    return playlist


async def test_a_pushed_test_pattern_is_served_as_hls_and_kept_as_the_replay(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    linli_url: str,
    ports: dict[str, int],
    media_dir: Path,
) -> None:
    server = media_server(settings, linli_url, ports, media_dir)
    studio, key = await live_room(client, session)
    room_id = studio.room_id
    hls = httpx.AsyncClient(base_url=settings.media_hls_url + "/", timeout=5)
    pushing: asyncio.subprocess.Process | None = None
    with nginx(server):
        try:
            # A wrong key: on_publish answers 403, nginx drops ffmpeg, nothing is made.
            refused = await publish(server.rtmp_url, "live_wrong-key", 3)
            code, said = await finished(refused, WAIT)
            assert code != 0, "ffmpeg published with a wrong key"
            assert not any((media_dir / "hls").iterdir()), "HLS made for a refused publisher"
            assert (await hls.get(f"room-{room_id}.m3u8")).status_code == 404

            # The session's key: the stream is renamed to the room and served as HLS.
            pushing = await publish(server.rtmp_url, key, PUSH_SECONDS)

            listed = await eventually(
                served_playlist(hls, room_id), "the room's playlist is served"
            )
            assert listed is not None
            assert answer_type(await hls.get(f"room-{room_id}.m3u8")).startswith(
                "application/vnd.apple.mpegurl"
            )
            segment_name = next(line for line in listed.splitlines() if line.endswith(".ts"))
            assert segment_name.startswith(f"room-{room_id}-")
            segment = await hls.get(segment_name)
            assert segment.status_code == 200
            assert segment.headers["content-type"] == "video/mp2t"
            assert segment.headers["access-control-allow-origin"] == "*"
            assert len(segment.content) > 1000
            assert segment.content[0] == 0x47  # an MPEG transport stream's sync byte
            names = await asyncio.to_thread(lambda: [p.name for p in media_dir.rglob("*")])
            assert not any(key in name for name in names), "the key in a file's name"

            # The room is live and its page plays the playlist through the vendored hls.js.
            page = await client.get(f"/live/{room_id}")
            assert page.status_code == 200
            source = f"{settings.media_hls_url}/room-{room_id}.m3u8"
            assert f'data-hls="{source}"' in page.text
            assert "hls.light.min" in page.text
            policy = page.headers["content-security-policy"]
            assert f"media-src 'self' blob: http://127.0.0.1:{ports['http']}" in policy
            assert f"connect-src 'self' http://127.0.0.1:{ports['http']}" in policy
            player = await client.get(_script_url(page.text, "hls.light.min"))
            assert player.status_code == 200
            assert b"Hls" in player.content

            code, said = await finished(pushing, PUSH_SECONDS + WAIT)
            assert code == 0, said
        finally:
            if pushing is not None and pushing.returncode is None:
                pushing.kill()
                await pushing.wait()
            await hls.aclose()

        # The publisher stopped: the room pauses, and the recording is reported.
        async def paused() -> bool:
            room = await client.get(f"{LIVE}/rooms/{room_id}")
            return bool(room.json()["status"] == "paused")

        await eventually(paused, "the room paused on on_publish_done")

        async def reported() -> Recording | None:
            s: AsyncSession
            async with app.state.sessionmaker() as s:
                found = await s.scalar(select(Recording).where(Recording.room_id == room_id))
            return found

        recording = await eventually(reported, "on_record_done reported the recording")
    assert isinstance(recording, Recording)
    assert recording.source_name.startswith(f"room-{room_id}-")
    assert recording.retain_until - recording.recorded_at >= timedelta(days=3 * 365)

    # The due job remuxes it into the replay (MP4), and the FLV goes.
    await app.state.dispatcher.run_once()
    async with app.state.sessionmaker() as s:
        ready = await s.get(Recording, recording.id)
    assert ready is not None
    assert (ready.status, ready.error) == ("ready", None)
    assert ready.duration_ms is not None
    assert abs(ready.duration_ms - PUSH_SECONDS * 1000) < 2500
    assert not (media_dir / "recordings" / recording.source_name).exists()

    ended = await client.post(f"{LIVE}/merchant/rooms/{room_id}/end", headers=studio.shop.headers)
    assert ended.status_code == 200, ended.text
    page = await client.get(f"/live/{room_id}")
    replay_url = f"/live/{room_id}/recordings/{recording.id}.mp4"
    assert f'src="{replay_url}"' in page.text
    listed = (await client.get(f"{LIVE}/replays/{room_id}")).json()["recordings"]
    assert [(r["id"], r["url"], r["bytes"]) for r in listed] == [
        (recording.id, replay_url, ready.bytes)
    ]
    whole = await client.get(replay_url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.content[4:8] == b"ftyp"
    assert len(whole.content) == ready.bytes
    part = await client.get(replay_url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert len(part.content) == 100
    assert (await client.get(f"/live/{room_id}/recordings/{recording.id + 1}.mp4")).status_code == (
        404
    )


async def test_record_done_needs_the_secret_and_a_recording_of_the_media_directory(
    client: httpx.AsyncClient, settings: Settings, media_dir: Path
) -> None:
    secret = settings.media_callback_secret()
    url = f"{LIVE}/media/on_record_done"
    good_path = str(media_dir / "recordings" / "room-1-1700000000.flv")
    for query in ("", "?secret=wrong"):
        refused = await client.post(url + query, data={"path": good_path})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "media_secret_refused"
    for path in (
        "/etc/passwd",
        str(media_dir / "recordings" / "other.flv"),
        str(media_dir / "room-1-1.flv"),
    ):
        refused = await client.post(f"{url}?secret={secret}", data={"path": path})
        assert refused.status_code == 403, path
        assert refused.json()["error"]["code"] == "recording_refused"
    missing_room = await client.post(
        f"{url}?secret={secret}",
        data={"path": str(media_dir / "recordings" / "room-999999-1700000000.flv")},
    )
    assert missing_room.status_code == 404


def answer_type(answer: httpx.Response) -> str:
    return str(answer.headers.get("content-type", ""))


def _script_url(page: str, name: str) -> str:
    start = page.index(name)
    return page[page.rindex('src="', 0, start) + 5 : page.index('"', start)]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Chromium is not installed at {CHROMIUM}")
async def test_chromium_plays_the_live_room_through_hls_js(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    linli_url: str,
    ports: dict[str, int],
    media_dir: Path,
) -> None:
    """The room's page, as a phone's browser without native HLS gets it: hls.js (served by
    Linli) plays the media server's stream under the page's Content-Security-Policy."""
    server = media_server(settings, linli_url, ports, media_dir)
    studio, key = await live_room(client, session)
    hls = httpx.AsyncClient(base_url=settings.media_hls_url + "/", timeout=5)
    with nginx(server):
        pushing = await publish(server.rtmp_url, key, 15)
        try:
            await eventually(served_playlist(hls, studio.room_id), "the playlist is served")
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    page = await browser.new_page()
                    refused: list[str] = []
                    page.on(
                        "console", lambda m: refused.append(m.text) if m.type == "error" else None
                    )
                    await page.goto(f"{linli_url}/live/{studio.room_id}")
                    await page.wait_for_function(
                        "() => { const v = document.querySelector('video[data-hls]');"
                        " return v && v.dataset.state === 'playing' && v.currentTime > 1"
                        " && v.videoWidth === 320; }",
                        timeout=WAIT * 1000,
                    )
                    assert await page.locator("[data-video-waiting]").is_hidden()
                    assert not [m for m in refused if "Content Security Policy" in m], refused
                finally:
                    await browser.close()
        finally:
            if pushing.returncode is None:
                pushing.kill()
                await pushing.wait()
            await hls.aclose()


async def test_a_recording_ffmpeg_cannot_read_is_retried_and_fails_once_it_is_gone(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    media_dir: Path,
    frozen_clock: FrozenClock,
) -> None:
    studio = await a_studio(client, session)
    source = media_dir / "recordings" / f"room-{studio.room_id}-1700000000.flv"
    source.parent.mkdir(parents=True)
    source.write_bytes(b"FLV but not really")
    url = f"{LIVE}/media/on_record_done?secret={settings.media_callback_secret()}"
    form = {"call": "record_done", "name": f"room-{studio.room_id}", "path": str(source)}
    for _ in range(2):  # nginx reporting the same file twice makes one recording
        assert (await client.post(url, data=form)).status_code == 204

    async def rows() -> list[Recording]:
        s: AsyncSession
        async with app.state.sessionmaker() as s:
            found = await s.scalars(select(Recording).where(Recording.room_id == studio.room_id))
            return list(found)

    await app.state.dispatcher.run_once()
    (tried,) = await rows()
    assert (tried.status, tried.attempts) == ("pending", 1)
    assert tried.error is not None
    assert tried.error.startswith("ffmpeg exited")
    assert source.exists()  # kept for the retry

    source.unlink()
    frozen_clock.advance(timedelta(hours=1))
    await app.state.dispatcher.run_once()
    (failed,) = await rows()
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert failed.error == f"the recording {source.name} is missing"
    replay = await client.get(f"{LIVE}/replays/{studio.room_id}")
    assert replay.json()["recordings"] == []
