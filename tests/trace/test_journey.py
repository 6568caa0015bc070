"""The journey on the public trace page and the batch pages: captured text is data (escaped,
never translated markup), CBV words are shown in the reader's language, the platform's own
places by name and other places shortened."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from linli import i18n
from linli.trace import journey, vocab
from tests.factories import login, make_org, make_user
from tests.groupbuy.helpers import a_pickup_point
from tests.trace.helpers import CAPTURE, a_batch, a_shop, document, lot_event

HOSTILE_STEP = 'x:"><meta http-equiv="refresh" content="0;url=https://evil.example/">'
HOSTILE_DISPOSITION = "y:<script>alert(1)</script>"
HOSTILE_READ_POINT = "urn:x:<img src=x onerror=alert(1)>"
HOSTILE_LOCATION = "javascript:alert(1)//<b>bold</b>"


async def captured(client: httpx.AsyncClient, shop: Any, *events: dict[str, Any]) -> None:
    response = await client.post(CAPTURE, json=document(*events), headers=shop.headers)
    assert response.status_code == 202, response.text


def journey_of(html: str) -> str:
    match = re.search(r'<ol class="journey" data-testid="journey">(.*?)</ol>', html, re.S)
    assert match is not None
    return match.group(1)


def assert_inert(html: str) -> None:
    """The hostile values are on the page as text, and none of them is markup."""
    part = journey_of(html)
    for live in ("<meta", "<script", "<img", "<b>", 'href="javascript'):
        assert live not in part, live
    assert "&lt;meta http-equiv=&#34;refresh&#34;" in part
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part
    assert "&lt;img src=x onerror=alert(1)&gt;" in part
    for live in ("<meta http-equiv", "<script>alert", "<img src=x", "<b>bold"):
        assert live not in html, live


async def test_hostile_event_fields_are_text_on_the_trace_and_batch_pages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    batch = await a_batch(client, shop)
    await captured(
        client,
        shop,
        lot_event(
            bizStep=HOSTILE_STEP,
            disposition=HOSTILE_DISPOSITION,
            readPoint={"id": HOSTILE_READ_POINT},
            bizLocation={"id": HOSTILE_LOCATION},
        ),
    )

    public = await client.get(f"/t/{batch['code']}")
    assert public.status_code == 200
    assert_inert(public.text)
    zh = await client.get(f"/t/{batch['code']}", headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 200
    assert_inert(zh.text)

    await login(client, shop.owner, organisation=shop.organisation)
    merchant = await client.get(f"/merchant/batches/{batch['id']}")
    assert merchant.status_code == 200
    assert_inert(merchant.text)

    client.cookies.clear()
    shop.organisation.province_code = "350000"  # registered where the regulator supervises
    await session.commit()
    officer = await make_user(session, name="市监局")
    regulator = await make_org(session, "regulator", owner=officer, province_code="350000")
    await login(client, officer, organisation=regulator)
    supervised = await client.get(f"/merchant/batches/{batch['id']}")
    assert supervised.status_code == 200
    assert_inert(supervised.text)


async def test_steps_and_dispositions_in_chinese_and_places_by_name(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    shop = await a_shop(client, session)
    rival = await make_org(session, "merchant", name="别家冷库")
    batch = await a_batch(client, shop)
    point_id, point_name = await a_pickup_point(session), "3号楼门卫室"
    org = shop.organisation.id
    await captured(
        client,
        shop,
        lot_event(
            bizStep="storing",
            disposition="sellable_not_accessible",
            readPoint={"id": f"urn:linli:cold-store:{org}"},
        ),
        lot_event(
            eventTime="2024-05-02T09:00:00.000+08:00",
            bizStep="arriving",
            disposition="https://ref.gs1.org/cbv/Disp-sellable_accessible",
            readPoint={"id": f"urn:linli:pickup-point:{point_id}"},
            bizLocation={"id": f"urn:linli:cold-store:{rival.id}"},  # not theirs to name
        ),
        lot_event(
            eventTime="2024-05-02T10:00:00.000+08:00",
            bizStep="https://ref.gs1.org/cbv/BizStep-transporting",
            readPoint={"id": "urn:epc:id:sgln:4012345.00001.0"},
            bizLocation={"id": "https://logistics.example.com/depots/east/42"},
        ),
    )

    zh = journey_of(
        (await client.get(f"/t/{batch['code']}", headers={"Accept-Language": "zh-CN"})).text
    )
    assert "在售" in zh
    assert "可售，尚未上架" in zh
    assert "sellable" not in zh
    assert "in transit" not in zh
    assert "已入库" in zh
    assert "运输中" in zh
    assert f"{shop.organisation.name}的冷库" in zh
    assert f"自提点 {point_name}" in zh
    assert f"urn:linli:cold-store:{rival.id}" in zh  # shortened text, full id in the title
    assert rival.name not in zh
    assert "SGLN 4012345.00001.0" in zh
    assert "logistics.example.com/…/42" in zh
    en = journey_of((await client.get(f"/t/{batch['code']}")).text)
    assert "(sellable, not yet on the shelf)" in en
    assert f"Cold store of {shop.organisation.name}" in en
    assert f"Pickup point {point_name}" in en


def test_every_cbv_step_and_disposition_has_a_label_in_both_languages() -> None:
    words = vocab.vocabularies()
    assert set(journey.BIZ_STEPS) == set(words["bizStep"])
    assert set(journey.DISPOSITIONS) == set(words["disposition"])
    token = i18n.set_locale("zh_Hans")
    try:
        for msgid in [*journey.BIZ_STEPS.values(), *journey.DISPOSITIONS.values()]:
            assert i18n.gettext(msgid) != msgid, msgid
    finally:
        i18n.reset_locale(token)
