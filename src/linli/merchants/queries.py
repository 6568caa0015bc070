"""Read-only questions other domains ask about merchants (used inside their own queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.merchants.models import MerchantProfile, ThreeSameCertification
from linli.reviews import ReviewStatus


def selling_organisation_ids() -> Select[int]:
    """Organisations whose products may be shown publicly: verified and not paused."""
    return select(MerchantProfile.organisation_id).where(MerchantProfile.listings_paused.is_(False))


def export_certified_organisation_ids(at: datetime) -> Select[int]:
    """Organisations holding a 'three same' certification valid at `at` (the export badge)."""
    return select(ThreeSameCertification.organisation_id).where(
        ThreeSameCertification.status == ReviewStatus.APPROVED,
        ThreeSameCertification.valid_from <= at,
        ThreeSameCertification.valid_to > at,
    )


@dataclass(frozen=True)
class SellingStatus:
    verified: bool
    paused: bool
    business_scope: tuple[str, ...]


async def selling_status(session: AsyncSession, organisation_id: int) -> SellingStatus:
    """Whether an organisation is a verified merchant, paused, and what it may sell."""
    row = await session.get(MerchantProfile, organisation_id)
    if row is None:
        return SellingStatus(verified=False, paused=False, business_scope=())
    return SellingStatus(
        verified=True, paused=row.listings_paused, business_scope=tuple(row.business_scope)
    )


async def profile_or_none(session: AsyncSession, organisation_id: int) -> MerchantProfile | None:
    """The organisation's merchant profile, if it has one (for its console)."""
    return await session.get(MerchantProfile, organisation_id)
