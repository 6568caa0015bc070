"""Merchants with a GTIN-bearing SKU and bearer tokens, and EPCIS documents to capture."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation, User
from tests.catalog.helpers import add_profile, product_body
from tests.factories import make_org, make_token, make_user

PRODUCTS = "/api/v1/catalog/merchant/products"
BATCHES = "/api/v1/trace/batches"
CAPTURE = "/epcis/capture"
EVENTS = "/epcis/events"
GTIN = "4012345123456"  # GTIN-14 04012345123456: urn:epc:class:lgtin:4012345.012345.{lot}
ALL_SCOPES = ("account", "org:read", "org:write", "trace:capture")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Shop:
    owner: User
    organisation: Organisation
    headers: dict[str, str]
    sku_id: int


async def a_shop(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    name: str = "邻里鲜果",
    gtin: str = GTIN,
    scopes: tuple[str, ...] = ALL_SCOPES,
) -> Shop:
    """A verified merchant with one SKU whose product carries `gtin`, and a bearer token."""
    owner = await make_user(session, name="店主")
    organisation = await make_org(session, "merchant", owner=owner, name=name)
    await add_profile(session, organisation, scope=("fresh_food", "groceries"))
    headers = bearer(await make_token(session, owner, organisation=organisation, scopes=scopes))
    admin = bearer(await make_token(session, owner, organisation=organisation))
    created = await client.post(PRODUCTS, json=product_body(gtin=gtin), headers=admin)
    assert created.status_code == 201, created.text
    return Shop(owner, organisation, headers, created.json()["skus"][0]["id"])


async def a_batch(client: httpx.AsyncClient, shop: Shop, lot: str = "998877") -> dict[str, Any]:
    body = {
        "sku_id": shop.sku_id,
        "lot": lot,
        "production_date": "2024-05-01",
        "expiry_date": "2024-06-01",
        "origin": "山东烟台",
        "producer": "烟台果园合作社",
    }
    response = await client.post(BATCHES, json=body, headers=shop.headers)
    assert response.status_code == 201, response.text
    batch: dict[str, Any] = response.json()
    return batch


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2024-05-02T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "epcList": ["urn:epc:id:sgtin:4012345.012345.1"],
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "urn:epc:id:sgln:4012345.00001.0"},
    }
    base.update(fields)
    return base


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2024-05-02T08:00:00Z",
        "epcisBody": {"eventList": [copy.deepcopy(e) for e in events]},
    }


def lot_event(lot: str = "998877", **fields: Any) -> dict[str, Any]:
    return event(
        epcList=[],
        quantityList=[
            {"epcClass": f"urn:epc:class:lgtin:4012345.012345.{lot}", "quantity": 20, "uom": "KGM"}
        ],
        **fields,
    )
