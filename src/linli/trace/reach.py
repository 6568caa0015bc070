"""Whose batches and recalls an actor may see and act on: a merchant its own; a regulator the
organisations registered in its jurisdiction (its district, else its city, else its province,
by GB/T 2260 codes). Everything outside is answered as not found."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from linli.accounts.models import Organisation
from linli.authz import Actor


@dataclass(frozen=True)
class Reach:
    organisation_id: int | None = None  # a merchant: its own rows only
    region: tuple[str, str] | None = None  # a regulator: (code column, code)

    def covers(self, column: InstrumentedAttribute[int]) -> ColumnElement[bool]:
        """The condition on an organisation id column that keeps what is in reach."""
        if self.organisation_id is not None:
            return column == self.organisation_id
        if self.region is None:
            return false()  # a regulator without a registered region reaches nothing
        name, code = self.region
        return column.in_(select(Organisation.id).where(getattr(Organisation, name) == code))


async def regulator_reach(session: AsyncSession, actor: Actor) -> Reach:
    assert actor.organisation_id is not None
    regulator = await session.get(Organisation, actor.organisation_id)
    if regulator is None:
        return Reach()
    for name in ("district_code", "city_code", "province_code"):
        code = getattr(regulator, name)
        if code:
            return Reach(region=(name, str(code)))
    return Reach()
