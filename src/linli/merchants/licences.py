"""Licences on file: those attached to an application, and those an enterprise files itself
(new or renewed), with the labels they are shown with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import ORG_READ, Actor
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.merchants.models import Licence
from linli.merchants.policies import acting_enterprise, ensure_files_are_yours
from linli.merchants.schemas import LicenceIn

LICENCE_LABELS = {
    "business_licence": N_("business licence"),
    "food_business": N_("food business licence"),
    "medical_device_business": N_("medical device business licence"),
    "medical_institution": N_("medical institution practising licence"),
    "training_school": N_("off-campus training school licence"),
}


def valid_on(licence: LicenceIn | Licence, day: date) -> bool:
    return licence.valid_from <= day <= licence.valid_to


async def licences_of_application(session: AsyncSession, application_id: int) -> Sequence[Licence]:
    return (
        await session.scalars(
            select(Licence).where(Licence.application_id == application_id).order_by(Licence.id)
        )
    ).all()


async def organisation_licences(session: AsyncSession, organisation_id: int) -> Sequence[Licence]:
    return (
        await session.scalars(
            select(Licence)
            .where(Licence.organisation_id == organisation_id)
            .order_by(Licence.valid_to)
        )
    ).all()


async def add_licence(session: AsyncSession, actor: Actor, data: LicenceIn) -> Licence:
    """The owner files a new or renewed licence for their organisation."""
    organisation_id = acting_enterprise(actor)
    if data.valid_to < data.valid_from:
        raise ValidationFailed(
            N_("A licence cannot end before it starts."),
            fields={"valid_to": N_("Before the start date.")},
        )
    await ensure_files_are_yours(session, actor.require_user_id(), [data.file_id])
    licence = Licence(
        organisation_id=organisation_id,
        licence_type=data.licence_type,
        number=data.number,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        file_id=data.file_id,
        created_at=clock.now(),
    )
    session.add(licence)
    await session.flush()
    audit.record(
        session,
        actor,
        "merchants.licence_added",
        target_type="licence",
        target_id=licence.id,
        licence_type=data.licence_type,
    )
    return licence


async def my_licences(session: AsyncSession, actor: Actor) -> Sequence[Licence]:
    return await organisation_licences(session, acting_enterprise(actor, ORG_READ))
