"""Recordings kept as the rooms' replays (docs/live.md "Video").

nginx's RTMP module records each publisher's connection to a file of its own
(`record_unique`: `room-<id>-<unix time>.flv` in the media directory's `recordings/`) and
calls `on_record_done` when the file is closed. That call is answered here: the file becomes
a `live_recordings` row (pending) and a `live.remux_recording` job, which remuxes it (`ffmpeg
-c copy`: no re-encoding, a copy of the file) into an MP4 under
`var/live-replays/`, the file every browser plays natively with seeking (HTTP ranges), and
removes the FLV. The remux runs after the job's transaction has committed, holding no
transaction; a successor scheduled first retries it if the process dies meanwhile.

The replay is kept until `retain_until`: the recording's time plus `retention_years` of rule
`live.commerce` (3 years in version 1).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock, outbox
from linli.errors import Forbidden, NotFound
from linli.i18n import N_
from linli.jobs import RemuxLiveRecording
from linli.live import service
from linli.live.models import LiveSession, Recording, Room
from linli.live.states import RecordingStatus

log = logging.getLogger(__name__)

SOURCE_NAME = re.compile(r"room-(\d{1,18})-\d{1,12}\.flv")
MAX_ATTEMPTS = 5
REMUX_TIMEOUT = 1800.0  # seconds: a remux copies, it never encodes
CLAIM_WINDOW = timedelta(seconds=REMUX_TIMEOUT + 60)


@dataclass(frozen=True)
class MediaPolicy:
    """Where the media server writes its recordings (None: no media server configured),
    where the replays are kept, and the ffmpeg to remux with."""

    recordings_dir: Path | None = None
    replays_dir: Path = Path("var/live-replays")
    ffmpeg: str = "ffmpeg"


_policy = MediaPolicy()


def configure(policy: MediaPolicy) -> None:
    global _policy  # set once by create_app, as trace.subscriptions.configure is
    _policy = policy


def policy() -> MediaPolicy:
    return _policy


def _refused() -> Forbidden:
    return Forbidden(N_("This is no recording of the media server."), code="recording_refused")


async def record_done(session: AsyncSession, path: str | None) -> Recording:
    """`on_record_done`: the closed file at `path` becomes the room's pending recording and
    its remux is scheduled. Only a file named as the media server names them, directly in
    the configured recordings directory, is taken; the same file twice is one recording."""
    recordings_dir = _policy.recordings_dir
    if not path or recordings_dir is None or len(path) > 1000 or not path.isascii():
        raise _refused()
    source = Path(path)
    match = SOURCE_NAME.fullmatch(source.name)
    if match is None or source.parent.resolve() != recordings_dir.resolve():
        raise _refused()
    room = await session.get(Room, int(match.group(1)))
    if room is None:
        raise NotFound(N_("No such room."))
    existing = await session.scalar(select(Recording).where(Recording.source_name == source.name))
    if existing is not None:
        return existing
    now = clock.now()
    live_session = await session.scalar(
        select(LiveSession.id)
        .where(LiveSession.room_id == room.id, LiveSession.started_at <= now)
        .order_by(LiveSession.started_at.desc(), LiveSession.id.desc())
        .limit(1)
    )
    years = await service.retention_years(session)
    recording = Recording(
        room_id=room.id,
        session_id=live_session,
        source_name=source.name,
        status=RecordingStatus.PENDING,
        attempts=0,
        recorded_at=now,
        retain_until=now + timedelta(days=365 * years),
    )
    session.add(recording)
    await session.flush()
    await outbox.schedule(
        session,
        RemuxLiveRecording(recording_id=recording.id),
        now,
        dedupe_key=f"live.remux:{recording.id}:0",
    )
    return recording


async def ready_recordings(session: AsyncSession, room_id: int) -> Sequence[Recording]:
    """The room's replays, oldest first."""
    return (
        await session.scalars(
            select(Recording)
            .where(Recording.room_id == room_id, Recording.status == RecordingStatus.READY)
            .order_by(Recording.recorded_at, Recording.id)
        )
    ).all()


async def replay_file(session: AsyncSession, room_id: int, recording_id: int) -> Path:
    """The MP4 of a ready recording of the room (404 otherwise)."""
    recording = await session.scalar(
        select(Recording).where(
            Recording.id == recording_id,
            Recording.room_id == room_id,
            Recording.status == RecordingStatus.READY,
        )
    )
    if recording is None or recording.file_name is None:
        raise NotFound(N_("No such recording."))
    path = _policy.replays_dir / recording.file_name
    if not path.is_file():
        raise NotFound(N_("No such recording."))
    return path


async def remux(session: AsyncSession, job: RemuxLiveRecording) -> outbox.AfterCommit | None:
    """Claim, commit, remux, record: the attempt is counted and its successor scheduled (the
    claim) in the job's transaction; ffmpeg runs after that commits; the outcome is recorded
    in a short transaction of its own. After MAX_ATTEMPTS the recording is `failed`."""
    recording = await session.get(Recording, job.recording_id, with_for_update=True)
    if recording is None or recording.status != RecordingStatus.PENDING:
        return None
    recordings_dir = _policy.recordings_dir
    if recordings_dir is None:
        # This process was started without LINLI_MEDIA_DIR: fail the job visibly (retried,
        # then dead at /ops/outbox) rather than the recording.
        raise RuntimeError("LINLI_MEDIA_DIR is not set in the process running this job")
    if recording.attempts >= MAX_ATTEMPTS:
        recording.status = RecordingStatus.FAILED
        return None
    recording.attempts += 1
    await outbox.schedule(
        session,
        job,
        clock.now() + CLAIM_WINDOW * recording.attempts,
        dedupe_key=f"live.remux:{recording.id}:{recording.attempts}",
    )
    source = recordings_dir / recording.source_name
    target_name = recording.source_name.removesuffix(".flv") + ".mp4"
    recording_id = recording.id

    async def run_and_record(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        await _remux_and_record(sessionmaker, recording_id, source, target_name)

    return run_and_record


async def _remux_and_record(
    sessionmaker: async_sessionmaker[AsyncSession],
    recording_id: int,
    source: Path,
    target_name: str,
) -> str | None:
    """Remux `source` into the replays directory and record the outcome on the pending
    recording (ready, or the error); the source goes once the replay is recorded. Returns the
    error, if any."""
    outcome = await _remux(source, _policy.replays_dir / target_name)
    async with sessionmaker() as recorded, recorded.begin():
        if isinstance(outcome, str):
            values: dict[str, object] = {"error": outcome[:300]}
            if not await asyncio.to_thread(source.exists):  # nothing will ever come of it
                values["status"] = RecordingStatus.FAILED
        else:
            size, duration_ms = outcome
            values = {
                "status": RecordingStatus.READY,
                "file_name": target_name,
                "bytes": size,
                "duration_ms": duration_ms,
                "error": None,
            }
        await recorded.execute(
            update(Recording)
            .where(Recording.id == recording_id, Recording.status == RecordingStatus.PENDING)
            .values(**values)
        )
    if isinstance(outcome, str):
        return outcome
    await asyncio.to_thread(source.unlink, missing_ok=True)
    return None


async def keep_file(
    sessionmaker: async_sessionmaker[AsyncSession], room_id: int, source: Path
) -> Recording:
    """A recording made outside the media server (the demo city's generated test pattern,
    named as the media server names its files) kept as the room's replay the way the media
    server's are: a pending recording of the room's latest session, remuxed into the replays
    directory, then ready (or failed, with the error)."""
    if SOURCE_NAME.fullmatch(source.name) is None:
        raise ValueError(f"not a recording's name: {source.name}")
    async with sessionmaker() as session, session.begin():
        live_session = await session.scalar(
            select(LiveSession.id)
            .where(LiveSession.room_id == room_id)
            .order_by(LiveSession.started_at.desc(), LiveSession.id.desc())
            .limit(1)
        )
        years = await service.retention_years(session)
        now = clock.now()
        recording = Recording(
            room_id=room_id,
            session_id=live_session,
            source_name=source.name,
            status=RecordingStatus.PENDING,
            attempts=1,
            recorded_at=now,
            retain_until=now + timedelta(days=365 * years),
        )
        session.add(recording)
    target_name = source.name.removesuffix(".flv") + ".mp4"
    if await _remux_and_record(sessionmaker, recording.id, source, target_name) is not None:
        async with sessionmaker() as session, session.begin():  # no job retries this one
            await session.execute(
                update(Recording)
                .where(Recording.id == recording.id, Recording.status == RecordingStatus.PENDING)
                .values(status=RecordingStatus.FAILED)
            )
    async with sessionmaker() as session:
        kept = await session.get(Recording, recording.id)
    assert kept is not None
    return kept


async def _remux(source: Path, target: Path) -> tuple[int, int | None] | str:
    """`source` (FLV) copied into `target` (MP4, index first): its size and duration, or
    why it failed."""
    if not await asyncio.to_thread(source.is_file):
        return f"the recording {source.name} is missing"
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    partial = target.with_suffix(".part.mp4")
    arguments = [
        *("-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(source)),
        *("-c", "copy", "-movflags", "+faststart", str(partial)),
    ]
    try:
        process = await asyncio.create_subprocess_exec(
            _policy.ffmpeg,
            *arguments,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        return f"ffmpeg could not start: {error}"
    try:
        async with asyncio.timeout(REMUX_TIMEOUT):
            _, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        partial.unlink(missing_ok=True)
        return "ffmpeg took too long"
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        return f"ffmpeg exited {process.returncode}: {stderr.decode(errors='replace')[-200:]}"
    await asyncio.to_thread(partial.replace, target)
    size = (await asyncio.to_thread(target.stat)).st_size
    return size, await _duration_ms(target)


async def _duration_ms(path: Path) -> int | None:
    """The MP4's duration by ffprobe (beside ffmpeg), or None when it cannot say."""
    ffprobe = str(Path(_policy.ffmpeg).with_name("ffprobe"))
    try:
        process = await asyncio.create_subprocess_exec(
            ffprobe,
            *("-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(30):
            stdout, _ = await process.communicate()
    except (OSError, TimeoutError):
        return None
    try:
        return round(float(stdout.decode().strip()) * 1000)
    except ValueError:
        return None
