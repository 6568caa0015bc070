"""The signalling relay of online session rooms: this process's connections by slot, and the
WebRTC offers, answers and ICE candidates passed between them (a star: the practitioner and
each client; two clients never signal each other, nor learn who else attends).

The media go peer-to-peer between the browsers; only these small JSON messages pass through
the server. The relay is held in the process: both parties of a room must reach the same
server process (docs/services.md, "Session room").
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from typing import Any

CLIENT, PRACTITIONER = "client", "practitioner"
QUEUE = 256  # messages waiting for one connection before it is dropped as too slow


@dataclass(eq=False)
class Peer:
    slot_id: int
    user_id: int
    role: str
    name: str
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "name": self.name}

    def may_signal(self, other: Peer) -> bool:
        """A star: the practitioner and a client, either way; never two clients."""
        return other is not self and PRACTITIONER in (self.role, other.role)

    def put(self, message: dict[str, Any]) -> bool:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True


@dataclass(eq=False)
class Relay:
    rooms: dict[int, dict[str, Peer]] = field(default_factory=dict)

    def join(self, peer: Peer) -> list[Peer]:
        """Add `peer`; tell the peers it may signal; return them."""
        room = self.rooms.setdefault(peer.slot_id, {})
        others = [p for p in room.values() if peer.may_signal(p)]
        room[peer.id] = peer
        for other in others:
            other.put({"type": "joined", "peer": peer.public()})
        return others

    def leave(self, peer: Peer) -> None:
        room = self.rooms.get(peer.slot_id, {})
        if room.pop(peer.id, None) is None:
            return
        if not room:
            self.rooms.pop(peer.slot_id, None)
        for other in room.values():
            if peer.may_signal(other):
                other.put({"type": "left", "peer": peer.id})

    def signal(self, sender: Peer, to: str, data: Any) -> bool:
        """Pass `data` to the peer `to` of the same room, if the star allows; False else."""
        target = self.rooms.get(sender.slot_id, {}).get(to)
        if target is None or not sender.may_signal(target):
            return False
        return target.put({"type": "signal", "from": sender.id, "data": data})

    def connected(self, slot_id: int) -> int:
        return len(self.rooms.get(slot_id, {}))
