"""Recalls: the named batches and every batch made from or packed with them, frozen; every
buyer told and refunded per the recall's terms; progress against the level's deadlines; a
closing report (docs/recall-and-cold-chain.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import REGULATOR_RECALL, TRACE_RECALL, Actor, ensure
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import BatchRecalled, BuyerRecalled
from linli.groupbuy import fulfilment
from linli.groupbuy import service as groupbuy
from linli.groupbuy.models import CANCELLED, PENDING_PAYMENT, CampaignItem, Order, OrderLine
from linli.groupbuy.states import CancelReason
from linli.i18n import N_
from linli.payments.reasons import RefundReason
from linli.rules import service as rules
from linli.trace import chain, codes
from linli.trace.models import RECALLED, TraceBatch, TraceEvent, TraceEventBatch
from linli.trace.reach import Reach, regulator_reach
from linli.trace.safety_models import (
    RECALL_CLOSED,
    RECALL_OPEN,
    REFUND_FULL,
    REFUND_NONE,
    TraceRecall,
    TraceRecallBatch,
    TraceRecallLine,
)

RECALL_RULE = "recall.levels"
LOCAL = clock.LOCAL
MAX_BATCHES = 100


def recall_not_found() -> NotFound:
    return NotFound(N_("No such recall."), code="recall_not_found")


async def recall_scope(session: AsyncSession, actor: Actor) -> Reach:
    """Whose recalls the actor runs: a merchant its own, a regulator those of organisations in
    its jurisdiction; 403 for anyone else (residents, inspectors without the recall
    permission...)."""
    if actor.acts_for("regulator"):
        ensure(actor, REGULATOR_RECALL)
        return await regulator_reach(session, actor)
    ensure(actor, TRACE_RECALL)
    if not actor.acts_for("merchant") or actor.organisation_id is None:
        raise Forbidden(N_("You do not have permission to do this."))
    return Reach(organisation_id=actor.organisation_id)


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `start`. Public holidays are not
    taken out, so the deadline is never later than the law's."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def deadlines(
    values: dict[str, Any], level: int, hazard_found_at: datetime, opened_at: datetime
) -> tuple[datetime, datetime]:
    terms = values["levels"][str(level)]
    start_by = hazard_found_at + timedelta(hours=int(terms["start_within_hours"]))
    last_day = add_working_days(
        opened_at.astimezone(LOCAL).date(), int(terms["complete_within_working_days"])
    )
    complete_by = datetime.combine(last_day, time(23, 59, 59), tzinfo=LOCAL).astimezone(UTC)
    return start_by, complete_by


@dataclass(frozen=True)
class RecallInput:
    level: int
    reason: str
    batch_ids: list[int]
    refund: str = REFUND_FULL
    hazard_found_at: datetime | None = None


def _check(data: RecallInput) -> None:
    fields: dict[str, str] = {}
    if data.level not in (1, 2, 3):
        fields["level"] = N_("Choose level 1, 2 or 3.")
    if not 1 <= len(data.reason.strip()) <= 500:
        fields["reason"] = N_("Enter 1 to 500 characters.")
    if not 1 <= len(set(data.batch_ids)) <= MAX_BATCHES:
        fields["batch_ids"] = N_("Name 1 to 100 batches.")
    if data.refund not in (REFUND_FULL, REFUND_NONE):
        fields["refund"] = N_("Choose full or none.")
    found = data.hazard_found_at
    if found is not None and (found.tzinfo is None or found > clock.now() + timedelta(minutes=5)):
        fields["hazard_found_at"] = N_("Enter a time with a time zone, not in the future.")
    if fields:
        raise ValidationFailed(N_("Check the recall."), fields=dict(fields))


# --- downstream batches -------------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    batch: TraceBatch
    via: str  # named | transformation | aggregation
    from_batch_id: int | None
    event_pk: int | None


def _ids(document: dict[str, Any], epcs: Sequence[str], quantities: Sequence[str]) -> list[str]:
    found = [str(v) for name in epcs for v in document.get(name) or []]
    found += [str(q.get("epcClass")) for name in quantities for q in document.get(name) or []]
    return found


async def downstream(session: AsyncSession, named: Sequence[TraceBatch]) -> list[Reached]:
    """The named batches and, recursively, every batch made from them (TransformationEvent:
    an input lot -> the output lots) or packed with them (AggregationEvent: a child lot ->
    its parent, when the parent is a lot)."""
    reached: dict[int, Reached] = {b.id: Reached(b, "named", None, None) for b in named}
    frontier = [b.id for b in named]
    while frontier:
        events = (
            await session.scalars(
                select(TraceEvent)
                .join(TraceEventBatch, TraceEventBatch.event_pk == TraceEvent.id)
                .where(
                    TraceEventBatch.batch_id.in_(frontier),
                    TraceEvent.event_type.in_(("TransformationEvent", "AggregationEvent")),
                )
                .distinct()
                .order_by(TraceEvent.id)
            )
        ).all()
        frontier = []
        for event in events:
            document = json.loads(event.document)
            if event.event_type == "TransformationEvent":
                sources = _ids(document, ["inputEPCList"], ["inputQuantityList"])
                targets = _ids(document, ["outputEPCList"], ["outputQuantityList"])
                via = "transformation"
            else:
                if document.get("action") == "DELETE":
                    continue
                sources = _ids(document, ["childEPCs"], ["childQuantityList"])
                targets = [str(document["parentID"])] if document.get("parentID") else []
                via = "aggregation"
            resolved = await chain.batches_named(session, None, [*sources, *targets])
            source_ids = [resolved[s].id for s in sources if s in resolved]
            origin = next((i for i in source_ids if i in reached), None)
            if origin is None:
                continue  # the batch took part as an output / a parent: upstream, not ours
            for target in targets:
                batch = resolved.get(target)
                if batch is not None and batch.id not in reached:
                    reached[batch.id] = Reached(batch, via, origin, event.id)
                    frontier.append(batch.id)
    return list(reached.values())


# --- opening ------------------------------------------------------------------------------


async def open_recall(session: AsyncSession, actor: Actor, data: RecallInput) -> TraceRecall:
    """Open a recall: freeze every batch reached, tell and refund every buyer, publish
    BatchRecalled. By the merchant (its own batches) or a regulator (any one merchant's)."""
    reach = await recall_scope(session, actor)
    _check(data)
    query = select(TraceBatch).where(
        TraceBatch.id.in_(set(data.batch_ids)), reach.covers(TraceBatch.organisation_id)
    )
    named = (await session.scalars(query.order_by(TraceBatch.id).with_for_update())).all()
    if len(named) != len(set(data.batch_ids)):
        raise NotFound(
            N_("No such batch."),
            code="batch_not_found",
            fields={"batch_ids": N_("Name batches of your own.")},
        )
    owners = {b.organisation_id for b in named}
    if len(owners) != 1:
        raise ValidationFailed(
            N_("Check the recall."),
            fields={"batch_ids": N_("A recall covers the batches of one merchant.")},
        )
    rule = await rules.in_force(session, RECALL_RULE)
    now = clock.now()
    hazard_found_at = data.hazard_found_at.astimezone(UTC) if data.hazard_found_at else now
    start_by, complete_by = deadlines(rule.values, data.level, hazard_found_at, now)
    recall = TraceRecall(
        organisation_id=owners.pop(),
        opened_by_organisation_id=actor.organisation_id,
        opened_by_user_id=actor.user_id,
        level=data.level,
        reason=data.reason.strip(),
        refund=data.refund,
        status=RECALL_OPEN,
        rule_id=rule.rule_id,
        rule_version=rule.version,
        hazard_found_at=hazard_found_at,
        start_by=start_by,
        complete_by=complete_by,
        opened_at=now,
    )
    session.add(recall)
    await session.flush()
    reached = await downstream(session, named)
    for item in reached:
        session.add(
            TraceRecallBatch(
                recall_id=recall.id,
                batch_id=item.batch.id,
                via=item.via,
                from_batch_id=item.from_batch_id,
                event_pk=item.event_pk,
            )
        )
    batch_ids = sorted(r.batch.id for r in reached)
    for item in reached:
        item.batch.status = RECALLED
        await chain.record_event(
            session,
            item.batch.organisation_id,
            chain.object_event(
                item.batch,
                biz_step="holding",
                disposition="recalled",
                extra={"linli:recall": {"recall": recall.id, "level": data.level}},
            ),
            batches=[item.batch],
        )
    await session.flush()
    lines = await _affected_lines(session, batch_ids)
    for line, order, batch_id in lines:
        await _handle_line(session, recall, line, order, batch_id)
    outbox.publish(
        session,
        BatchRecalled(
            recall_id=recall.id,
            organisation_id=recall.organisation_id,
            level=recall.level,
            batch_ids=batch_ids,
            named_batch_ids=[b.id for b in named],
        ),
    )
    audit.record(
        session,
        actor,
        "trace.recall_opened",
        target_type="trace_recall",
        target_id=recall.id,
        level=data.level,
        refund=data.refund,
        named=[b.id for b in named],
        batches=batch_ids,
        order_lines=len(lines),
        rule=f"{rule.rule_id}@{rule.version}",
    )
    return recall


async def _affected_lines(
    session: AsyncSession, batch_ids: Sequence[int]
) -> list[tuple[OrderLine, Order, int]]:
    rows = (
        await session.execute(
            select(OrderLine, Order, CampaignItem.batch_id)
            .join(CampaignItem, CampaignItem.id == OrderLine.item_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(CampaignItem.batch_id.in_(batch_ids), Order.status != CANCELLED)
            .order_by(Order.id, OrderLine.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [(line, order, int(b)) for line, order, b in rows if b is not None]


async def _handle_line(
    session: AsyncSession, recall: TraceRecall, line: OrderLine, order: Order, batch_id: int
) -> None:
    now = clock.now()
    code = await codes.ensure_line_code(session, line.id, batch_id)
    row = TraceRecallLine(
        recall_id=recall.id,
        order_line_id=line.id,
        order_id=order.id,
        user_id=order.user_id,
        batch_id=batch_id,
        quantity=line.quantity,
        notified_at=now,
    )
    session.add(row)
    outbox.publish(
        session,
        BuyerRecalled(
            recall_id=recall.id,
            user_id=order.user_id,
            order_id=order.id,
            order_line_id=line.id,
            product_name=await _product_name(session, line.item_id),
            level=recall.level,
            reason=recall.reason,
            trace_code=code,
        ),
    )
    if order.status == PENDING_PAYMENT:
        intent = await groupbuy.payment_of(session, order)
        cancelled = await groupbuy.expire_order(
            session, order.id, intent.id if intent else None, reason=CancelReason.RECALLED
        )
        row.cancelled = cancelled
    elif recall.refund == REFUND_FULL:
        # Collected goods have their settlement and the leader's commission reversed first.
        amount = await fulfilment.refund_line_in_full(
            session,
            order,
            line,
            RefundReason.RECALL,
            f"recall #{recall.id}",
            f"recall-{recall.id}-line-{line.id}",
        )
        if amount:
            row.refunded_fen = amount
            row.refunded_at = now
    await session.flush()


async def _product_name(session: AsyncSession, item_id: int) -> str:
    name = await session.scalar(select(CampaignItem.product_name).where(CampaignItem.id == item_id))
    return str(name or "")


# --- reading, progress, returns, closing ------------------------------------------------


async def get_recall(
    session: AsyncSession, actor: Actor, recall_id: int, *, lock: bool = False
) -> TraceRecall:
    reach = await recall_scope(session, actor)
    query = select(TraceRecall).where(
        TraceRecall.id == recall_id, reach.covers(TraceRecall.organisation_id)
    )
    if lock:
        query = query.with_for_update()
    recall = await session.scalar(query.execution_options(populate_existing=True))
    if recall is None:
        raise recall_not_found()
    return recall


async def recalls_for(
    session: AsyncSession, actor: Actor, *, limit: int = 100
) -> Sequence[TraceRecall]:
    reach = await recall_scope(session, actor)
    query = (
        select(TraceRecall)
        .where(reach.covers(TraceRecall.organisation_id))
        .order_by(TraceRecall.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def recall_batches(
    session: AsyncSession, recall_id: int
) -> list[tuple[TraceRecallBatch, TraceBatch]]:
    rows = await session.execute(
        select(TraceRecallBatch, TraceBatch)
        .join(TraceBatch, TraceBatch.id == TraceRecallBatch.batch_id)
        .where(TraceRecallBatch.recall_id == recall_id)
        .order_by(TraceRecallBatch.id)
    )
    return [(rb, b) for rb, b in rows.all()]


async def recall_lines(session: AsyncSession, recall_id: int) -> Sequence[TraceRecallLine]:
    return (
        await session.scalars(
            select(TraceRecallLine)
            .where(TraceRecallLine.recall_id == recall_id)
            .order_by(TraceRecallLine.id)
        )
    ).all()


def progress_of(recall: TraceRecall, lines: Sequence[TraceRecallLine]) -> dict[str, Any]:
    now = clock.now()
    end = recall.closed_at or now
    return {
        "order_lines": len(lines),
        "buyers": len({line.user_id for line in lines}),
        "notified": sum(1 for line in lines if line.notified_at is not None),
        "cancelled": sum(1 for line in lines if line.cancelled),
        "refunded_lines": sum(1 for line in lines if line.refunded_fen > 0),
        "refunded_fen": sum(line.refunded_fen for line in lines),
        "quantity": sum(line.quantity for line in lines),
        "returned_qty": sum(line.returned_qty for line in lines),
        "started_on_time": recall.opened_at <= recall.start_by,
        "complete_by": recall.complete_by.isoformat(),
        "overdue": end > recall.complete_by,
        "time_left_hours": round((recall.complete_by - now).total_seconds() / 3600, 1),
    }


async def progress(session: AsyncSession, actor: Actor, recall_id: int) -> dict[str, Any]:
    recall = await get_recall(session, actor, recall_id)
    return progress_of(recall, await recall_lines(session, recall.id))


async def record_return(
    session: AsyncSession, actor: Actor, recall_id: int, line_id: int, quantity: int
) -> TraceRecallLine:
    """Goods of a recalled order line came back (counted up to the line's quantity)."""
    recall = await get_recall(session, actor, recall_id, lock=True)
    if recall.status != RECALL_OPEN:
        raise Conflict(N_("This recall is closed."), code="recall_closed")
    line = await session.scalar(
        select(TraceRecallLine).where(
            TraceRecallLine.recall_id == recall.id, TraceRecallLine.id == line_id
        )
    )
    if line is None:
        raise NotFound(N_("No such order line in this recall."), code="recall_line_not_found")
    if isinstance(quantity, bool) or not 1 <= quantity <= line.quantity - line.returned_qty:
        raise ValidationFailed(
            N_("Check the return."),
            fields={"quantity": N_("At least 1 and no more than is still out.")},
        )
    line.returned_qty += quantity
    line.returned_at = clock.now()
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.recall_return_recorded",
        target_type="trace_recall",
        target_id=recall.id,
        line_id=line.id,
        quantity=quantity,
    )
    return line


async def close_recall(session: AsyncSession, actor: Actor, recall_id: int) -> TraceRecall:
    """Close with a report: counts, refunded amount, time to completion, deadlines met."""
    recall = await get_recall(session, actor, recall_id, lock=True)
    if recall.status == RECALL_CLOSED:
        return recall
    lines = await recall_lines(session, recall.id)
    batches = await recall_batches(session, recall.id)
    now = clock.now()
    recall.status = RECALL_CLOSED
    recall.closed_at = now
    report = progress_of(recall, lines)
    report |= {
        "batches": len(batches),
        "named_batches": sum(1 for rb, _ in batches if rb.via == "named"),
        "downstream_batches": sum(1 for rb, _ in batches if rb.via != "named"),
        "hours_to_completion": round((now - recall.opened_at).total_seconds() / 3600, 1),
        "completed_on_time": now <= recall.complete_by,
        "rule": f"{recall.rule_id}@{recall.rule_version}",
    }
    report.pop("time_left_hours", None)
    recall.report = report
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.recall_closed",
        target_type="trace_recall",
        target_id=recall.id,
        refunded_fen=report["refunded_fen"],
    )
    return recall


async def recalls_of_batch(session: AsyncSession, batch_id: int) -> Sequence[TraceRecall]:
    return (
        await session.scalars(
            select(TraceRecall)
            .join(TraceRecallBatch, TraceRecallBatch.recall_id == TraceRecall.id)
            .where(TraceRecallBatch.batch_id == batch_id)
            .order_by(TraceRecall.id)
        )
    ).all()
