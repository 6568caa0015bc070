"""Sensor devices (cold-chain loggers) registered by a merchant: a device id, its model and a
name. The MQTT listener accepts readings from a device only for its organisation's batches
(trace/mqtt.py); a retired device's readings are dropped. Registering and retiring are
audited."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import TRACE_SAFETY_MANAGE, TRACE_SAFETY_READ, Actor, acting_organisation
from linli.errors import Conflict, NotFound, ValidationFailed
from linli.i18n import N_
from linli.trace.safety_models import TraceDevice

# The device id is a topic segment and a broker username: no '/', '+', '#' or spaces.
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_DEVICES = 1000  # per organisation


def _merchant(actor: Actor, *, manage: bool) -> int:
    permission = TRACE_SAFETY_MANAGE if manage else TRACE_SAFETY_READ
    return acting_organisation(actor, permission, kinds=("merchant",))


@dataclass(frozen=True)
class DeviceInput:
    device_id: str
    model: str
    name: str


def _check(data: DeviceInput) -> DeviceInput:
    fields: dict[str, str] = {}
    device_id, model, name = data.device_id.strip(), data.model.strip(), data.name.strip()
    if not DEVICE_ID.match(device_id):
        fields["device_id"] = N_(
            "Enter 1 to 64 letters, digits, dots, dashes or underscores, starting with a "
            "letter or digit."
        )
    if not 1 <= len(model) <= 80 or not model.isprintable():
        fields["model"] = N_("Enter 1 to 80 characters.")
    if not 1 <= len(name) <= 80 or not name.isprintable():
        fields["name"] = N_("Enter 1 to 80 characters.")
    if fields:
        raise ValidationFailed(N_("Check the device."), fields=dict(fields))
    return DeviceInput(device_id, model, name)


async def register_device(session: AsyncSession, actor: Actor, data: DeviceInput) -> TraceDevice:
    organisation_id = _merchant(actor, manage=True)
    data = _check(data)
    count = len(await devices_of(session, actor, limit=MAX_DEVICES))
    if count >= MAX_DEVICES:
        raise Conflict(N_("You have registered the most devices allowed."), code="too_many_devices")
    device = TraceDevice(
        device_id=data.device_id,
        organisation_id=organisation_id,
        model=data.model,
        name=data.name,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(device)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            N_("A device with this id is already registered."),
            code="device_taken",
            fields={"device_id": N_("Choose another device id.")},
        ) from None
    audit.record(
        session,
        actor,
        "trace.device_registered",
        target_type="trace_device",
        target_id=device.id,
        device_id=device.device_id,
        model=device.model,
    )
    return device


async def devices_of(
    session: AsyncSession, actor: Actor, *, limit: int = 200
) -> Sequence[TraceDevice]:
    organisation_id = _merchant(actor, manage=False)
    return (
        await session.scalars(
            select(TraceDevice)
            .where(TraceDevice.organisation_id == organisation_id)
            .order_by(TraceDevice.id)
            .limit(limit)
        )
    ).all()


async def retire_device(session: AsyncSession, actor: Actor, device_pk: int) -> TraceDevice:
    """The device's readings are dropped from now on (its id stays taken: history names it)."""
    organisation_id = _merchant(actor, manage=True)
    device = await session.scalar(
        select(TraceDevice)
        .where(TraceDevice.id == device_pk, TraceDevice.organisation_id == organisation_id)
        .with_for_update()
    )
    if device is None:
        raise NotFound(N_("No such device."), code="device_not_found")
    if device.retired_at is None:
        device.retired_at = clock.now()
        await session.flush()
        audit.record(
            session,
            actor,
            "trace.device_retired",
            target_type="trace_device",
            target_id=device.id,
            device_id=device.device_id,
        )
    return device


async def active_device(session: AsyncSession, device_id: str) -> TraceDevice | None:
    """The registered, not retired device with this id (the MQTT listener's question)."""
    return await session.scalar(
        select(TraceDevice).where(
            TraceDevice.device_id == device_id, TraceDevice.retired_at.is_(None)
        )
    )
