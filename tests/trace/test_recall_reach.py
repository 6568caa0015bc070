"""Whose batches a recall reaches: a link into another organisation's batch is followed only
when that organisation captured it (or a regulator in whose jurisdiction the batch is opens
the recall). One merchant cannot recall another's batch by naming it as its own output, in any
of the identifier forms (Digital Link, LGTIN URN, `urn:linli:batch:`, parentID)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.audit.models import AuditEntry
from linli.config import Settings
from linli.notifications.models import Notification
from linli.payments.models import PaymentRefund
from linli.trace import digital_link, recall
from linli.trace.models import TraceBatch
from tests.factories import login, make_org, make_token, make_user
from tests.groupbuy.helpers import (
    Shop,
    a_pickup_point,
    a_shop,
    bearer,
    item,
    order,
    pay,
    published_campaign,
    residents,
)
from tests.trace.helpers import document
from tests.trace.safety_helpers import TRACE, a_batch, lot_class, product_sku, record, status_of


def lgtin(batch: TraceBatch) -> str:
    """The batch's LGTIN class URN (company prefix of 7 digits)."""
    assert batch.gtin is not None
    gtin = batch.gtin
    urn = f"urn:epc:class:lgtin:{gtin[1:8]}.{gtin[0]}{gtin[8:13]}.{batch.lot}"
    assert digital_link.gtin_and_lot(urn) == (gtin, batch.lot)
    return urn


def transformation(source: TraceBatch, output: str) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "eventTime": clock.now().isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "inputQuantityList": [{"epcClass": lot_class(source), "quantity": 5, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": output, "quantity": 5, "uom": "KGM"}],
        "bizStep": "creating_class_instance",
    }


def aggregation(source: TraceBatch, parent: str) -> dict[str, Any]:
    return {
        "type": "AggregationEvent",
        "eventTime": clock.now().isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "parentID": parent,
        "childEPCs": [],
        "childQuantityList": [{"epcClass": lot_class(source), "quantity": 2}],
        "action": "ADD",
        "bizStep": "packing",
    }


async def sold_batch(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    lot: str,
) -> tuple[TraceBatch, int]:
    """A batch of the shop sold to one resident who paid; (batch, the buyer's user id)."""
    sku = await product_sku(client, shop, name="鲜牛奶")
    batch = await a_batch(app, shop, sku, lot)
    campaign = await published_campaign(client, shop, item(sku, batch_id=batch.id))
    point_id = await a_pickup_point(session)
    (buyer,) = await residents(session, 1)
    placed = await order(
        client, buyer, campaign["id"], [(campaign["items"][0]["id"], 1)], point_id=point_id
    )
    assert placed.status_code == 201, placed.text
    await pay(client, settings, placed.json()["payment"])
    await app.state.dispatcher.run_once()
    return batch, buyer.user.id


async def test_a_merchant_cannot_recall_another_merchants_batch(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    attacker = await a_shop(client, session, name="甲商店")
    victim = await a_shop(client, session, name="乙商店")
    own = await a_batch(app, attacker, await product_sku(client, attacker), "A1")
    theirs, _buyer = await sold_batch(app, client, session, settings, victim, "B1")
    # A captures, through the EPCIS interface, events naming B's batch (whose code is on
    # B's public label) as made from / packed with A's batch, in every identifier form.
    scanner = bearer(
        await make_token(
            session, attacker.owner, organisation=attacker.organisation, scopes=("trace:capture",)
        )
    )
    captured = await client.post(
        "/epcis/capture",
        json=document(
            *(
                event | {"eventID": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}"}
                for n, event in enumerate(
                    (
                        transformation(own, lot_class(theirs)),
                        transformation(own, lgtin(theirs)),
                        transformation(own, f"urn:linli:batch:{theirs.code}"),
                        aggregation(own, f"urn:linli:batch:{theirs.code}"),
                        aggregation(own, lot_class(theirs)),
                    )
                )
            )
        ),
        headers=scanner,
    )
    assert captured.status_code == 202, captured.text

    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 1, "reason": "甲的召回", "batch_ids": [own.id]},
        headers=attacker.headers,
    )
    assert opened.status_code == 201, opened.text
    assert [b["batch_id"] for b in opened.json()["batches"]] == [own.id]
    assert await status_of(app, theirs.id) == "active"
    await app.state.dispatcher.run_once()  # buyers are told through BuyerRecalled events
    async with app.state.sessionmaker() as s:
        told = (
            await s.scalars(select(Notification.user_id).where(Notification.kind == "recall"))
        ).all()
        refunds = (await s.scalars(select(PaymentRefund))).all()
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "trace.recall_opened"))
    assert list(told) == []
    assert list(refunds) == []
    assert entry is not None
    assert {r["batch"] for r in entry.details["refused_links"]} == {theirs.id}
    assert len(entry.details["refused_links"]) == 5
    # B's public page says nothing of a recall; B sees no recall of A's.
    page = await client.get(f"/t/{theirs.code}")
    assert page.status_code == 200
    assert "Recall notice" not in page.text
    assert (await client.get(f"{TRACE}/recalls", headers=victim.headers)).json() == []


async def test_a_processor_that_captured_made_from_is_reached_and_sees_the_recall(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    supplier = await a_shop(client, session, name="面粉厂")
    bakery = await a_shop(client, session, name="面包房")
    flour = await a_batch(app, supplier, await product_sku(client, supplier), "F1")
    bread, buyer = await sold_batch(app, client, session, settings, bakery, "BR1")
    # The bakery itself says its bread was made from the supplier's flour.
    await record(app, bakery.organisation.id, transformation(flour, lgtin(bread)))
    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 2, "reason": "面粉霉变", "batch_ids": [flour.id]},
        headers=supplier.headers,
    )
    assert opened.status_code == 201, opened.text
    via = {b["batch_id"]: b["via"] for b in opened.json()["batches"]}
    assert via == {flour.id: "named", bread.id: "transformation"}
    assert await status_of(app, bread.id) == "recalled"
    await app.state.dispatcher.run_once()  # buyers are told through BuyerRecalled events
    async with app.state.sessionmaker() as s:
        told = (
            await s.scalars(select(Notification.user_id).where(Notification.kind == "recall"))
        ).all()
    assert list(told) == [buyer]
    # The bakery sees the recall that froze its bread, but cannot close it.
    seen = await client.get(f"{TRACE}/recalls", headers=bakery.headers)
    assert [r["id"] for r in seen.json()] == [opened.json()["id"]]
    shown = await client.get(f"{TRACE}/recalls/{opened.json()['id']}", headers=bakery.headers)
    assert shown.status_code == 200
    closing = await client.post(
        f"{TRACE}/recalls/{opened.json()['id']}/close", headers=bakery.headers
    )
    assert closing.status_code == 404
    await login(client, bakery.owner)
    console = await client.get("/merchant/recalls")
    assert console.status_code == 200
    assert f'data-recall="{opened.json()["id"]}"' in console.text
    assert f"/merchant/recalls/{opened.json()['id']}/close" not in console.text
    client.cookies.clear()
    await login(client, supplier.owner)
    own_console = await client.get("/merchant/recalls")
    assert f"/merchant/recalls/{opened.json()['id']}/close" in own_console.text


async def test_a_regulator_recall_follows_links_into_its_jurisdiction_only(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    first = await a_shop(client, session, name="甲商店")
    near = await a_shop(client, session, name="乙商店")
    far = await a_shop(client, session, name="丙商店")
    own = await a_batch(app, first, await product_sku(client, first), "A9")
    near_batch = await a_batch(app, near, await product_sku(client, near), "N9")
    far_batch = await a_batch(app, far, await product_sku(client, far), "X9")
    for shop, province in ((first, "310000"), (near, "310000"), (far, "330000")):
        org = await session.get(Organisation, shop.organisation.id)
        assert org is not None
        org.province_code = province
    await session.commit()
    await record(app, first.organisation.id, transformation(own, lot_class(near_batch)))
    await record(app, first.organisation.id, transformation(own, lot_class(far_batch)))
    officer = await make_user(session, name="市监局")
    regulator = await make_org(
        session, "regulator", owner=officer, name="上海市场监管局", province_code="310000"
    )
    headers = bearer(await make_token(session, officer, organisation=regulator))
    opened = await client.post(
        f"{TRACE}/recalls",
        json={"level": 3, "reason": "抽检不合格", "batch_ids": [own.id], "refund": "none"},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    assert {b["batch_id"] for b in opened.json()["batches"]} == {own.id, near_batch.id}
    assert await status_of(app, far_batch.id) == "active"


async def test_a_transformation_declared_in_error_is_not_followed(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    bakery = await a_shop(client, session, name="面包房")
    flour = await a_batch(app, bakery, await product_sku(client, bakery, name="面粉"), "F9")
    bread = await a_batch(app, bakery, await product_sku(client, bakery, name="面包"), "BR9")
    scanner = bearer(
        await make_token(
            session, bakery.owner, organisation=bakery.organisation, scopes=("trace:capture",)
        )
    )
    made = transformation(flour, lgtin(bread)) | {
        "eventID": "urn:uuid:00000000-0000-4000-8000-0000000000f9"
    }
    captured = await client.post("/epcis/capture", json=document(made), headers=scanner)
    assert captured.status_code == 202, captured.text
    async with app.state.sessionmaker() as s:
        reached, _refused = await recall.downstream(s, [flour])
    assert {r.batch.id for r in reached} == {flour.id, bread.id}
    # The bakery says the bread was not made from that flour after all.
    declaration = made | {
        "errorDeclaration": {"declarationTime": clock.now().isoformat(), "reason": "incorrect_data"}
    }
    declared = await client.post("/epcis/capture", json=document(declaration), headers=scanner)
    assert declared.status_code == 202, declared.text
    async with app.state.sessionmaker() as s:
        reached, _refused = await recall.downstream(s, [flour])
    assert [r.batch.id for r in reached] == [flour.id]
