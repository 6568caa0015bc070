"""Food safety of batches: who may see and act on them, holds and their decisions,
inspections, cold-chain readings and excursion detection (docs/recall-and-cold-chain.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.audit import service as audit
from linli.authz import (
    REGULATOR_TRACE_MANAGE,
    REGULATOR_TRACE_READ,
    TRACE_SAFETY_MANAGE,
    TRACE_SAFETY_READ,
    Actor,
)
from linli.catalog import offers
from linli.errors import Conflict, Forbidden, NotFound, ValidationFailed
from linli.events import BatchHoldDecided, InspectionFailed, TemperatureExcursion
from linli.i18n import N_
from linli.rules import service as rules
from linli.trace import corrections, generated, policies
from linli.trace.models import ACTIVE, DESTROYED, ON_HOLD, TraceBatch, TraceEvent
from linli.trace.reach import Reach
from linli.trace.safety_models import (
    BY_MERCHANT,
    BY_PLATFORM,
    BY_REGULATOR,
    DESTROY,
    RELEASE,
    TraceExcursion,
    TraceHold,
    TraceInspection,
    TraceReading,
)

COLDCHAIN_RULE = "coldchain.storage_classes"
EXCURSION, INSPECTION_FAILED = "excursion", "inspection_failed"
LOOKBACK = timedelta(hours=12)  # readings re-examined around new ones
MAX_READINGS = 1000  # per request


def batch_not_found() -> NotFound:
    return NotFound(N_("No such batch."), code="batch_not_found")


async def scope(session: AsyncSession, actor: Actor, *, manage: bool = False) -> Reach:
    """Whose batches the actor may see: a merchant its own, a regulator those in its
    jurisdiction. Residents and other organisation kinds are refused (403)."""
    return await policies.reach(
        session,
        actor,
        merchant=TRACE_SAFETY_MANAGE if manage else TRACE_SAFETY_READ,
        regulator=REGULATOR_TRACE_MANAGE if manage else REGULATOR_TRACE_READ,
    )


async def access_safety_batch(
    session: AsyncSession, actor: Actor, batch_id: int, *, manage: bool = False, lock: bool = False
) -> TraceBatch:
    """A batch the actor may see (its own merchant's, or in a regulator's jurisdiction);
    404 else."""
    reach = await scope(session, actor, manage=manage)
    query = select(TraceBatch).where(
        TraceBatch.id == batch_id, reach.covers(TraceBatch.organisation_id)
    )
    if lock:
        query = query.with_for_update()
    batch = await session.scalar(query.execution_options(populate_existing=True))
    if batch is None:
        raise batch_not_found()
    return batch


async def batches_of(
    session: AsyncSession, actor: Actor, *, limit: int = 200
) -> Sequence[TraceBatch]:
    reach = await scope(session, actor)
    query = (
        select(TraceBatch)
        .where(reach.covers(TraceBatch.organisation_id))
        .order_by(TraceBatch.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


# --- holds ------------------------------------------------------------------------------


def authority_of(actor: Actor, reason: str) -> str:
    """On whose authority a hold is opened: an excursion on the platform's rules, a failed
    inspection on that of the organisation recording it (a regulator or the merchant)."""
    if reason == EXCURSION or actor.system:
        return BY_PLATFORM
    return BY_REGULATOR if actor.acts_for("regulator") else BY_MERCHANT


async def put_on_hold(
    session: AsyncSession, actor: Actor, batch: TraceBatch, reason: str, source_id: int | None
) -> TraceHold:
    """Open a hold, owned by whoever opened it; an active batch goes on hold (a recalled or
    destroyed one keeps its status)."""
    authority = authority_of(actor, reason)
    hold = TraceHold(
        batch_id=batch.id,
        reason=reason,
        source_id=source_id,
        opened_at=clock.now(),
        authority=authority,
        opened_by_organisation_id=None if authority == BY_PLATFORM else actor.organisation_id,
        opened_by_user_id=actor.user_id,
    )
    session.add(hold)
    if batch.status == ACTIVE:
        batch.status = ON_HOLD
        await generated.record_event(
            session,
            batch.organisation_id,
            generated.object_event(batch, biz_step="holding", disposition="non_sellable_other"),
            batches=[batch],
        )
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.batch_held",
        target_type="trace_batch",
        target_id=batch.id,
        reason=reason,
        source_id=source_id,
        authority=authority,
    )
    return hold


async def open_holds(session: AsyncSession, batch_id: int) -> Sequence[TraceHold]:
    return (
        await session.scalars(
            select(TraceHold)
            .where(TraceHold.batch_id == batch_id, TraceHold.decision.is_(None))
            .order_by(TraceHold.id)
        )
    ).all()


async def holds_of(session: AsyncSession, batch_id: int) -> Sequence[TraceHold]:
    return (
        await session.scalars(
            select(TraceHold).where(TraceHold.batch_id == batch_id).order_by(TraceHold.id)
        )
    ).all()


async def decide_hold(
    session: AsyncSession, actor: Actor, batch_id: int, decision: str, reason: str
) -> TraceBatch:
    """release (the batch may be sold again) or destroy (status `destroyed`: never sellable
    again, no later hold or decision changes it) every open hold of the batch; by its merchant
    or a regulator with jurisdiction. A regulator's hold is released only by a regulator."""
    batch = await access_safety_batch(session, actor, batch_id, manage=True, lock=True)
    reason = reason.strip()
    if decision not in (RELEASE, DESTROY):
        raise ValidationFailed(
            N_("Check the decision."), fields={"decision": N_("Choose release or destroy.")}
        )
    if not 1 <= len(reason) <= 500:
        raise ValidationFailed(
            N_("Check the decision."), fields={"reason": N_("Enter 1 to 500 characters.")}
        )
    if batch.status == DESTROYED:
        raise Conflict(
            N_("This batch was destroyed; it can never be sold again."), code="batch_destroyed"
        )
    holds = await open_holds(session, batch.id)
    if not holds or batch.status != ON_HOLD:
        raise Conflict(N_("This batch is not on hold."), code="batch_not_on_hold")
    if (
        decision == RELEASE
        and not actor.acts_for("regulator")
        and any(h.authority == BY_REGULATOR for h in holds)
    ):
        # Only a regulator with jurisdiction over the batch (access_safety_batch checked it)
        # releases a regulator's hold; the merchant may still destroy.
        raise Forbidden(
            N_("A regulator put this batch on hold; only the regulator can release it."),
            code="hold_by_regulator",
        )
    now = clock.now()
    for hold in holds:
        hold.decision = decision
        hold.decision_reason = reason
        hold.decided_at = now
        hold.decided_by_user_id = actor.user_id
        hold.decided_by_organisation_id = actor.organisation_id
    if decision == RELEASE:
        batch.status = ACTIVE
        event = generated.object_event(batch, biz_step="holding", disposition="sellable_accessible")
    else:
        batch.status = DESTROYED
        event = generated.object_event(batch, biz_step="destroying", disposition="destroyed")
    await generated.record_event(session, batch.organisation_id, event, batches=[batch])
    await session.flush()
    outbox.publish(
        session,
        BatchHoldDecided(
            batch_id=batch.id, organisation_id=batch.organisation_id, decision=decision
        ),
    )
    audit.record(
        session,
        actor,
        "trace.hold_decided",
        target_type="trace_batch",
        target_id=batch.id,
        decision=decision,
        reason=reason,
        holds=[h.id for h in holds],
    )
    return batch


# --- inspections ------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectionInput:
    laboratory: str
    items_tested: list[str]
    results: str
    passed: bool
    inspected_at: datetime | None = None
    report_file_id: int | None = None


def check_inspection(data: InspectionInput) -> InspectionInput:
    fields: dict[str, str] = {}
    laboratory = data.laboratory.strip()
    items = [i.strip() for i in data.items_tested if i.strip()]
    if not 1 <= len(laboratory) <= 120:
        fields["laboratory"] = N_("Enter 1 to 120 characters.")
    if not 1 <= len(items) <= 50 or any(len(i) > 120 for i in items):
        fields["items_tested"] = N_("Name 1 to 50 items tested, each at most 120 characters.")
    if not 1 <= len(data.results.strip()) <= 5000:
        fields["results"] = N_("Enter 1 to 5,000 characters.")
    when = data.inspected_at
    if when is not None and (when.tzinfo is None or when > clock.now() + timedelta(minutes=5)):
        fields["inspected_at"] = N_("Enter a time with a time zone, not in the future.")
    if fields:
        raise ValidationFailed(N_("Check the inspection."), fields=dict(fields))
    return InspectionInput(
        laboratory, items, data.results.strip(), data.passed, when, data.report_file_id
    )


async def record_inspection(
    session: AsyncSession, actor: Actor, batch_id: int, data: InspectionInput
) -> TraceInspection:
    """An inspection by a laboratory: an `inspecting` event on the batch's chain; a failure
    puts the batch on hold and publishes InspectionFailed."""
    batch = await access_safety_batch(session, actor, batch_id, manage=True, lock=True)
    data = check_inspection(data)
    assert actor.organisation_id is not None
    when = data.inspected_at or clock.now()
    event = generated.object_event(
        batch,
        biz_step="inspecting",
        when=when,
        disposition="conformant" if data.passed else "non_conformant",
        extra={
            "linli:inspection": {
                "laboratory": data.laboratory,
                "itemsTested": data.items_tested,
                "passed": data.passed,
            },
        },
    )
    row_event = await generated.record_event(session, batch.organisation_id, event, batches=[batch])
    inspection = TraceInspection(
        batch_id=batch.id,
        organisation_id=actor.organisation_id,
        laboratory=data.laboratory,
        items_tested=data.items_tested,
        results=data.results,
        passed=data.passed,
        report_file_id=data.report_file_id,
        event_pk=row_event.id,
        inspected_at=when,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(inspection)
    await session.flush()
    audit.record(
        session,
        actor,
        "trace.inspection_recorded",
        target_type="trace_batch",
        target_id=batch.id,
        inspection_id=inspection.id,
        passed=data.passed,
    )
    if not data.passed:
        await put_on_hold(session, actor, batch, INSPECTION_FAILED, inspection.id)
        outbox.publish(
            session,
            InspectionFailed(
                inspection_id=inspection.id,
                batch_id=batch.id,
                batch_code=batch.code,
                organisation_id=batch.organisation_id,
                laboratory=data.laboratory,
            ),
        )
    return inspection


async def inspections_of(session: AsyncSession, batch_id: int) -> Sequence[TraceInspection]:
    return (
        await session.scalars(
            select(TraceInspection)
            .where(TraceInspection.batch_id == batch_id)
            .order_by(TraceInspection.inspected_at, TraceInspection.id)
        )
    ).all()


# --- cold chain -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    batch_code: str
    sensor_id: str
    time: datetime
    temperature_c: float


def parse_readings(items: Any, *, field: str = "readings") -> list[Reading]:
    """Readings from JSON (a list of objects); 422 naming the first bad field."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_READINGS:
        raise ValidationFailed(
            N_("Check the readings."),
            fields={field: N_("Send 1 to 1,000 readings.")},
        )
    found: list[Reading] = []
    latest = clock.now() + timedelta(minutes=5)
    for n, item in enumerate(items):
        where = f"{field}.{n}"
        if not isinstance(item, dict):
            raise _bad(where, N_("Send an object."))
        unknown = set(item) - {"batch_code", "sensor_id", "time", "temperature_c"}
        if unknown:
            raise _bad(f"{where}.{sorted(unknown)[0]}", N_("Unknown field."))
        code, sensor = item.get("batch_code"), item.get("sensor_id")
        if not isinstance(code, str) or not 1 <= len(code) <= 20 or not code.isalnum():
            raise _bad(f"{where}.batch_code", N_("Enter a batch's trace code."))
        if (
            not isinstance(sensor, str)
            or not 1 <= len(sensor) <= 64
            or not sensor.isprintable()
            or " " in sensor
        ):
            raise _bad(f"{where}.sensor_id", N_("Enter 1 to 64 characters without spaces."))
        moment = _time(item.get("time"))
        if moment is None or moment > latest:
            raise _bad(
                f"{where}.time", N_("Enter a date-time with a time zone, not in the future.")
            )
        value = item.get("temperature_c")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not -100 <= value <= 100
        ):
            raise _bad(f"{where}.temperature_c", N_("Enter a number of degrees from -100 to 100."))
        found.append(Reading(code, sensor, moment.astimezone(UTC), float(value)))
    return found


def _bad(field: str, text: str) -> ValidationFailed:
    return ValidationFailed(N_("Check the readings."), fields={field: text})


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper() or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def store_readings(
    session: AsyncSession,
    actor: Actor,
    readings: Sequence[Reading],
    *,
    source: str = "api",
    organisation_id: int | None = None,
    device_id: str | None = None,
) -> dict[str, int]:
    """Store readings (duplicates of a sensor's time are skipped), keep them as one EPCIS
    sensor event per batch, then look for excursions. The actor must manage every batch
    named (404 naming the field otherwise); the MQTT listener acts as the system for the
    organisation of the registered device that sent them (`organisation_id`)."""
    codes = sorted({r.batch_code for r in readings})
    query = select(TraceBatch).where(TraceBatch.code.in_(codes))
    if actor.system:
        if organisation_id is None:
            raise ValueError("readings stored by the system name the device's organisation")
        query = query.where(TraceBatch.organisation_id == organisation_id)
    else:
        reach = await scope(session, actor, manage=True)
        query = query.where(reach.covers(TraceBatch.organisation_id))
    batches = {b.code: b for b in await session.scalars(query)}
    for n, reading in enumerate(readings):
        if reading.batch_code not in batches:
            raise NotFound(
                N_("No such batch."),
                code="batch_not_found",
                fields={f"readings.{n}.batch_code": N_("No batch of yours has this code.")},
            )
    stored = 0
    excursions = 0
    for code in codes:
        batch = batches[code]
        mine = sorted((r for r in readings if r.batch_code == code), key=lambda r: r.time)
        existing = set(
            (
                await session.execute(
                    select(TraceReading.sensor_id, TraceReading.read_at).where(
                        TraceReading.batch_id == batch.id,
                        TraceReading.read_at.in_({r.time for r in mine}),
                    )
                )
            ).all()
        )
        fresh: list[Reading] = []
        seen: set[tuple[str, datetime]] = set()
        for r in mine:
            key = (r.sensor_id, r.time)
            if key not in existing and key not in seen:
                fresh.append(r)
                seen.add(key)
        if not fresh:
            continue
        event = await generated.record_event(
            session, batch.organisation_id, _sensor_event(batch, fresh), batches=[batch]
        )
        now = clock.now()
        for r in fresh:
            session.add(
                TraceReading(
                    batch_id=batch.id,
                    sensor_id=r.sensor_id,
                    read_at=r.time,
                    temperature_mc=round(r.temperature_c * 1000),
                    source=source,
                    event_pk=event.id,
                    created_at=now,
                )
            )
        await session.flush()
        stored += len(fresh)
        excursions += len(
            await detect_excursions(session, actor, batch, fresh[0].time, fresh[-1].time)
        )
    audit.record(
        session,
        actor,
        "trace.readings_stored",
        target_type="trace_batch",
        target_id=batches[codes[0]].id if len(codes) == 1 else None,
        batches=codes,
        stored=stored,
        source=source,
        device=device_id,
    )
    return {"received": len(readings), "stored": stored, "excursions": excursions}


def _sensor_event(batch: TraceBatch, readings: Sequence[Reading]) -> dict[str, Any]:
    by_sensor: dict[str, list[Reading]] = {}
    for r in readings:
        by_sensor.setdefault(r.sensor_id, []).append(r)
    elements = [
        {
            "sensorMetadata": {"deviceID": f"urn:linli:sensor:{sensor}"},
            "sensorReport": [
                {
                    "type": "Temperature",
                    "value": r.temperature_c,
                    "uom": "CEL",
                    "time": r.time.isoformat(),
                }
                for r in mine
            ],
        }
        for sensor, mine in sorted(by_sensor.items())
    ]
    return generated.object_event(
        batch,
        biz_step="sensor_reporting",
        when=readings[-1].time,
        extra={"sensorElementList": elements},
    )


@dataclass(frozen=True)
class StorageClass:
    name: str
    min_mc: int | None
    max_mc: int | None
    tolerance_mc: int
    min_duration: timedelta

    def deviation(self, value_mc: int) -> int:
        """How far outside the range (0 inside)."""
        if self.max_mc is not None and value_mc > self.max_mc:
            return value_mc - self.max_mc
        if self.min_mc is not None and value_mc < self.min_mc:
            return self.min_mc - value_mc
        return 0

    def outside(self, value_mc: int) -> bool:
        return self.deviation(value_mc) > self.tolerance_mc


def storage_class_of(values: dict[str, Any], name: str) -> StorageClass | None:
    data = (values.get("classes") or {}).get(name)
    if not isinstance(data, dict):
        return None

    def mc(value: Any) -> int | None:
        return None if value is None else round(float(value) * 1000)

    return StorageClass(
        name,
        mc(data.get("min_c")),
        mc(data.get("max_c")),
        mc(data.get("tolerance_c", 0)) or 0,
        timedelta(minutes=float(data.get("min_duration_minutes", 0))),
    )


@dataclass(frozen=True)
class Run:
    started_at: datetime
    last_seen_at: datetime
    readings: int
    worst_mc: int


def excursion_runs(cls: StorageClass, readings: Sequence[tuple[datetime, int]]) -> list[Run]:
    """Runs of consecutive readings (time order, all sensors) outside the range by more than
    the tolerance whose first-to-last span is longer than the minimum duration."""
    runs: list[Run] = []
    current: list[tuple[datetime, int]] = []

    def close() -> None:
        if current and current[-1][0] - current[0][0] > cls.min_duration:
            worst = max(current, key=lambda r: cls.deviation(r[1]))[1]
            runs.append(Run(current[0][0], current[-1][0], len(current), worst))
        current.clear()

    for moment, value in sorted(readings):
        if cls.outside(value):
            current.append((moment, value))
        else:
            close()
    close()
    return runs


async def detect_excursions(
    session: AsyncSession, actor: Actor, batch: TraceBatch, start: datetime, end: datetime
) -> list[TraceExcursion]:
    """Examine the batch's readings around [start, end]; record each new excursion (rule
    version included), publish TemperatureExcursion and put the batch on hold."""
    facts = await offers.sku_facts(session, batch.sku_id)
    storage = facts.storage_class if facts else None
    rule = await rules.in_force(session, COLDCHAIN_RULE)
    cls = storage_class_of(rule.values, storage or "")
    if cls is None:
        return []
    rows = (
        await session.execute(
            select(TraceReading.read_at, TraceReading.temperature_mc).where(
                TraceReading.batch_id == batch.id,
                TraceReading.read_at >= start - LOOKBACK,
                TraceReading.read_at <= end + LOOKBACK,
                corrections.reading_stands(),  # not those of a sensor event declared in error
            )
        )
    ).all()
    found: list[TraceExcursion] = []
    for run in excursion_runs(cls, [(r[0], int(r[1])) for r in rows]):
        existing = await session.scalar(
            select(TraceExcursion).where(
                TraceExcursion.batch_id == batch.id,
                TraceExcursion.started_at == run.started_at,
            )
        )
        if existing is not None:
            existing.last_seen_at = max(existing.last_seen_at, run.last_seen_at)
            existing.readings = max(existing.readings, run.readings)
            continue
        excursion = TraceExcursion(
            batch_id=batch.id,
            storage_class=cls.name,
            rule_id=rule.rule_id,
            rule_version=rule.version,
            started_at=run.started_at,
            last_seen_at=run.last_seen_at,
            readings=run.readings,
            worst_mc=run.worst_mc,
            created_at=clock.now(),
        )
        try:
            async with session.begin_nested():
                session.add(excursion)
                await session.flush()
        except IntegrityError:
            continue  # a concurrent request recorded it
        found.append(excursion)
        audit.record(
            session,
            actor,
            "trace.temperature_excursion",
            target_type="trace_batch",
            target_id=batch.id,
            excursion_id=excursion.id,
            rule=f"{rule.rule_id}@{rule.version}",
        )
        await put_on_hold(session, actor, batch, EXCURSION, excursion.id)
        outbox.publish(
            session,
            TemperatureExcursion(
                excursion_id=excursion.id,
                batch_id=batch.id,
                batch_code=batch.code,
                organisation_id=batch.organisation_id,
                storage_class=cls.name,
                started_at=run.started_at.isoformat(),
                worst_c=run.worst_mc / 1000,
                rule=f"{rule.rule_id}@{rule.version}",
            ),
        )
    return found


async def readings_of(
    session: AsyncSession, batch_id: int, *, limit: int = 2000
) -> Sequence[TraceReading]:
    return (
        await session.scalars(
            select(TraceReading)
            .where(TraceReading.batch_id == batch_id, corrections.reading_stands())
            .order_by(TraceReading.read_at.desc(), TraceReading.id.desc())
            .limit(limit)
        )
    ).all()


async def cold_chain_counts(session: AsyncSession, batch_id: int) -> tuple[int, int]:
    """(readings, excursions) of a batch, counted in the database, without the readings of
    sensor events declared in error and the excursions only they made."""
    readings = (
        select(func.count())
        .where(TraceReading.batch_id == batch_id, corrections.reading_stands())
        .scalar_subquery()
    )
    excursions = (
        select(func.count())
        .where(TraceExcursion.batch_id == batch_id, corrections.excursion_stands())
        .scalar_subquery()
    )
    row = (await session.execute(select(readings, excursions))).one()
    return int(row[0]), int(row[1])


async def excursions_of(session: AsyncSession, batch_id: int) -> Sequence[TraceExcursion]:
    return (
        await session.scalars(
            select(TraceExcursion)
            .where(TraceExcursion.batch_id == batch_id, corrections.excursion_stands())
            .order_by(TraceExcursion.started_at)
        )
    ).all()


async def events_of(
    session: AsyncSession, batch_id: int, *, limit: int | None = None, offset: int = 0
) -> Sequence[TraceEvent]:
    """The batch's journey: the events naming it, in time order (a page of them with
    `limit` and `offset`)."""
    from linli.trace.models import TraceEventBatch

    query = (
        select(TraceEvent)
        .join(TraceEventBatch, TraceEventBatch.event_pk == TraceEvent.id)
        .where(TraceEventBatch.batch_id == batch_id)
        .order_by(TraceEvent.event_time, TraceEvent.id)
    )
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return (await session.scalars(query)).all()


async def event_count(session: AsyncSession, batch_id: int) -> int:
    """How many events name the batch (the length of its journey)."""
    from linli.trace.models import TraceEventBatch

    count = await session.scalar(select(func.count()).where(TraceEventBatch.batch_id == batch_id))
    return int(count or 0)
