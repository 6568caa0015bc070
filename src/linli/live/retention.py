"""The end of a room's retention (rule `live.commerce` `retention_years`, 2021 Measures: live
content and records kept at least 3 years after the stream): the daily due job
`live.purge_records` deletes what was kept only for that period, never before.

- **Replays.** A recording (ready or failed) whose own `retain_until` and its room's have
  passed is marked `purged` in the job's transaction; its files (the MP4 in the replays
  directory, the media server's FLV if one is left) are deleted only after that has committed,
  then `files_removed_at` is set in a short transaction of its own. So a row never points at a
  deleted file as `ready` (it is `purged` first: the replay is no longer served), and a crash
  between the commit and the deletion leaks nothing for good: every run deletes the files of
  purged recordings whose `files_removed_at` is still empty. A pending recording waits until
  its remux has settled it.
- **The room's live content.** Its chat messages, its channel events (`live_room_events`:
  chat texts, display names) and its mutes are deleted, and the room gets `purged_at`. What
  the statistics are counted from stays: the room's counters (connections, peak viewers,
  likes), its logged-in viewers, sessions, pins, goods and orders (orders are transaction
  records, kept and erased with the account as docs/privacy.md says).

Each room purged is audited (`live.records_purged`, by the system) with what went.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.jobs import PurgeLiveRecords
from linli.live import recordings
from linli.live.models import ChatMessage, Mute, Presence, Recording, Room, RoomEvent
from linli.live.states import RecordingStatus

log = logging.getLogger(__name__)

PURGE_EVERY = timedelta(days=1)
# Files deleted per run at most (a backlog is worked off by the next runs).
FILES_PER_RUN = 500


@dataclass
class Purged:
    rooms: list[int] = field(default_factory=list)
    recordings: list[int] = field(default_factory=list)
    chat_messages: int = 0
    events: int = 0


async def purge_expired(session: AsyncSession) -> Purged:
    """Mark the recordings past their retention `purged` and delete the live content of the
    rooms past theirs (in the caller's transaction). The files go in `remove_files`, after
    the commit."""
    now = clock.now()
    done = Purged()
    expired_rooms = select(Room.id).where(Room.retain_until.is_not(None), Room.retain_until <= now)
    marked = (
        await session.execute(
            update(Recording)
            .where(
                Recording.status.in_((RecordingStatus.READY, RecordingStatus.FAILED)),
                Recording.retain_until <= now,
                Recording.room_id.in_(expired_rooms),
            )
            .values(status=RecordingStatus.PURGED, purged_at=now)
            .returning(Recording.id, Recording.room_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    by_room: dict[int, list[int]] = defaultdict(list)
    for recording_id, room_id in sorted(marked):
        by_room[room_id].append(recording_id)
        done.recordings.append(recording_id)
    rooms = (
        await session.execute(
            select(Room.id, Room.organisation_id, Room.retain_until)
            .where(Room.id.in_(expired_rooms), Room.purged_at.is_(None))
            .order_by(Room.id)
        )
    ).all()
    organisation_of = {room_id: organisation_id for room_id, organisation_id, _ in rooms}
    for room_id, organisation_id, retain_until in rooms:
        claimed = await session.scalar(
            update(Room)
            .where(Room.id == room_id, Room.purged_at.is_(None))
            .values(purged_at=now)
            .returning(Room.id)
            .execution_options(synchronize_session=False)
        )
        if claimed is None:  # another run took it meanwhile
            continue
        chat = await _delete_counted(session, ChatMessage, room_id)
        events = await _delete_counted(session, RoomEvent, room_id)
        await session.execute(delete(Mute).where(Mute.room_id == room_id))
        await session.execute(delete(Presence).where(Presence.room_id == room_id))
        done.rooms.append(room_id)
        done.chat_messages += chat
        done.events += events
        _audit(
            session,
            room_id,
            organisation_id,
            recording_ids=by_room.pop(room_id, []),
            chat_messages=chat,
            events=events,
            retain_until=retain_until,
        )
    # Recordings of rooms purged by an earlier run (a recording's own period ran later).
    if by_room:
        owners = dict(
            (
                await session.execute(
                    select(Room.id, Room.organisation_id).where(Room.id.in_(list(by_room)))
                )
            ).all()
        )
        organisation_of.update(owners)
        for room_id, ids in by_room.items():
            _audit(session, room_id, organisation_of[room_id], recording_ids=ids)
    return done


async def _delete_counted(
    session: AsyncSession, kept: type[ChatMessage] | type[RoomEvent], room_id: int
) -> int:
    """Delete the room's rows of `kept` (its chat messages or channel events); how many went."""
    deleted = await session.execute(
        delete(kept)
        .where(kept.room_id == room_id)
        .returning(kept.id)
        .execution_options(synchronize_session=False)
    )
    return len(deleted.all())


def _audit(
    session: AsyncSession,
    room_id: int,
    organisation_id: int | None,
    *,
    recording_ids: Sequence[int],
    chat_messages: int = 0,
    events: int = 0,
    retain_until: datetime | None = None,
) -> None:
    audit.record(
        session,
        Actor.for_system(),
        "live.records_purged",
        target_type="live_room",
        target_id=room_id,
        organisation_id=organisation_id,
        recordings=list(recording_ids),
        chat_messages=chat_messages,
        events=events,
        retain_until=retain_until.isoformat() if retain_until else None,
    )


def _files_of(recording: Recording, policy: recordings.MediaPolicy) -> list[Path]:
    found = []
    if recording.file_name:
        found.append(policy.replays_dir / recording.file_name)
    if policy.recordings_dir is not None:
        found.append(policy.recordings_dir / recording.source_name)
    return found


def _unlink(paths: Sequence[Path]) -> str | None:
    """Delete the files (a missing one is already gone); why not, when one could not be."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            return f"{path.name}: {error}"
    return None


async def remove_files(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Delete the files of purged recordings not yet removed (this run's and any an earlier
    run left behind), then record that they are gone. Returns how many recordings' files
    went."""
    policy = recordings.policy()
    async with sessionmaker() as session:
        waiting = (
            await session.scalars(
                select(Recording)
                .where(
                    Recording.status == RecordingStatus.PURGED,
                    Recording.files_removed_at.is_(None),
                )
                .order_by(Recording.id)
                .limit(FILES_PER_RUN)
            )
        ).all()
        paths = {recording.id: _files_of(recording, policy) for recording in waiting}
    removed = []
    for recording_id, files in paths.items():
        problem = await asyncio.to_thread(_unlink, files)
        if problem is None:
            removed.append(recording_id)
        else:
            log.warning("live recording %s: files not deleted: %s", recording_id, problem)
    if removed:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(removed), Recording.files_removed_at.is_(None))
                .values(files_removed_at=clock.now())
                .execution_options(synchronize_session=False)
            )
    return len(removed)


async def run(session: AsyncSession) -> outbox.AfterCommit:
    """The job: purge, schedule the next run (also the retry of files left behind), and delete
    the files once this transaction has committed."""
    await purge_expired(session)
    await ensure_purge_scheduled(session)

    async def after(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        await remove_files(sessionmaker)

    return after


async def ensure_purge_scheduled(session: AsyncSession) -> None:
    """The next daily purge (one pending at a time: its dedupe key)."""
    await outbox.schedule(
        session,
        PurgeLiveRecords(),
        clock.now() + PURGE_EVERY,
        dedupe_key=PurgeLiveRecords.job_kind,
    )
