"""API: a merchant's sensor devices (register, list, retire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from linli.apitypes import PathId
from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.schemas import OutputModel, StrictInput
from linli.trace import devices
from linli.trace.safety_models import TraceDevice

router = APIRouter(prefix="/api/v1/trace/devices", tags=["trace"], responses=ERROR_RESPONSES)
DeviceWriter = Annotated[Actor, Depends(require_scope("org:write"))]
DeviceReader = Annotated[Actor, Depends(require_scope("org:read"))]


class DeviceIn(StrictInput):
    device_id: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=80)


class DeviceOut(OutputModel):
    id: int
    device_id: str
    model: str
    name: str
    topic: str
    created_at: datetime
    retired_at: datetime | None


def present_device(device: TraceDevice) -> DeviceOut:
    """The device and the MQTT topic it publishes to (derived from its id)."""
    return DeviceOut.from_row(device, topic=f"linli/sensors/{device.device_id}")


@router.post("", status_code=201, summary="Register a sensor device of your organisation")
async def post_device(body: DeviceIn, session: DbSession, actor: DeviceWriter) -> DeviceOut:
    device = await devices.register_device(
        session, actor, devices.DeviceInput(body.device_id, body.model, body.name)
    )
    return present_device(device)


@router.get("", summary="Your organisation's sensor devices")
async def get_devices(session: DbSession, actor: DeviceReader) -> list[DeviceOut]:
    return [present_device(d) for d in await devices.devices_of(session, actor)]


@router.post("/{device_id}/retire", summary="Retire a device: its readings are dropped")
async def post_retire(device_id: PathId, session: DbSession, actor: DeviceWriter) -> DeviceOut:
    return present_device(await devices.retire_device(session, actor, device_id))
