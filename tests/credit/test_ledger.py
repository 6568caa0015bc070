"""The credit ledger: written only by event handlers, once per event, never changed; the
scores kept incrementally equal a full recomputation from the ledger."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.clock import FrozenClock
from linli.config import Settings
from linli.credit import handlers, ledger
from linli.credit.ledger import Entry
from linli.credit.models import CreditRecord, RecordKind, SubjectKind
from linli.events import (
    BatchRecalled,
    DomainEvent,
    GroupFailed,
    OrderPickedUp,
    ReturnRefunded,
    ReturnRefundOverdue,
    TemperatureExcursion,
)
from linli.outbox import OutboxEvent
from tests.credit.helpers import (
    inspection_failed,
    publish,
    records,
    resolved,
    stored,
    uncollected,
)
from tests.factories import make_org, make_user
from tests.protection.helpers import collected

M, L, R = SubjectKind.MERCHANT, SubjectKind.LEADER, SubjectKind.RESIDENT


def picked_up(**overrides: object) -> OrderPickedUp:
    values: dict[str, object] = {
        "order_id": 7,
        "user_id": 11,
        "pickup_point_id": 3,
        "leader_user_id": 12,
        "goods_fen": 4500,
        "commission_fen": 450,
        "complete": True,
        "merchant_organisation_id": 5,
    }
    return OrderPickedUp.model_validate(values | overrides)


def test_what_each_event_tells() -> None:
    assert handlers.picked_up(picked_up()) == [
        Entry(R, 11, RecordKind.ORDER_COLLECTED, "order:7"),
        Entry(L, 12, RecordKind.PICKUP_HANDED_OVER, "order:7"),
        Entry(M, 5, RecordKind.ORDER_DELIVERED, "order:7"),
    ]
    # without the code: the leader's exception earns nothing; part of the goods: nothing yet
    assert [e.subject_kind for e in handlers.picked_up(picked_up(without_code=True))] == [R, M]
    assert handlers.picked_up(picked_up(complete=False)) == []
    # an event stored before it carried the merchant: the merchant is left out
    assert [
        e.subject_kind for e in handlers.picked_up(picked_up(merchant_organisation_id=None))
    ] == [R, L]
    assert handlers.complaint_resolved(resolved(5, "upheld")) == [
        Entry(M, 5, RecordKind.COMPLAINT_UPHELD, "complaint:1")
    ]
    assert handlers.complaint_resolved(resolved(5, "mediated", leader_user_id=12)) == [
        Entry(L, 12, RecordKind.COMPLAINT_MEDIATED, "complaint:1")
    ]
    for outcome in ("rejected", "withdrawn", "not_mediated"):
        assert handlers.complaint_resolved(resolved(5, outcome)) == []
    names = {s.event.event_name for s in handlers.SUBSCRIPTIONS}
    assert GroupFailed.event_name not in names  # no fault in its payload (docs/credit.md)
    for subscription in handlers.SUBSCRIPTIONS:
        subscribed = [n for n, _ in outbox.subscribers(subscription.event.event_name)]
        assert subscription.name in subscribed


async def test_handlers_write_one_record_per_event_with_rule_and_weight(
    app: FastAPI, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner, name="邻里鲜果")
    resident = await make_user(session, name="李四")
    await publish(app, inspection_failed(shop.id), uncollected(resident.id))
    rows = await records(app, M, shop.id)
    assert [(r.kind, r.weight, r.rule_id, r.rule_version) for r in rows] == [
        ("inspection_failed", -120, "credit.scoring", 5)
    ]
    async with app.state.sessionmaker() as s:
        event = await s.scalar(select(OutboxEvent).where(OutboxEvent.event_id == rows[0].event_id))
    assert event is not None
    assert event.event_type == "trace.InspectionFailed"
    assert rows[0].occurred_at == event.created_at == frozen_clock.now()
    assert rows[0].reference == "batch:1"
    score = await stored(app, M, shop.id)
    assert score is not None
    assert (score.score, score.grade, score.records) == (480, "B", 1)
    resident_rows = await records(app, R, resident.id)
    assert [(r.kind, r.weight) for r in resident_rows] == [("order_uncollected", -30)]

    # Delivered again (at-least-once): the same event writes nothing more.
    subscribed = dict(outbox.subscribers("trace.InspectionFailed"))
    handler = subscribed["credit.inspection_failed"]
    envelope = outbox.Envelope(
        event_id=rows[0].event_id,
        event_type="trace.InspectionFailed",
        payload=inspection_failed(shop.id),
        created_at=rows[0].occurred_at,
    )
    for _ in range(2):
        async with app.state.sessionmaker() as s:
            await handler(s, envelope)
            await s.commit()
    assert len(await records(app, M, shop.id)) == 1
    again = await stored(app, M, shop.id)
    assert again is not None
    assert (again.score, again.records) == (480, 1)


async def test_events_that_do_not_count_write_nothing(app: FastAPI, session: AsyncSession) -> None:
    resident = await make_user(session)
    await publish(
        app,
        GroupFailed(
            order_id=1,
            user_id=resident.id,
            campaign_id=1,
            pickup_point_id=1,
            refunded_fen=100,
            whole_order=True,
        ),
        resolved(99, "rejected"),
    )
    async with app.state.sessionmaker() as s:
        assert (await s.scalars(select(CreditRecord))).all() == []


async def test_the_ledger_is_append_only(app: FastAPI, session: AsyncSession) -> None:
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    await publish(app, inspection_failed(shop.id))
    async with app.state.sessionmaker() as s:
        row = await s.scalar(select(CreditRecord))
        assert row is not None
        row.weight = 0
        with pytest.raises(RuntimeError, match="append-only"):
            await s.flush()
        await s.rollback()
    async with app.state.sessionmaker() as s:
        row = await s.scalar(select(CreditRecord))
        assert row is not None
        await s.delete(row)
        with pytest.raises(RuntimeError, match="append-only"):
            await s.flush()
        await s.rollback()
    if app.state.engine.dialect.name == "postgresql":
        for statement in ("UPDATE credit_records SET weight = 0", "DELETE FROM credit_records"):
            async with app.state.sessionmaker() as s:
                with pytest.raises(DBAPIError, match="append-only"):
                    await s.execute(text(statement))
                await s.rollback()
    rows = await records(app, M, shop.id)
    assert [(r.kind, r.weight) for r in rows] == [("inspection_failed", -120)]


def merchant_event(rng: random.Random, organisation_id: int, n: int, user_id: int) -> DomainEvent:
    choice = rng.randrange(6)
    if choice == 0:
        return inspection_failed(organisation_id, n)
    if choice == 1:
        return TemperatureExcursion(
            excursion_id=n,
            batch_id=n,
            organisation_id=organisation_id,
            storage_class="chilled",
            started_at="2026-11-26T02:00:00Z",
            worst_c=12.5,
            rule="coldchain.storage_classes@1",
        )
    if choice == 2:
        return BatchRecalled(
            recall_id=n,
            organisation_id=organisation_id,
            level=2,
            batch_ids=[n],
            named_batch_ids=[n],
        )
    if choice == 3:
        return ReturnRefundOverdue(
            return_id=n,
            user_id=user_id,
            organisation_id=organisation_id,
            product_name="大米",
            refund_due_at=datetime(2026, 12, 1, tzinfo=UTC),
            rule_id="consumer.no_reason_return",
            rule_version=2,
        )
    if choice == 4:
        return ReturnRefunded(
            return_id=n,
            user_id=user_id,
            organisation_id=organisation_id,
            product_name="大米",
            amount_fen=1500,
            commission_reversed_fen=0,
            overdue=False,
            rule_id="consumer.no_reason_return",
            rule_version=2,
        )
    return picked_up(
        order_id=n,
        user_id=user_id,
        leader_user_id=user_id,
        merchant_organisation_id=organisation_id,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_incremental_scores_equal_a_full_recomputation(
    app: FastAPI, session: AsyncSession, frozen_clock: FrozenClock, seed: int
) -> None:
    """Random events over two years, delivered as they come: the score kept per record, the
    score from the periods, the explanation from the ledger and a rebuild all agree."""
    rng = random.Random(seed)
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    for n in range(1, 41):
        frozen_clock.advance(timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(1440)))
        await publish(
            app,
            *(
                merchant_event(rng, shop.id, n * 10 + k, owner.id)
                for k in range(rng.randrange(1, 3))
            ),
        )
        kept = await stored(app, M, shop.id)
        async with app.state.sessionmaker() as s:
            now = await ledger.standing(s, M, shop.id)
        assert kept is not None
        assert (kept.score, kept.grade) == (now.score, now.grade)
    frozen_clock.advance(timedelta(days=200))  # decay moves the score with no new record
    async with app.state.sessionmaker() as s:
        before = await ledger.standing(s, M, shop.id)
        explained = await ledger.explanation(s, M, shop.id)
        assert explained.score == before.score
        assert explained.total == explained.score
        rebuilt = await ledger.rebuild(s, M, shop.id)
        await s.commit()
    assert (rebuilt.score, rebuilt.grade, rebuilt.records) == (
        before.score,
        before.grade,
        before.records,
    )
    assert before.records == len(await records(app, M, shop.id))


REQUEST_SUFFIXES = ("/repair", "/removal", "/decision")


async def test_no_route_writes_credit(app: FastAPI, client: httpx.AsyncClient) -> None:
    from tests.test_authz_matrix import route_keys

    credit_routes = {key for key in route_keys(app) if "/credit" in key.split()[1]}
    assert credit_routes, "the credit routes are served"
    # a merchant's repair and removal requests and the regulator's decisions on them are the
    # only writing routes (tests/credit/test_lists.py), besides the resident's own pay-later
    # facility and bills (tests/credit/test_pay_later.py); none writes a score
    requests = {
        key
        for key in credit_routes
        if key.split()[1].endswith(REQUEST_SUFFIXES) or "/credit/pay-later" in key
    }
    assert {key.split()[0] for key in credit_routes - requests} == {"GET"}
    for path in ("/api/v1/credit/me", "/api/v1/credit/merchant", "/api/v1/credit/public/1"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            answer = await client.request(method, path, json={"score": 1000})
            assert answer.status_code in (403, 405), (method, path, answer.status_code)


async def test_a_real_pickup_credits_the_resident_the_leader_and_the_merchant(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    bought = await collected(app, client, session, settings, frozen_clock)
    ref = f"order:{bought.order_id}"
    subjects = [
        (R, bought.buyer.user.id, "order_collected", 1),
        (L, bought.leader.user.id, "pickup_handed_over", 2),
        (M, bought.world.shop.organisation.id, "order_delivered", 2),
    ]
    for subject_kind, subject_id, kind, weight in subjects:
        rows = await records(app, subject_kind, subject_id)
        assert [(r.kind, r.weight, r.reference) for r in rows] == [(kind, weight, ref)]


async def test_records_of_one_subject_arriving_together_are_all_counted(
    app: FastAPI, session: AsyncSession
) -> None:
    """Two handlers adding to the same subject at once (two dispatchers on PostgreSQL): the
    score row's lock puts them one after the other, and nothing is lost."""
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    await publish(app, inspection_failed(shop.id))  # the score row exists

    async def add(n: int) -> None:
        async with app.state.sessionmaker() as s:
            await ledger.append(
                s,
                event_id=f"00000000-0000-0000-0000-00000000000{n}",
                event_type="trace.BatchRecalled",
                occurred_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
                entries=[Entry(M, shop.id, RecordKind.BATCH_RECALLED, f"recall:{n}")],
            )
            await s.commit()

    await asyncio.gather(add(1), add(2))
    kept = await stored(app, M, shop.id)
    assert kept is not None
    assert (kept.score, kept.records) == (600 - 120 - 60 - 60, 3)
    async with app.state.sessionmaker() as s:
        assert (await ledger.standing(s, M, shop.id)).score == kept.score
