"""Credit's version-3 sources, driven through the real services: quality claims decided by the
merchant (upheld, partly, rejected), an abusive claim pattern an operator confirms, and random
inspection results an inspector records; each record keeps its event, rule version and weight,
and a second delivery of the same event writes nothing more."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit.handlers import SUBSCRIPTIONS
from linli.credit.models import CreditRecord
from linli.outbox import OutboxEvent
from linli.protection.claim_models import ClaimAbuseFlag
from linli.rules.models import RuleVersion
from tests.credit.helpers import CREDIT, records, stored
from tests.protection.helpers import CLAIMS, body, collected, file_claim
from tests.protection.test_claims import decide, operator_and_id
from tests.supervision.helpers import a_supervision, drawn_plan


async def deliver_again(app: FastAPI, rows: list[CreditRecord]) -> None:
    """Hand each record's event to credit's handler once more (at-least-once delivery)."""
    names = {s.event.event_name: (s.event, s.name) for s in SUBSCRIPTIONS}
    async with app.state.sessionmaker() as s:
        stored_events = {
            e.event_id: e
            for e in await s.scalars(
                select(OutboxEvent).where(OutboxEvent.event_id.in_([r.event_id for r in rows]))
            )
        }
    for row in rows:
        event = stored_events[row.event_id]
        event_class, name = names[event.event_type]
        handler = dict(outbox.subscribers(event.event_type))[name]
        envelope = outbox.Envelope(
            event_id=event.event_id,
            event_type=event.event_type,
            payload=event_class.model_validate(event.payload),
            created_at=event.created_at,
        )
        async with app.state.sessionmaker() as s:
            await handler(s, envelope)
            await s.commit()


async def a_low_abuse_bar(app: FastAPI) -> None:
    """A version of the claim rule flagging a resident at 2 claims (the default needs more)."""
    async with app.state.sessionmaker() as s:
        first = (
            await s.scalars(
                select(RuleVersion).where(RuleVersion.rule_id == "consumer.quality_claim")
            )
        ).one()
        s.add(
            RuleVersion(
                rule_id=first.rule_id,
                version=2,
                jurisdiction=first.jurisdiction,
                title=first.title,
                legal_basis=first.legal_basis,
                effective_from=clock.now() - timedelta(seconds=1),
                values={**first.values, "abuse_min_claims": 2, "abuse_rate_multiple": 1},
                created_at=clock.now(),
            )
        )
        await s.commit()


def kinds(rows: list[CreditRecord]) -> list[tuple[str, int, str, int, str]]:
    return [(r.kind, r.weight, r.rule_id, r.rule_version, r.reference) for r in rows]


async def test_claims_decided_and_abuse_confirmed_count_by_the_rule_in_force(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    shop_id = bought.world.shop.organisation.id
    buyer_id = bought.buyer.user.id
    ops, _ = await operator_and_id(session)
    await a_low_abuse_bar(app)
    merchant_before = await records(app, "merchant", shop_id)
    resident_before = await records(app, "resident", buyer_id)

    whole = body(await file_claim(client, bought, bought.rice_line, 1))
    part = body(await file_claim(client, bought, bought.oil_line, 1, amount_fen=3000))
    refused = body(await file_claim(client, bought, bought.rice_line, 1))
    frozen_clock.advance(timedelta(hours=1))
    body(await decide(client, whole["id"], bought.merchant, uphold=True))
    body(await decide(client, part["id"], bought.merchant, uphold=True, amount_fen=2000))
    body(await decide(client, refused["id"], bought.merchant, uphold=False, note="照片不清"))
    # Filed and flagged is not counted: nothing yet against the resident.
    await app.state.dispatcher.run_once()
    assert len(await records(app, "resident", buyer_id)) == len(resident_before)
    new = list(await records(app, "merchant", shop_id))[len(merchant_before) :]
    assert kinds(new) == [
        ("quality_claim_upheld", -10, "credit.scoring", 5, f"claim:{whole['id']}"),
        ("quality_claim_partly", -5, "credit.scoring", 5, f"claim:{part['id']}"),
    ]
    assert {r.event_type for r in new} == {"protection.QualityClaimDecided"}
    assert all(r.occurred_at == frozen_clock.now() for r in new)

    # The operator confirms the flagged pattern: the resident's credit falls by 100.
    async with app.state.sessionmaker() as s:
        flag = (
            await s.scalars(select(ClaimAbuseFlag).where(ClaimAbuseFlag.user_id == buyer_id))
        ).one()
    body(
        await client.post(
            f"{CLAIMS}/flags/{flag.id}/review",
            json={"confirm": True, "reason": "多次索赔无实据"},
            headers=ops,
        )
    )
    await app.state.dispatcher.run_once()
    resident = list(await records(app, "resident", buyer_id))
    (abuse,) = resident[len(resident_before) :]
    assert kinds([abuse]) == [
        ("claim_abuse_confirmed", -100, "credit.scoring", 5, f"claim_flag:{flag.id}")
    ]
    assert abuse.event_type == "protection.ClaimAbuseConfirmed"
    score = await stored(app, "resident", buyer_id)
    assert score is not None
    mine = body(await client.get(f"{CREDIT}/me", headers=bought.buyer.headers))
    assert mine["score"] == score.score == 600 + len(resident_before) - 100
    assert "claim_abuse_confirmed" in {line["kind"] for line in mine["explanation"]["lines"]}

    # Delivered again: nothing more, the scores unchanged.
    merchant_score = await stored(app, "merchant", shop_id)
    assert merchant_score is not None
    await deliver_again(app, [*new, abuse])
    assert len(await records(app, "merchant", shop_id)) == len(merchant_before) + 2
    assert len(await records(app, "resident", buyer_id)) == len(resident_before) + 1
    again = await stored(app, "merchant", shop_id)
    assert again is not None
    assert (again.score, again.records) == (merchant_score.score, merchant_score.records)


async def test_random_inspection_results_count_for_and_against_the_merchant(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    s = await a_supervision(session)
    plan = await drawn_plan(client, s)
    results: dict[int, str] = {}
    for target, result in zip(plan["targets"], ("passed", "issues_found", "failed"), strict=True):
        inspector = s.officer(sorted(target["inspector_user_ids"])[0])
        payload: dict[str, Any] = {
            "result": result,
            "findings": "" if result == "passed" else "冷柜温度记录缺失",
            "inspected_on": "2026-11-20",
        }
        recorded = await client.post(
            f"/api/v1/supervision/targets/{target['id']}/result",
            json=payload,
            headers=inspector.headers,
        )
        assert recorded.status_code == 200, recorded.text
        results[target["merchant_organisation_id"]] = result
    await app.state.dispatcher.run_once()
    expected = {"passed": 5, "issues_found": -30, "failed": -120}
    kind = {"passed": "passed", "issues_found": "issues", "failed": "failed"}
    written: list[CreditRecord] = []
    for target in plan["targets"]:
        merchant_id = target["merchant_organisation_id"]
        result = results[merchant_id]
        rows = list(await records(app, "merchant", merchant_id))
        assert kinds(rows) == [
            (
                f"spot_check_{kind[result]}",
                expected[result],
                "credit.scoring",
                5,
                f"inspection:{target['id']}",
            )
        ]
        assert rows[0].event_type == "supervision.InspectionResultPublished"
        assert rows[0].occurred_at == frozen_clock.now()  # published now, inspected before
        score = await stored(app, "merchant", merchant_id)
        assert score is not None
        assert score.score == 600 + expected[result]
        written.extend(rows)
    # Merchants not drawn have no record.
    drawn = set(results)
    for merchant in s.merchants:
        if merchant.id not in drawn:
            assert len(await records(app, "merchant", merchant.id)) == 0
    await deliver_again(app, written)
    for merchant_id in drawn:
        assert len(await records(app, "merchant", merchant_id)) == 1
