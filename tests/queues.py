"""Holding a group commit's queue (linli.group_commit) as a running batch would, so that
requests queue up in a known order and then run together: the domains' batch tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from linli.group_commit import Queue

Request = Callable[[], Coroutine[Any, Any, httpx.Response]]


async def released_together(
    queue: Queue[Any], requests: list[Request], owner: Any, run: str
) -> tuple[list[httpx.Response], list[int]]:
    """Hold `queue`, start the requests one by one (each queued before the next starts), then
    let them go. `owner.<run>` is the domain's batch function (its last argument the batch),
    wrapped meanwhile to count. The answers, and the size of each batch that ran."""
    assert not queue.busy
    sizes: list[int] = []
    batch_of = getattr(owner, run)

    async def counted(session: Any, *args: Any) -> Any:
        sizes.append(len(args[-1]))
        return await batch_of(session, *args)

    queue.busy = True
    tasks: list[asyncio.Task[httpx.Response]] = []
    try:
        for request in requests:
            tasks.append(asyncio.create_task(request()))
            for _ in range(500):
                if len(queue.waiting) == len(tasks):
                    break
                await asyncio.sleep(0.01)
            assert len(queue.waiting) == len(tasks), "a request did not queue"
        setattr(owner, run, counted)
        queue.hand_over()
        answers = list(await asyncio.gather(*tasks))
    finally:
        setattr(owner, run, batch_of)
    assert not queue.busy
    return answers, sizes
