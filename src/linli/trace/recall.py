"""Recalls: the named batches and every batch made from or packed with them, frozen; every
buyer told and refunded per the recall's terms; progress against the level's deadlines; a
closing report (docs/recall-and-cold-chain.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import REGULATOR_RECALL, TRACE_RECALL, Actor
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.events import BatchRecalled, BuyerRecalled
from linli.groupbuy import lines as groupbuy
from linli.i18n import N_
from linli.rules import service as rules
from linli.rules import workdays
from linli.trace import codes, corrections, digital_link, generated, identifiers, policies
from linli.trace.models import (
    DESTROYED,
    EPC_CLASS,
    EPC_INSTANCE,
    RECALLED,
    TraceBatch,
    TraceEvent,
    TraceEventBatch,
    TraceEventEpc,
)
from linli.trace.reach import Reach
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
    return await policies.reach(session, actor, merchant=TRACE_RECALL, regulator=REGULATOR_RECALL)


def deadlines(
    values: dict[str, Any],
    level: int,
    hazard_found_at: datetime,
    opened_at: datetime,
    calendar: workdays.WorkingCalendar,
) -> tuple[datetime, datetime]:
    """When the recall must start (hours from the hazard's discovery) and be completed: the end
    of the n-th working day after the day it opens (Asia/Shanghai; the opening day is not
    counted, public holidays are skipped and adjusted working weekends counted)."""
    terms = values["levels"][str(level)]
    start_by = hazard_found_at + timedelta(hours=int(terms["start_within_hours"]))
    last_day = calendar.add_working_days(
        workdays.local_date(opened_at), int(terms["complete_within_working_days"])
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


@dataclass(frozen=True)
class Refused:
    """A link the recall did not follow: the event names another organisation's batch as
    made from / packed with a recalled one, but that organisation did not capture it."""

    event_pk: int
    batch_id: int


def _ids(document: dict[str, Any], epcs: Sequence[str], quantities: Sequence[str]) -> list[str]:
    found = [str(v) for name in epcs for v in document.get(name) or [] if isinstance(v, str)]
    found += [
        str(q["epcClass"])
        for name in quantities
        for q in document.get(name) or []
        if isinstance(q, dict) and isinstance(q.get("epcClass"), str)
    ]
    return found


def identifiers_of(batch: TraceBatch) -> set[str]:
    """The values `trace_event_epcs` holds for an event naming the batch as a lot: its
    canonical Digital Link class (GTIN + lot) and `urn:linli:batch:{code}`."""
    values = {f"{identifiers.LINLI_BATCH}{batch.code}"}
    if batch.gtin:
        values.add(identifiers.canonical_epc(identifiers.batch_class(batch)))
        values.add(identifiers.batch_class(batch))
    return values


async def resolve_lots(session: AsyncSession, values: Iterable[str]) -> dict[str, list[TraceBatch]]:
    """Identifier -> every batch it names, of any organisation (GTIN + lot in an LGTIN class,
    an EPC or a Digital Link with /10/, or `urn:linli:batch:{code}`). Two organisations can
    hold the same GTIN and lot, so a value may name several batches."""
    by_lot: dict[tuple[str, str], list[str]] = {}
    by_code: dict[str, list[str]] = {}
    for value in set(values):
        if value.startswith(identifiers.LINLI_BATCH):
            by_code.setdefault(value[len(identifiers.LINLI_BATCH) :], []).append(value)
        elif (pair := digital_link.gtin_and_lot(value)) is not None:
            by_lot.setdefault(pair, []).append(value)
    found: dict[str, list[TraceBatch]] = {}
    if by_lot:
        query = select(TraceBatch).where(
            TraceBatch.gtin.in_({g for g, _ in by_lot}),
            TraceBatch.lot.in_({lot for _, lot in by_lot}),
        )
        for batch in await session.scalars(query.order_by(TraceBatch.id)):
            for value in by_lot.get((batch.gtin or "", batch.lot), []):
                found.setdefault(value, []).append(batch)
    if by_code:
        query = select(TraceBatch).where(TraceBatch.code.in_(by_code))
        for batch in await session.scalars(query.order_by(TraceBatch.id)):
            for value in by_code[batch.code]:
                found.setdefault(value, []).append(batch)
    return found


async def _events_naming(session: AsyncSession, batches: Sequence[TraceBatch]) -> list[TraceEvent]:
    """Transformation and aggregation events that name any of the batches: linked to them
    (captured by their owner) or naming their lot in an EPC or EPC class (captured by anyone,
    such as a processor that made its own batch from them). Events declared in error, and the
    declarations themselves, are not followed."""
    values = {v for b in batches for v in identifiers_of(b)}
    linked = select(TraceEventBatch.event_pk).where(
        TraceEventBatch.batch_id.in_([b.id for b in batches])
    )
    named = select(TraceEventEpc.event_pk).where(
        TraceEventEpc.kind.in_((EPC_INSTANCE, EPC_CLASS)), TraceEventEpc.value.in_(values)
    )
    return list(
        (
            await session.scalars(
                select(TraceEvent)
                .where(
                    or_(TraceEvent.id.in_(linked), TraceEvent.id.in_(named)),
                    TraceEvent.event_type.in_(("TransformationEvent", "AggregationEvent")),
                    corrections.standing(),
                )
                .order_by(TraceEvent.id)
            )
        ).all()
    )


async def _in_reach(session: AsyncSession, reach: Reach | None, ids: set[int]) -> set[int]:
    if reach is None or not ids:
        return set()
    query = select(TraceBatch.id).where(
        TraceBatch.id.in_(ids), reach.covers(TraceBatch.organisation_id)
    )
    return set((await session.scalars(query)).all())


async def downstream(
    session: AsyncSession, named: Sequence[TraceBatch], *, regulator: Reach | None = None
) -> tuple[list[Reached], list[Refused]]:
    """The named batches and, recursively, every batch made from them (TransformationEvent:
    an input lot -> the output lots) or packed with them (AggregationEvent other than DELETE:
    a child lot -> its parent, when the parent ID names a lot).

    A link into a batch is followed only on the word of that batch's owner: the event was
    captured by the organisation the batch belongs to (so a merchant's own transformation
    leads to its own outputs, and a processor that captured "made from A's lot" is reached
    from A's lot), or the recall is a regulator's and the batch is in its jurisdiction. Any
    other link (one organisation naming another's batch as its output or parent) is refused
    and reported; the recall never acts on that batch."""
    reached: dict[int, Reached] = {b.id: Reached(b, "named", None, None) for b in named}
    refused: dict[tuple[int, int], Refused] = {}
    frontier = list(named)
    seen_events: set[int] = set()
    while frontier:
        events = [e for e in await _events_naming(session, frontier) if e.id not in seen_events]
        seen_events.update(e.id for e in events)
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
                parent = document.get("parentID")
                targets = [parent] if isinstance(parent, str) else []
                via = "aggregation"
            resolved = await resolve_lots(session, [*sources, *targets])
            origin = next(
                (b.id for s in sources for b in resolved.get(s, []) if b.id in reached), None
            )
            if origin is None:
                continue  # the batch took part as an output / a parent: upstream, not ours
            candidates = {
                b.id: b for t in targets for b in resolved.get(t, []) if b.id not in reached
            }
            foreign = {
                i for i, b in candidates.items() if b.organisation_id != event.organisation_id
            }
            vouched = await _in_reach(session, regulator, foreign)
            for batch_id, batch in sorted(candidates.items()):
                if batch_id in foreign and batch_id not in vouched:
                    refused[(event.id, batch_id)] = Refused(event.id, batch_id)
                    continue
                reached[batch_id] = Reached(batch, via, origin, event.id)
                frontier.append(batch)
    return list(reached.values()), [
        r for key, r in sorted(refused.items()) if r.batch_id not in reached
    ]


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
    calendar = await workdays.load(session)
    start_by, complete_by = deadlines(rule.values, data.level, hazard_found_at, now, calendar)
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
    reached, refused = await downstream(
        session, named, regulator=reach if reach.region is not None else None
    )
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
        if item.batch.status != DESTROYED:  # a destroyed batch stays destroyed
            item.batch.status = RECALLED
        await generated.record_event(
            session,
            item.batch.organisation_id,
            generated.object_event(
                item.batch,
                biz_step="holding",
                disposition="recalled",
                extra={"linli:recall": {"recall": recall.id, "level": data.level}},
            ),
            batches=[item.batch],
        )
    await session.flush()
    lines = await groupbuy.lines_holding(session, batch_ids)
    for line in lines:
        await _handle_line(session, recall, line)
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
        refused_links=[{"event": r.event_pk, "batch": r.batch_id} for r in refused],
        rule=f"{rule.rule_id}@{rule.version}",
        calendar=calendar.label,
    )
    return recall


async def _handle_line(session: AsyncSession, recall: TraceRecall, line: groupbuy.HeldLine) -> None:
    now = clock.now()
    code = await codes.ensure_line_code(session, line.line_id, line.batch_id)
    row = TraceRecallLine(
        recall_id=recall.id,
        order_line_id=line.line_id,
        order_id=line.order_id,
        user_id=line.user_id,
        batch_id=line.batch_id,
        quantity=line.quantity,
        notified_at=now,
    )
    session.add(row)
    outbox.publish(
        session,
        BuyerRecalled(
            recall_id=recall.id,
            user_id=line.user_id,
            order_id=line.order_id,
            order_line_id=line.line_id,
            product_name=line.product_name,
            level=recall.level,
            reason=recall.reason,
            trace_code=code,
        ),
    )
    # An unpaid order is cancelled; collected goods have their settlement and the leader's
    # commission reversed before the refund.
    outcome = await groupbuy.recall_line(
        session,
        line.line_id,
        refund=recall.refund == REFUND_FULL,
        note=f"recall #{recall.id}",
        key=f"recall-{recall.id}-line-{line.line_id}",
    )
    row.cancelled = outcome.cancelled
    if outcome.refunded_fen:
        row.refunded_fen = outcome.refunded_fen
        row.refunded_at = now
    await session.flush()


# --- reading, progress, returns, closing ------------------------------------------------


async def access_recall(
    session: AsyncSession, actor: Actor, recall_id: int, *, lock: bool = False
) -> TraceRecall:
    reach = await recall_scope(session, actor)
    # Running a recall (returns, closing) is its merchant's or a regulator's over that
    # merchant; seeing it is also for the owner of any batch it froze.
    where = reach.covers(TraceRecall.organisation_id) if lock else _visible(reach)
    query = select(TraceRecall).where(TraceRecall.id == recall_id, where)
    if lock:
        query = query.with_for_update()
    recall = await session.scalar(query.execution_options(populate_existing=True))
    if recall is None:
        raise recall_not_found()
    return recall


def _visible(reach: Reach) -> ColumnElement[bool]:
    """Recalls of an organisation in reach, or covering a batch of one."""
    touching = (
        select(TraceRecallBatch.recall_id)
        .join(TraceBatch, TraceBatch.id == TraceRecallBatch.batch_id)
        .where(reach.covers(TraceBatch.organisation_id))
    )
    return or_(reach.covers(TraceRecall.organisation_id), TraceRecall.id.in_(touching))


async def runs(session: AsyncSession, actor: Actor, recall_id: int) -> bool:
    """Whether the actor runs the recall (records returns, closes it), rather than only
    seeing it because it froze a batch of theirs."""
    reach = await recall_scope(session, actor)
    found = await session.scalar(
        select(TraceRecall.id).where(
            TraceRecall.id == recall_id, reach.covers(TraceRecall.organisation_id)
        )
    )
    return found is not None


async def recalls_for(
    session: AsyncSession, actor: Actor, *, limit: int = 100
) -> Sequence[TraceRecall]:
    reach = await recall_scope(session, actor)
    query = select(TraceRecall).where(_visible(reach)).order_by(TraceRecall.id.desc()).limit(limit)
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
    recall = await access_recall(session, actor, recall_id)
    return progress_of(recall, await recall_lines(session, recall.id))


async def record_return(
    session: AsyncSession, actor: Actor, recall_id: int, line_id: int, quantity: int
) -> TraceRecallLine:
    """Goods of a recalled order line came back (counted up to the line's quantity)."""
    recall = await access_recall(session, actor, recall_id, lock=True)
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
    recall = await access_recall(session, actor, recall_id, lock=True)
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
