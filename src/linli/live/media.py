"""The media server's callbacks (nginx with the RTMP module, docs/live.md "Video"): a
publisher is let in only with the stream key of an open session of a live or paused room;
its stream is renamed `room-<id>` (a 302 to that name), so the key never appears in HLS
URLs (the ingest application pushes the renamed stream to the one that makes HLS and
records: nginx-rtmp's HLS would otherwise name its files after the key); when the publisher
stops, the room pauses (encoders drop and reconnect: a dropped connection does not end the
sale at once) and the stream counts as lost; if it is still paused and nothing published again
after `stream_lost_end_minutes` (rule `live.commerce`), the due job `live.stream_lost` ends the
room (its session ends, its stream stock goes back, once). The merchant may end it sooner, and
the room's scheduled end is the last backstop.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import Forbidden
from linli.i18n import N_
from linli.jobs import LiveStreamLost
from linli.live import channel, service
from linli.live.models import LiveSession, Room
from linli.live.states import RoomStatus
from linli.rules import service as rules
from linli.security import token_digest

MAX_KEY = 128


def check_callback_secret(given: str | None, expected: str) -> None:
    """A callback that names no stream key (`on_record_done`) must carry the deployment's
    media callback secret (`Settings.media_callback_secret`, in the URL nginx calls)."""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden(N_("Wrong media server secret."), code="media_secret_refused")


def stream_name(room_id: int) -> str:
    return f"room-{room_id}"


async def _session_of(session: AsyncSession, key: str | None) -> tuple[LiveSession, Room]:
    if not key or len(key) > MAX_KEY or not key.isascii():
        raise Forbidden(N_("Wrong or expired stream key."), code="stream_key_refused")
    found = (
        await session.execute(
            select(LiveSession, Room)
            .join(Room, Room.id == LiveSession.room_id)
            .where(
                LiveSession.stream_key_digest == token_digest(key),
                LiveSession.ended_at.is_(None),
                Room.status.in_((RoomStatus.LIVE, RoomStatus.PAUSED)),
                Room.scheduled_end > clock.now(),
            )
        )
    ).first()
    if found is None:
        raise Forbidden(N_("Wrong or expired stream key."), code="stream_key_refused")
    return found[0], found[1]


async def authorise_publish(session: AsyncSession, key: str | None) -> int:
    """`on_publish`: the room whose session the key opens (403 otherwise)."""
    live_session, room = await _session_of(session, key)
    room.stream_lost_at = None  # the stream is back: no grace period runs out
    audit.record(
        session,
        Actor.for_system(),
        "live.publish_started",
        target_type="live_room",
        target_id=room.id,
        organisation_id=room.organisation_id,
        session_id=live_session.id,
    )
    return room.id


# The documented value (docs/live.md, rule `live.commerce` version 2), for a version in force
# that lacks it (one made from version 1's values) or holds no positive whole number.
DEFAULT_STREAM_LOST_END_MINUTES = 30


def stream_lost_end_minutes(values: Mapping[str, object]) -> int:
    """The grace period's minutes from a `live.commerce` version's values, the documented
    default when the version lacks them: a lost stream always ends its room."""
    found = values.get("stream_lost_end_minutes")
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        return DEFAULT_STREAM_LOST_END_MINUTES
    return found


async def grace_period(session: AsyncSession) -> timedelta:
    rule = await rules.in_force(session, service.RULE)
    return timedelta(minutes=stream_lost_end_minutes(rule.values))


async def publish_done(session: AsyncSession, key: str | None) -> int:
    """`on_publish_done`: a live room pauses (nothing sells without the picture) and its
    stream counts as lost; the grace period's due job ends it unless a stream came back."""
    live_session, room = await _session_of(session, key)
    if room.status == RoomStatus.LIVE:
        room.status = RoomStatus.PAUSED
        channel.publish(session, room.id, "status", status=str(RoomStatus.PAUSED))
    now = clock.now()
    room.stream_lost_at = now
    await session.flush()
    await outbox.schedule(
        session,
        LiveStreamLost(room_id=room.id, lost_at=now.isoformat()),
        now + await grace_period(session),
    )
    audit.record(
        session,
        Actor.for_system(),
        "live.publish_stopped",
        target_type="live_room",
        target_id=room.id,
        organisation_id=room.organisation_id,
        session_id=live_session.id,
    )
    return room.id


async def end_lost_stream(session: AsyncSession, room_id: int, lost_at: str) -> bool:
    """The grace period after a stream was lost has passed: the room ends (by the system,
    reason `stream_lost`) if it is still paused and no stream came back since. True when it
    ended it."""
    room = await session.get(Room, room_id, populate_existing=True)
    if room is None or room.status != RoomStatus.PAUSED or room.stream_lost_at is None:
        return False
    if room.stream_lost_at != datetime.fromisoformat(lost_at):
        return False  # a stream came back since (and may have been lost again: its own job)
    await service.finish_by_system(session, room, reason="stream_lost")
    return True
