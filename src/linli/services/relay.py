"""The signalling relay of online session rooms: WebRTC offers, answers and ICE candidates, and
who joins and leaves, passed between a room's connections in every server process (a star: the
practitioner and each client; two clients never signal each other, nor learn who else attends).

The media go browser to browser; only these small JSON messages pass through the servers, as
rows of `services_room_signals`: the process serving the sender writes one, and every process
with connections to that room reads the rows newer than the last it saw (one indexed query per
poll interval for all its rooms, at once after a write of its own). A connection's id is its
attendance row's; the room's other connections are the attendance rows still open and seen
lately (room.SEEN_FRESH), so a process that died leaves no ghost peers. Rows older than KEEP
are deleted as the poller goes. The poller runs while the process has connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linli import clock
from linli.accounts.models import User
from linli.services.models import RoomAttendance, RoomSignal
from linli.services.room import CLIENT, PRACTITIONER, SEEN_FRESH

log = logging.getLogger(__name__)
QUEUE = 256  # messages waiting for one connection before more are dropped (it is too slow)
KEEP = timedelta(minutes=10)  # signals are read within a poll interval; kept this long
PRUNE_EVERY = 60.0  # seconds
__all__ = ["CLIENT", "PRACTITIONER", "Peer", "Relay"]


def star(role: str, other_role: str) -> bool:
    """Who may signal whom: the practitioner and a client, either way; never two clients."""
    return PRACTITIONER in (role, other_role)


@dataclass(eq=False)
class Peer:
    slot_id: int
    attendance_id: int
    role: str
    name: str
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))

    @property
    def id(self) -> str:
        return str(self.attendance_id)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "name": self.name}

    def put(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(message)


@dataclass(eq=False)
class Relay:
    """This process's connections to session rooms, and the poller that feeds them."""

    sessionmaker: async_sessionmaker[AsyncSession]
    poll_interval: float = 0.2
    peers: dict[int, Peer] = field(default_factory=dict)  # by attendance id
    last_id: int | None = None
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pruned: float = 0.0
    _connecting: int = 0  # between `ready` and `join` (or `abort`)

    async def _send(self, sender: Peer, payload: dict[str, Any], to: int | None = None) -> None:
        async with self.sessionmaker() as session:
            session.add(
                RoomSignal(
                    slot_id=sender.slot_id,
                    from_peer=sender.attendance_id,
                    from_role=sender.role,
                    to_peer=to,
                    payload=payload,
                    at=clock.now(),
                )
            )
            await session.commit()
        self._wake.set()

    async def ready(self) -> None:
        """Before a connection's attendance row is written (nothing can be addressed to it
        before): an idle process reads signals from now on, not the ones of its last use."""
        async with self._lock:
            if self.last_id is None or (not self.peers and not self._connecting):
                async with self.sessionmaker() as session:
                    newest = await session.scalar(select(func.max(RoomSignal.id)))
                self.last_id = int(newest or 0)
            self._connecting += 1

    def abort(self) -> None:
        """The connection prepared by `ready` was refused."""
        self._connecting -= 1

    async def join(self, peer: Peer) -> list[dict[str, Any]]:
        """Add `peer` (`ready` first, then its attendance row committed); tell the room;
        return the connections it may signal."""
        async with self._lock:
            self._connecting -= 1
            self.peers[peer.attendance_id] = peer
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._run())
        async with self.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(RoomAttendance.id, RoomAttendance.role, User.display_name)
                    .join(User, User.id == RoomAttendance.user_id)
                    .where(
                        RoomAttendance.slot_id == peer.slot_id,
                        RoomAttendance.id != peer.attendance_id,
                        RoomAttendance.left_at.is_(None),
                        RoomAttendance.seen_at > clock.now() - SEEN_FRESH,
                    )
                    .order_by(RoomAttendance.id)
                )
            ).all()
        await self._send(peer, {"type": "joined", "peer": peer.public()})
        return [
            {"id": str(row_id), "role": role, "name": name}
            for row_id, role, name in rows
            if star(peer.role, role)
        ]

    async def leave(self, peer: Peer) -> None:
        if self.peers.pop(peer.attendance_id, None) is None:
            return
        with contextlib.suppress(Exception):  # the database may be gone at shutdown
            await self._send(peer, {"type": "left", "peer": peer.id})

    async def signal(self, sender: Peer, to: str, data: Any) -> bool:
        """Pass `data` to the connection `to` of the same room, if it is open and the star
        allows; False else."""
        if not to.isdigit() or len(to) > 18:
            return False
        target = int(to)
        local = self.peers.get(target)
        if local is not None:
            role: str | None = local.role if local.slot_id == sender.slot_id else None
        else:
            async with self.sessionmaker() as session:
                role = await session.scalar(
                    select(RoomAttendance.role).where(
                        RoomAttendance.id == target,
                        RoomAttendance.slot_id == sender.slot_id,
                        RoomAttendance.left_at.is_(None),
                    )
                )
        if role is None or target == sender.attendance_id or not star(sender.role, role):
            return False
        await self._send(sender, {"type": "signal", "from": sender.id, "data": data}, to=target)
        return True

    async def poll_once(self) -> int:
        """Deliver the signals written since the last poll to this process's connections."""
        slots = {p.slot_id for p in self.peers.values()}
        if self.last_id is None or not slots:
            return 0
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(RoomSignal)
                    .where(RoomSignal.id > self.last_id, RoomSignal.slot_id.in_(slots))
                    .order_by(RoomSignal.id)
                    .limit(1000)
                )
            ).all()
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            if row.to_peer is not None:
                target = self.peers.get(row.to_peer)
                if target is not None and target.slot_id == row.slot_id:
                    target.put(row.payload)
                continue
            for peer in list(self.peers.values()):
                if (
                    peer.slot_id == row.slot_id
                    and peer.attendance_id != row.from_peer
                    and star(peer.role, row.from_role)
                ):
                    peer.put(row.payload)
        return len(rows)

    async def prune(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(delete(RoomSignal).where(RoomSignal.at < clock.now() - KEEP))
            await session.commit()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.peers:
            try:
                await self.poll_once()
                if loop.time() - self._pruned > PRUNE_EVERY:
                    self._pruned = loop.time()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("services room relay poll failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
