"""Arranging trace safety tests: products of a storage class, batches with GTINs, events,
campaigns selling from batches."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.outbox import OutboxEvent
from linli.trace import batches, chains, digital_link, generated
from linli.trace.models import ACTIVE, TraceBatch
from tests.catalog.helpers import product_body
from tests.groupbuy.helpers import PRODUCTS, Shop

TRACE = "/api/v1/trace"
_gtins = itertools.count(100)
_codes = itertools.count(1)


def new_gtin() -> str:
    body = f"0690123456{next(_gtins):03d}"
    return body + digital_link.check_digit(body)


async def product_sku(
    client: httpx.AsyncClient, shop: Shop, *, storage: str = "ambient", name: str = "面粉"
) -> int:
    category = "groceries" if storage == "ambient" else "fresh_food"
    body = product_body(
        name=name,
        category=category,
        storage_class=storage,
        gtin=None,
        sku={"code": f"S{next(_codes)}", "price_fen": 2000, "stock": 200},
    )
    created = await client.post(PRODUCTS, json=body, headers=shop.headers)
    assert created.status_code == 201, created.text
    product = created.json()
    listed = await client.post(f"{PRODUCTS}/{product['id']}/list", headers=shop.headers)
    assert listed.status_code == 200, listed.text
    sku_id: int = product["skus"][0]["id"]
    return sku_id


async def create_batch(
    session: AsyncSession,
    *,
    organisation_id: int,
    sku_id: int,
    lot: str,
    production_date: date,
    gtin: str | None = None,
    expiry_date: date | None = None,
    origin: str = "",
    producer: str = "",
    user_id: int | None = None,
) -> TraceBatch:
    """A batch and its commissioning event, written directly (merchants create batches
    through `batches.create_batch`, which checks who owns the SKU)."""
    batch = TraceBatch(
        code=generated.random_code("B"),
        organisation_id=organisation_id,
        sku_id=sku_id,
        gtin=gtin.zfill(14) if gtin else None,
        lot=lot,
        production_date=production_date,
        expiry_date=expiry_date,
        origin=origin,
        producer=producer,
        status=ACTIVE,
        created_by_user_id=user_id,
        created_at=clock.now(),
    )
    session.add(batch)
    await session.flush()
    await chains.record_generated_event(
        session, organisation_id, batches.commissioning_event(batch), batches=[batch]
    )
    return batch


async def a_batch(app: FastAPI, shop: Shop, sku_id: int, lot: str) -> TraceBatch:
    async with app.state.sessionmaker() as s:
        batch = await create_batch(
            s,
            organisation_id=shop.organisation.id,
            sku_id=sku_id,
            lot=lot,
            gtin=new_gtin(),
            production_date=date(2026, 11, 20),
            expiry_date=date(2027, 5, 20),
            origin="黑龙江五常",
            producer="五常粮食加工厂",
        )
        await s.commit()
    return batch


def lot_class(batch: TraceBatch) -> str:
    return f"https://id.gs1.org/01/{batch.gtin}/10/{batch.lot}"


async def record(app: FastAPI, organisation_id: int, event: dict[str, Any]) -> None:
    async with app.state.sessionmaker() as s:
        await generated.record_event(s, organisation_id, event)
        await s.commit()


async def status_of(app: FastAPI, batch_id: int) -> str:
    async with app.state.sessionmaker() as s:
        value = await s.scalar(select(TraceBatch.status).where(TraceBatch.id == batch_id))
    return str(value)


async def events_named(app: FastAPI, event_type: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as s:
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == event_type))
        return [r.payload for r in rows]


SYSTEM = Actor.for_system()
