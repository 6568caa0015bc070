"""A room's real-time channel: the events viewers receive, chat with its checks, and the hub
that fans events out to this process's WebSocket connections.

Fan-out across processes goes through the database: a change writes a `live_room_events` row
in its own transaction (`publish`); every process's hub reads the rows newer than the last it
saw (one indexed query for all rooms) and sends each to its connections of that room. A hub
reads when woken and at least once per poll interval: the commit wakes the hubs of its own
process directly, and on PostgreSQL those of every other process through NOTIFY, sent in the
same transaction and heard by one LISTEN connection per hub (`wakeup`); the rows stay the only
source, so a lost notification costs only the wait for the next poll. The same works on SQLite
(one process) and PostgreSQL; nothing is lost when a process restarts (viewers reconnect and
get the room's state in `hello`). The viewer count is the sum of each process's connections
(`live_presence`, refreshed while connected; stale rows ignored).

The stream's statistics come from the same real things: each connection while the room is
open (`live_rooms.connections`, and each logged-in viewer once in `live_room_viewers`), the
highest viewer count while live (`peak_viewers`), and likes, which a process adds up in memory
and writes once per poll interval (one UPDATE and one event per room, however many likes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from linli import clock, ratelimit
from linli.audit import service as audit
from linli.authz import LIVE_MANAGE, Actor
from linli.errors import Conflict, NotFound, TooManyRequests, Unauthenticated, ValidationFailed
from linli.i18n import N_
from linli.live import wakeup
from linli.live.models import (
    ChatMessage,
    LiveSession,
    Mute,
    Presence,
    Room,
    RoomEvent,
    RoomViewer,
)
from linli.live.policies import access_managed_room
from linli.live.states import OPEN_STATUSES, RoomStatus
from linli.rules import service as rules

log = logging.getLogger(__name__)
RULE = "live.commerce"
MAX_FRAME = 4096  # bytes of one incoming WebSocket message, before it is parsed
PRESENCE_FRESH = timedelta(seconds=60)
PRESENCE_REFRESH = 20.0  # seconds
# Likes per viewer and room in a minute: enough for a tapping thumb, not for a script. Not a
# legal figure (chat's limits are rule data, live.commerce).
LIKES_PER_MINUTE = 120
# A room's viewer count goes out at most once a second per process: each connect and leave
# told at once would be O(viewers²) frames while a crowd arrives (1,000 viewers: 500,000).
VIEWERS_EVERY = 1.0  # seconds
ON_AIR = (RoomStatus.LIVE, RoomStatus.PAUSED)


def publish(session: AsyncSession, room_id: int, kind: str, **payload: Any) -> None:
    """Tell the room's viewers (every process) once this transaction commits: this process's
    hubs poll at once after the commit; on PostgreSQL the transaction NOTIFYs the others'
    (`wakeup`), which otherwise read the row at their next poll."""
    session.add(RoomEvent(room_id=room_id, kind=kind, payload=payload, at=clock.now()))
    if not session.info.get(_WAKE_ON_COMMIT):
        session.info[_WAKE_ON_COMMIT] = True
        event.listen(session.sync_session, "before_commit", wakeup.notify_on_commit, once=True)
        event.listen(session.sync_session, "after_commit", _wake_hubs, once=True)


_WAKE_ON_COMMIT = "linli_live_wake_on_commit"
_HUBS: weakref.WeakSet[Hub] = weakref.WeakSet()  # this process's hubs


def _wake_hubs(session: Session) -> None:
    """After a commit that published room events: the hubs running on this event loop over the
    same engine poll now (a REST pin would otherwise wait for the next poll). A hub over
    another engine stands for another process (as in the tests) and hears of it by NOTIFY."""
    session.info.pop(_WAKE_ON_COMMIT, None)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    pool = session.get_bind().engine.pool  # shared by the engine's execution_options() copies
    for hub in list(_HUBS):
        if hub.running_on(loop) and hub.pool is pool:
            hub.wake()


# --- chat -----------------------------------------------------------------------------------


def _has_control_characters(text: str) -> bool:
    return any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text)


async def post_chat(session: AsyncSession, actor: Actor, room_id: int, text: Any) -> ChatMessage:
    """A viewer's chat message: logged in, not muted, within the rate and length limits of
    rule `live.commerce`, no control characters, while the room is open."""
    if actor.user is None:
        raise Unauthenticated(N_("Log in to chat."), code="login_required")
    rule = await rules.in_force(session, RULE)
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed(N_("Write a message."), code="chat_empty")
    text = text.strip()
    if len(text) > int(rule.values["chat_max_chars"]):
        raise ValidationFailed(
            N_("A chat message has at most {limit} characters."),
            limit=int(rule.values["chat_max_chars"]),
            code="chat_too_long",
        )
    if _has_control_characters(text):
        raise ValidationFailed(
            N_("Control characters are not allowed."), code="chat_control_characters"
        )
    status = await session.scalar(select(Room.status).where(Room.id == room_id))
    if status not in OPEN_STATUSES:
        raise Conflict(N_("The chat of this room is closed."), code="chat_closed")
    now = clock.now()
    muted = await session.scalar(
        select(Mute.until).where(
            Mute.room_id == room_id, Mute.user_id == actor.user.id, Mute.until > now
        )
    )
    if muted is not None:
        raise Conflict(N_("You are muted in this room."), code="muted")
    hit = await ratelimit.hit(
        session,
        "live.chat",
        f"{room_id}:{actor.user.id}",
        limit=int(rule.values["chat_per_minute"]),
        window=timedelta(minutes=1),
    )
    if hit.exceeded:
        raise TooManyRequests(N_("Too many messages: wait a moment."), code="chat_rate_limited")
    open_session = await session.scalar(
        select(LiveSession.id).where(LiveSession.room_id == room_id, LiveSession.ended_at.is_(None))
    )
    message = ChatMessage(
        room_id=room_id, session_id=open_session, user_id=actor.user.id, text=text, at=now
    )
    session.add(message)
    await session.flush()
    publish(
        session,
        room_id,
        "chat",
        id=message.id,
        user=actor.user.display_name,
        text=text,
        at=now.isoformat(),
    )
    return message


# --- the stream's statistics ----------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def count_viewer(session: AsyncSession, room_id: int, user_id: int | None) -> None:
    """A connection to the room while it is open; a logged-in viewer is also counted once."""
    opened = await session.scalar(
        update(Room)
        .where(Room.id == room_id, Room.status.in_(OPEN_STATUSES))
        .values(connections=Room.connections + 1)
        .returning(Room.id)
        .execution_options(synchronize_session=False)
    )
    if opened is None or user_id is None:
        return
    await session.execute(
        _insert(session)(RoomViewer)
        .values(room_id=room_id, user_id=user_id, first_seen_at=clock.now())
        .on_conflict_do_nothing(index_elements=[RoomViewer.room_id, RoomViewer.user_id])
    )


async def check_like(session: AsyncSession, actor: Actor, room_id: int) -> None:
    """A viewer may like: logged in, the room on air, within LIKES_PER_MINUTE. The like itself
    is added up by the hub (`Hub.add_like`) and written with the others of the interval."""
    if actor.user is None:
        raise Unauthenticated(N_("Log in to like."), code="login_required")
    status = await session.scalar(select(Room.status).where(Room.id == room_id))
    if status not in ON_AIR:
        raise Conflict(N_("The room is not live."), code="room_not_live")
    hit = await ratelimit.hit(
        session,
        "live.like",
        f"{room_id}:{actor.user.id}",
        limit=LIKES_PER_MINUTE,
        window=timedelta(minutes=1),
    )
    if hit.exceeded:
        raise TooManyRequests(N_("Too many likes: wait a moment."), code="likes_rate_limited")


async def add_likes(session: AsyncSession, room_id: int, likes: int) -> None:
    """Add likes to a room on air and tell its viewers the new total (a room off air takes
    none: likes that arrive after its end are dropped)."""
    total = await session.scalar(
        update(Room)
        .where(Room.id == room_id, Room.status.in_(ON_AIR))
        .values(likes=Room.likes + likes)
        .returning(Room.likes)
        .execution_options(synchronize_session=False)
    )
    if total is not None:
        publish(session, room_id, "likes", count=int(total))


# --- the hub --------------------------------------------------------------------------------


@dataclass(eq=False)
class Connection:
    room_id: int
    send: Callable[[dict[str, Any]], Any]  # an async function taking one message
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(256))


@dataclass(eq=False)
class Hub:
    """This process's connections by room, and the poller that feeds them. On PostgreSQL it
    also holds a `wakeup.Listener` while running: another process's commit that published
    room events wakes the poll at once."""

    sessionmaker: async_sessionmaker[AsyncSession]
    poll_interval: float = 0.2
    process_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    rooms: dict[int, set[Connection]] = field(default_factory=dict)
    last_id: int | None = None
    pending_likes: dict[int, int] = field(default_factory=dict)  # room -> likes not yet written
    viewers_told: dict[int, float] = field(default_factory=dict)  # room -> when (loop time)
    viewers_due: set[int] = field(default_factory=set)  # rooms whose count changed since
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _stopping: bool = False
    pool: Pool = field(init=False)  # the engine's: commits through it wake this hub directly
    listener: wakeup.Listener | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        _HUBS.add(self)
        engine = self.sessionmaker.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("a Hub's sessionmaker is bound to one AsyncEngine")
        self.pool = engine.sync_engine.pool
        if engine.dialect.name == "postgresql":
            self.listener = wakeup.Listener(wakeup.connect_args(engine), self.wake)

    def running_on(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self._task is not None and not self._task.done() and self._task.get_loop() is loop

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run())
        if self.listener is not None:
            self.listener.start()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self.listener is not None:
            await self.listener.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # the database may be gone at shutdown
            await self.write_likes()

    def wake(self) -> None:
        """Poll now (a change was committed: in this process, or in another one on
        PostgreSQL). Wakes while a poll runs make one more poll after it."""
        self._wake.set()

    def add_like(self, room_id: int) -> None:
        """A checked like (`check_like`), written with the others at the next poll."""
        self.pending_likes[room_id] = self.pending_likes.get(room_id, 0) + 1

    async def write_likes(self) -> None:
        """The likes added since the last write: one UPDATE and one event per room."""
        pending, self.pending_likes = self.pending_likes, {}
        if not pending:
            return
        async with self.sessionmaker() as session:
            for room_id, likes in pending.items():
                await add_likes(session, room_id, likes)
            await session.commit()

    async def join(self, connection: Connection) -> int:
        if self.last_id is None:
            async with self._lock:
                if self.last_id is None:  # events from now on (a viewer gets the state in hello)
                    async with self.sessionmaker() as session:
                        newest = await session.scalar(select(func.max(RoomEvent.id)))
                    self.last_id = int(newest or 0)
        self.ensure_running()
        self.rooms.setdefault(connection.room_id, set()).add(connection)
        return await self._presence(connection.room_id)

    async def leave(self, connection: Connection) -> None:
        viewers = self.rooms.get(connection.room_id)
        if viewers is not None:
            viewers.discard(connection)
            if not viewers:
                del self.rooms[connection.room_id]
        with contextlib.suppress(Exception):  # the database may be gone at shutdown
            await self._presence(connection.room_id)

    async def _presence(self, room_id: int) -> int:
        """Record this process's viewers of the room and return the room's total; tell every
        viewer the total, unless they were told less than VIEWERS_EVERY ago (then the poll
        loop tells them when that time is up)."""
        local = len(self.rooms.get(room_id, ()))
        async with self.sessionmaker() as session:
            now = clock.now()
            statement = _insert(session)(Presence).values(
                room_id=room_id, process_id=self.process_id, viewers=local, updated_at=now
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[Presence.room_id, Presence.process_id],
                    set_={"viewers": local, "updated_at": now},
                )
            )
            total = int(
                await session.scalar(
                    select(func.coalesce(func.sum(Presence.viewers), 0)).where(
                        Presence.room_id == room_id,
                        Presence.updated_at > now - PRESENCE_FRESH,
                    )
                )
                or 0
            )
            told = self.viewers_told.get(room_id)
            moment = asyncio.get_running_loop().time()
            if told is None or moment - told >= VIEWERS_EVERY:
                publish(session, room_id, "viewers", count=total)
                self.viewers_told[room_id] = moment
                self.viewers_due.discard(room_id)
            else:
                self.viewers_due.add(room_id)
            await session.execute(
                update(Room)
                .where(Room.id == room_id, Room.status.in_(ON_AIR), Room.peak_viewers < total)
                .values(peak_viewers=total)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
        return total

    async def poll_once(self) -> int:
        """Deliver the events written since the last poll to this process's connections."""
        if self.last_id is None:
            return 0
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(RoomEvent)
                    .where(RoomEvent.id > self.last_id)
                    .order_by(RoomEvent.id)
                    .limit(1000)
                )
            ).all()
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            message = {"type": row.kind, "room_id": row.room_id, **row.payload}
            for connection in list(self.rooms.get(row.room_id, ())):
                try:
                    connection.queue.put_nowait(message)
                except asyncio.QueueFull:
                    # A viewer too slow to keep up: what waits is dropped, and the client is
                    # told to fetch the room again (GET /api/v1/live/rooms/{room_id}).
                    while not connection.queue.empty():
                        connection.queue.get_nowait()
                    connection.queue.put_nowait({"type": "resync", "room_id": row.room_id})
        return len(rows)

    async def _run(self) -> None:
        refreshed = asyncio.get_running_loop().time()
        while not self._stopping:
            # Cleared before the poll, not after it: a wake arriving while the poll runs (an
            # event committed after its SELECT) makes the wait below return at once.
            self._wake.clear()
            try:
                await self.write_likes()
                await self.poll_once()
                now = asyncio.get_running_loop().time()
                if now - refreshed > PRESENCE_REFRESH:
                    refreshed = now
                    for room_id in list(self.rooms):
                        await self._presence(room_id)
                for room_id in list(self.viewers_due):
                    if now - self.viewers_told.get(room_id, 0.0) >= VIEWERS_EVERY:
                        await self._presence(room_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live channel poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)


# --- moderation -----------------------------------------------------------------------------


async def remove_message(
    session: AsyncSession,
    actor: Actor,
    room_id: int,
    message_id: int,
    reason: str,
    note: str,
    *,
    leader: bool = False,
) -> ChatMessage:
    """The room's owner (its merchant, or `leader`: the group leader) removes a chat message
    with a recorded reason (one of `RemovalReason`: a negative comment about the goods is not
    a reason to remove)."""
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    message = await session.scalar(
        select(ChatMessage).where(ChatMessage.id == message_id, ChatMessage.room_id == room.id)
    )
    if message is None:
        raise NotFound(N_("No such chat message."), code="message_not_found")
    if message.removed_at is not None:
        raise Conflict(N_("This message was removed already."), code="message_removed")
    message.removed_at = clock.now()
    message.removed_reason = f"{reason}: {note}" if note else reason
    message.removed_by_user_id = actor.user_id
    await session.flush()
    publish(session, room.id, "removed", id=message.id)
    audit.record(
        session,
        actor,
        "live.chat_removed",
        target_type="live_chat_message",
        target_id=message.id,
        room_id=room.id,
        reason=reason,
        note=note,
        text=message.text,
    )
    return message


async def mute(
    session: AsyncSession,
    actor: Actor,
    room_id: int,
    user_id: int,
    minutes: int,
    reason: str,
    *,
    leader: bool = False,
) -> Mute:
    """The room's owner (its merchant, or `leader`: the group leader) mutes a viewer who
    wrote in the room's chat for a while, with a reason."""
    room = await access_managed_room(session, actor, room_id, LIVE_MANAGE, leader=leader)
    chatted = await session.scalar(
        select(ChatMessage.id)
        .where(ChatMessage.room_id == room.id, ChatMessage.user_id == user_id)
        .limit(1)
    )
    if chatted is None:
        raise ValidationFailed(
            N_("Check the form."),
            fields={"user_id": N_("Choose a viewer who wrote in this room's chat.")},
        )
    until = clock.now() + timedelta(minutes=minutes)
    row = await session.get(Mute, (room.id, user_id))
    if row is None:
        row = Mute(room_id=room.id, user_id=user_id, until=until, reason=reason)
        session.add(row)
    row.until, row.reason, row.by_user_id = until, reason, actor.user_id
    await session.flush()
    audit.record(
        session,
        actor,
        "live.viewer_muted",
        target_type="live_room",
        target_id=room.id,
        user=user_id,
        minutes=minutes,
        reason=reason,
    )
    return row
