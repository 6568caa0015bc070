"""Group commit in one server process: requests that arrive while a batch of their kind (one
campaign item's orders, one provider's payment notifications) is running wait in a queue;
when it has finished, the first of them runs the next batch with every request waiting
behind it, in ONE statement and ONE commit, and only then is each request answered.

A domain supplies what a batch does (`run`: a session and the requests in arrival order in,
one answer per request out) and which request may join a batch (`joins`: a request that may
not starts the next one, so arrival order is kept). This module keeps the queues, the
hand-over from one batch to the next, and what happens to a request whose client went away
while it waited. A request the batch could not answer gets `ALONE`: its caller then takes the
one-request path, in its own session. A batch whose `run` raises is rolled back and all of its
requests get `ALONE`: one failing request never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

R = TypeVar("R")


class _Lead:
    """The answer that makes a waiting request the one to run the next batch."""


class _Alone:
    """The answer that sends a request down the one-request path."""


LEAD, ALONE = _Lead(), _Alone()


@dataclass
class _Waiting(Generic[R]):
    request: R
    answer: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class Queue(Generic[R]):
    """The requests of one key waiting in this process, and whether a batch of it runs."""

    waiting: deque[_Waiting[R]] = field(default_factory=deque)
    busy: bool = False

    def hand_over(self) -> None:
        """The batch has finished: the first waiting request runs the next, or the queue
        idles."""
        while self.waiting:
            first = self.waiting[0]
            if not first.answer.done():
                first.answer.set_result(LEAD)
                return
            self.waiting.popleft()
        self.busy = False


class GroupCommit(Generic[R]):
    """Queues of requests by key, for a database (keys are per engine), run in batches."""

    def __init__(
        self,
        name: str,
        run: Callable[[AsyncSession, Sequence[R]], Awaitable[Sequence[Any]]],
        joins: Callable[[Sequence[R], R], bool],
    ) -> None:
        self.name = name
        self._run = run
        self._joins = joins
        self._queues: dict[tuple[int, Hashable], Queue[R]] = {}

    def queue_of(self, engine: Any, key: Hashable) -> Queue[R]:
        """The queue of `key` in this process, for a database (its sync Engine)."""
        return self._queues.setdefault((id(engine), key), Queue())

    async def submit(self, session: AsyncSession, key: Hashable, request: R, cap: int) -> Any:
        """The request's answer: what its batch's `run` answered for it (a batch of one when
        nothing of its key runs), or `ALONE`. The session's transaction is ended by then:
        committed by the batch this request led, or before waiting (the caller's work so far
        in it is committed: a waiting request gives its connection back to the pool, so
        that batches are not bounded by the pool)."""
        queue = self.queue_of(session.get_bind(), key)
        me = _Waiting(request)
        if queue.busy:
            await session.commit()
        # Asked again: the batch may have finished while the commit was awaited.
        queue.waiting.append(me)
        if not queue.busy:
            queue.busy = True
            return await self._lead(queue, me, session, cap)
        try:
            answer = await me.answer
        except asyncio.CancelledError:
            led = me.answer.done() and not me.answer.cancelled() and me.answer.result() is LEAD
            if me in queue.waiting:
                queue.waiting.remove(me)
            if led:
                queue.hand_over()  # it was to run the next batch: the next in line does
            raise
        if answer is LEAD:
            return await self._lead(queue, me, session, cap)
        return answer

    async def _lead(self, queue: Queue[R], me: _Waiting[R], session: AsyncSession, cap: int) -> Any:
        """Run one batch from the head of the queue (this request first), in this request's
        session; answer the others, hand the queue over, return this one's answer."""
        batch: list[_Waiting[R]] = []
        while queue.waiting and len(batch) < cap:
            waiting = queue.waiting[0]
            if waiting.answer.done() and waiting is not me:
                queue.waiting.popleft()  # gone (its request was cancelled)
                continue
            if batch and not self._joins([w.request for w in batch], waiting.request):
                break
            batch.append(queue.waiting.popleft())
        assert batch[0] is me
        answers: Sequence[Any] = [ALONE] * len(batch)
        try:
            answers = await self._run(session, [w.request for w in batch])
        except Exception:
            log.exception("%s: the batch failed; its requests are answered one by one", self.name)
            answers = [ALONE] * len(batch)
            await session.rollback()
        finally:
            queue.hand_over()
            for waiting, answer in zip(batch[1:], answers[1:], strict=True):
                if not waiting.answer.done():
                    waiting.answer.set_result(answer)
        return answers[0]
