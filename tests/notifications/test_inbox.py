from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import PASSWORD, login, make_user


async def test_signing_up_puts_a_welcome_message_in_the_inbox_after_dispatch(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/api/v1/accounts/signup",
        json={"phone": "13900001111", "password": PASSWORD, "display_name": "小红"},
    )
    assert response.status_code == 201
    await client.post("/api/v1/accounts/login", json={"phone": "13900001111", "password": PASSWORD})
    assert (await client.get("/api/v1/inbox")).json() == []  # not delivered yet
    assert await app.state.dispatcher.run_once() >= 1
    messages = (await client.get("/api/v1/inbox")).json()
    assert [m["title"] for m in messages] == ["Welcome to Linli"]
    zh = (await client.get("/api/v1/inbox", headers={"Accept-Language": "zh-CN"})).json()
    assert zh[0]["title"] != "Welcome to Linli"
    assert await app.state.dispatcher.run_once() == 0
    assert len((await client.get("/api/v1/inbox")).json()) == 1


async def test_a_user_cannot_read_or_mark_anothers_messages(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    snoop = await make_user(session)
    await app.state.dispatcher.run_once()
    await login(client, owner)
    message_id = (await client.get("/api/v1/inbox")).json()[0]["id"]
    await client.post("/api/v1/accounts/logout")
    await login(client, snoop)
    assert all(m["id"] != message_id for m in (await client.get("/api/v1/inbox")).json())
    response = await client.post(f"/api/v1/inbox/{message_id}/read")
    assert response.status_code == 404
    await client.post("/api/v1/accounts/logout")
    await login(client, owner)
    assert (await client.get("/api/v1/inbox")).json()[0]["read_at"] is None
