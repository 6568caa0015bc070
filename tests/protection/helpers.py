"""Arranging return tests: a resident who collected rice (3 x ¥15) and oil (2 x ¥45) at a led
point (10% commission), after the whole group-buying loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.clock import FrozenClock
from linli.config import Settings
from linli.protection.return_models import ReturnRequest
from tests.groupbuy.helpers import Resident
from tests.groupbuy.test_fulfilment import World, the_whole_loop

GROUPBUY = "/api/v1/groupbuy"
RETURNS = "/api/v1/protection/returns"


@dataclass
class Bought:
    world: World
    buyer: Resident
    order_id: int
    rice_line: int  # 3 collected at 1500 fen
    oil_line: int  # 2 collected at 4500 fen

    @property
    def leader(self) -> Resident:
        return self.world.points[0].leader

    @property
    def merchant(self) -> dict[str, str]:
        return self.world.shop.headers


async def collected(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> Bought:
    """Everything collected on 2026-11-27 at 10:01 Shanghai time."""
    world, buyer, mine = await the_whole_loop(app, client, session, settings, frozen_clock)
    busy = world.points[0]
    seen = (await client.get(f"{GROUPBUY}/orders/{mine}", headers=buyer.headers)).json()
    code = seen["order"]["pickup_code"]
    found = await client.get(
        f"{GROUPBUY}/pickup-points/{busy.id}/awaiting/{code}", headers=busy.leader.headers
    )
    rice_line, oil_line = (line["line_id"] for line in found.json()["lines"])
    handed = await client.post(
        f"{GROUPBUY}/pickup-points/{busy.id}/pickups",
        json={"code": code},
        headers=busy.leader.headers,
    )
    assert handed.status_code == 201, handed.text
    await app.state.dispatcher.run_once()
    return Bought(world, buyer, mine, rice_line, oil_line)


async def ask(
    client: httpx.AsyncClient,
    bought: Bought,
    line_id: int,
    quantity: int,
    reason: str = "changed_mind",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        RETURNS,
        json={"line_id": line_id, "quantity": quantity, "reason_code": reason},
        headers=headers or bought.buyer.headers,
    )


async def return_rows(app: FastAPI) -> list[ReturnRequest]:
    async with app.state.sessionmaker() as s:
        return list((await s.scalars(select(ReturnRequest).order_by(ReturnRequest.id))).all())


def body(response: httpx.Response) -> Any:
    """The JSON of a successful answer (an object or a list)."""
    assert response.status_code < 300, response.text
    return response.json()


CLAIMS = "/api/v1/protection/claims"


async def claim_photo(
    client: httpx.AsyncClient, bought: Bought, line_id: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    from tests.factories import png_bytes

    return await client.post(
        f"{CLAIMS}/photos",
        data={"line_id": str(line_id)},
        files={"file": ("spoiled.png", png_bytes(), "image/png")},
        headers=headers or bought.buyer.headers,
    )


async def file_claim(
    client: httpx.AsyncClient,
    bought: Bought,
    line_id: int,
    quantity: int,
    *,
    reason: str = "defective",
    amount_fen: int | None = None,
    photos: list[int] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """A claim with one fresh photo (unless `photos` says otherwise)."""
    if photos is None:
        uploaded = await claim_photo(client, bought, line_id, headers)
        assert uploaded.status_code == 201, uploaded.text
        photos = [uploaded.json()["id"]]
    payload: dict[str, Any] = {
        "line_id": line_id,
        "quantity": quantity,
        "reason_code": reason,
        "description": "发霉了",
        "photo_file_ids": photos,
    }
    if amount_fen is not None:
        payload["amount_fen"] = amount_fen
    return await client.post(CLAIMS, json=payload, headers=headers or bought.buyer.headers)
