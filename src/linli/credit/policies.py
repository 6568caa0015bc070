"""Who sees which credit: every subject its own (a resident and a leader as themselves, a
merchant's members with `credit.read`), regulators the risk classes of the merchants in their
jurisdiction (never anyone else), everyone the public grade and identity of a merchant."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.authz import CREDIT_READ, REGULATOR_CREDIT_READ, Actor, acting_organisation


def acting_merchant(actor: Actor) -> int:
    """The merchant whose own credit the actor reads."""
    return acting_organisation(actor, CREDIT_READ, kinds=("merchant",))


async def regulator_region(session: AsyncSession, actor: Actor) -> tuple[str, str] | None:
    """The region a regulator covers: its district, else its city, else its province (GB/T
    2260 codes); None for a regulator with no registered region (it sees no merchant). 403
    for anyone not acting for a regulator with `regulator.credit.read`."""
    regulator_id = acting_organisation(actor, REGULATOR_CREDIT_READ, kinds=("regulator",))
    regulator = await session.get(Organisation, regulator_id)
    assert regulator is not None
    for name in ("district_code", "city_code", "province_code"):
        code = getattr(regulator, name)
        if code:
            return name, str(code)
    return None
