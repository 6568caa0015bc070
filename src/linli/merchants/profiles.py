"""Verified merchant profiles, and what anyone may see of one (never its risk class)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.errors import NotFound
from linli.i18n import N_
from linli.merchants.models import MerchantProfile, ThreeSameCertification
from linli.merchants.queries import export_certified_organisation_ids


async def profile(session: AsyncSession, organisation_id: int) -> MerchantProfile:
    row = await session.get(MerchantProfile, organisation_id)
    if row is None:
        raise NotFound(N_("No such merchant."))
    return row


async def public_profile(
    session: AsyncSession, organisation_id: int
) -> tuple[Organisation, MerchantProfile, list[str]]:
    """Anyone may see a verified merchant's identity and badges (never its risk class)."""
    row = await profile(session, organisation_id)
    organisation = await session.get(Organisation, organisation_id)
    assert organisation is not None
    badges = ["verified"]
    certified = await session.scalar(
        export_certified_organisation_ids(clock.now()).where(
            ThreeSameCertification.organisation_id == organisation_id
        )
    )
    if certified is not None:
        badges.append("export_quality")
    return organisation, row, badges
