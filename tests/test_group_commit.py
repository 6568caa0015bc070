"""The group commit's queue (linli.group_commit) on its own: batches in arrival order, who may
join, a failing batch, a request whose batch finished while it was giving its connection back,
and a waiting request whose client went away. The domains' batches are tested in
tests/groupbuy/test_group_commit.py and tests/payments/test_callback_group_commit.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from linli.group_commit import ALONE, GroupCommit, Queue

ENGINE = object()


class FakeSession:
    """What the queue asks of a session: its bind, commit and rollback (counted)."""

    def __init__(self, on_commit: Any = None) -> None:
        self.commits = 0
        self.rollbacks = 0
        self.on_commit = on_commit

    def get_bind(self) -> object:
        return ENGINE

    async def commit(self) -> None:
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit()

    async def rollback(self) -> None:
        self.rollbacks += 1


class Recorder:
    """A batch that answers each request with (batch number, request)."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def run(self, session: Any, batch: Sequence[str]) -> list[Any]:
        self.batches.append(list(batch))
        await asyncio.sleep(0)
        if self.fail:
            raise RuntimeError("the batch failed")
        return [(len(self.batches), request) for request in batch]


def not_twice(batch: Sequence[str], request: str) -> bool:
    return request not in batch


async def queued(queue: Queue[str], n: int) -> None:
    for _ in range(500):
        if len(queue.waiting) == n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{n} requests did not queue")


async def hold_then_release(
    grouper: GroupCommit[str], requests: list[str], cap: int = 10
) -> list[Any]:
    """Queue the requests behind a running batch, in order, then let them go."""
    queue = grouper.queue_of(ENGINE, "key")
    queue.busy = True
    tasks = []
    for n, request in enumerate(requests, 1):
        tasks.append(
            asyncio.create_task(grouper.submit(FakeSession(), "key", request, cap))  # type: ignore[arg-type]
        )
        await queued(queue, n)
    queue.hand_over()
    answers = await asyncio.gather(*tasks)
    assert not queue.busy
    assert not queue.waiting
    return answers


async def test_waiting_requests_run_as_batches_in_arrival_order() -> None:
    recorder = Recorder()
    grouper = GroupCommit("test", recorder.run, not_twice)
    answers = await hold_then_release(grouper, ["a", "b", "a", "c", "d"], cap=3)
    # "a" again starts the second batch; the third holds what the cap left.
    assert recorder.batches == [["a", "b"], ["a", "c", "d"]]
    assert answers == [(1, "a"), (1, "b"), (2, "a"), (2, "c"), (2, "d")]


async def test_a_lone_request_runs_at_once_and_the_queue_idles() -> None:
    recorder = Recorder()
    grouper = GroupCommit("test", recorder.run, not_twice)
    session = FakeSession()
    assert await grouper.submit(session, "key", "a", 10) == (1, "a")  # type: ignore[arg-type]
    assert session.commits == 0  # nothing to give back: it led at once
    queue = grouper.queue_of(ENGINE, "key")
    assert not queue.busy
    assert not queue.waiting


async def test_a_failing_batch_answers_every_request_alone_and_rolls_back() -> None:
    recorder = Recorder(fail=True)
    grouper = GroupCommit("test", recorder.run, not_twice)
    answers = await hold_then_release(grouper, ["a", "b", "c"])
    assert answers == [ALONE, ALONE, ALONE]


async def test_a_batch_that_finished_while_the_request_committed_is_not_waited_for() -> None:
    """The queue is busy when the request arrives; while it commits (giving its connection
    back), the running batch finishes with nobody waiting. The request must run its own
    batch rather than wait for a hand-over that already happened."""
    recorder = Recorder()
    grouper = GroupCommit("test", recorder.run, not_twice)
    queue = grouper.queue_of(ENGINE, "key")
    queue.busy = True
    session = FakeSession(on_commit=queue.hand_over)
    answer = await asyncio.wait_for(grouper.submit(session, "key", "a", 10), timeout=5)  # type: ignore[arg-type]
    assert answer == (1, "a")
    assert session.commits == 1
    assert not queue.busy


async def test_a_request_cancelled_while_it_waits_leaves_the_queue() -> None:
    recorder = Recorder()
    grouper = GroupCommit("test", recorder.run, not_twice)
    queue = grouper.queue_of(ENGINE, "key")
    queue.busy = True
    tasks = []
    for n, request in enumerate(["a", "b", "c"], 1):
        tasks.append(asyncio.create_task(grouper.submit(FakeSession(), "key", request, 10)))  # type: ignore[arg-type]
        await queued(queue, n)
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    queue.hand_over()
    assert await asyncio.gather(*tasks[1:]) == [(1, "b"), (1, "c")]
    assert recorder.batches == [["b", "c"]]
    assert not queue.busy
    assert not queue.waiting


async def test_queues_are_per_engine_and_key() -> None:
    grouper: GroupCommit[str] = GroupCommit("test", Recorder().run, not_twice)
    other = object()
    assert grouper.queue_of(ENGINE, "key") is grouper.queue_of(ENGINE, "key")
    assert grouper.queue_of(ENGINE, "key") is not grouper.queue_of(ENGINE, "other")
    assert grouper.queue_of(ENGINE, "key") is not grouper.queue_of(other, "key")
