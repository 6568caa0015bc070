"""The request transaction: committed work that is due now wakes the in-process dispatcher."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import PASSWORD


async def test_a_commit_with_new_events_wakes_the_dispatcher(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    wakes: list[int] = []
    app.state.dispatcher.wake = lambda: wakes.append(1)
    await client.get("/healthz")
    await client.get("/")
    assert wakes == []  # nothing published
    refused = await client.post(
        "/api/v1/accounts/signup", json={"phone": "1", "password": PASSWORD, "display_name": "x"}
    )
    assert refused.status_code == 422
    assert wakes == []  # rolled back: nothing to deliver
    created = await client.post(
        "/api/v1/accounts/signup",
        json={"phone": "13912340001", "password": PASSWORD, "display_name": "x"},
    )
    assert created.status_code == 201
    assert wakes == [1]
