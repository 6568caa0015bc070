"""Read-only questions other domains ask about merchants (used inside their own queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.db import escape_like
from linli.merchants.models import Licence, MerchantProfile, ThreeSameCertification
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
    after_sales_contact: bool = False


async def selling_status(session: AsyncSession, organisation_id: int) -> SellingStatus:
    """Whether an organisation is a verified merchant, paused, and what it may sell."""
    row = await session.get(MerchantProfile, organisation_id)
    if row is None:
        return SellingStatus(verified=False, paused=False, business_scope=())
    return SellingStatus(
        verified=True,
        paused=row.listings_paused,
        business_scope=tuple(row.business_scope),
        after_sales_contact=row.after_sales_phone is not None,
    )


async def valid_licence_types(
    session: AsyncSession, organisation_id: int, day: date
) -> frozenset[str]:
    """The kinds of licence the organisation holds valid on `day` (online services ask
    whether a provider may run consultations or classes)."""
    found = await session.scalars(
        select(Licence.licence_type).where(
            Licence.organisation_id == organisation_id,
            Licence.valid_from <= day,
            Licence.valid_to >= day,
        )
    )
    return frozenset(found)


async def profile_or_none(session: AsyncSession, organisation_id: int) -> MerchantProfile | None:
    """The organisation's merchant profile, if it has one (for its console)."""
    return await session.get(MerchantProfile, organisation_id)


# --- what the public credit query and the regulator's credit desk read (linli.credit) -------


@dataclass(frozen=True)
class PublicLicence:
    licence_type: str
    number: str
    valid_from: date
    valid_to: date


@dataclass(frozen=True)
class PublicIdentity:
    """What anyone may know of a verified merchant: identity, licences, re-verification."""

    organisation_id: int
    name: str
    credit_code: str
    province_code: str | None
    city_code: str | None
    district_code: str | None
    business_scope: tuple[str, ...]
    verified_at: datetime
    next_verification_due: datetime
    listings_paused: bool
    licences: tuple[PublicLicence, ...]
    # The public after-sales line (None: none on file) and its short terms.
    after_sales_phone: str | None = None
    after_sales_terms: str | None = None


MAX_FOUND = 50


async def _identities(
    session: AsyncSession, condition: ColumnElement[bool] | None, limit: int
) -> list[PublicIdentity]:
    query = select(Organisation, MerchantProfile).join(
        MerchantProfile, MerchantProfile.organisation_id == Organisation.id
    )
    if condition is not None:
        query = query.where(condition)
    rows = (
        await session.execute(query.order_by(Organisation.name, Organisation.id).limit(limit))
    ).all()
    ids = [organisation.id for organisation, _ in rows]
    licences: dict[int, list[PublicLicence]] = {}
    for licence in await session.scalars(
        select(Licence).where(Licence.organisation_id.in_(ids)).order_by(Licence.valid_to)
    ):
        assert licence.organisation_id is not None
        licences.setdefault(licence.organisation_id, []).append(
            PublicLicence(
                licence.licence_type, licence.number, licence.valid_from, licence.valid_to
            )
        )
    return [
        PublicIdentity(
            organisation_id=organisation.id,
            name=organisation.name,
            credit_code=profile.credit_code,
            province_code=organisation.province_code,
            city_code=organisation.city_code,
            district_code=organisation.district_code,
            business_scope=tuple(str(code) for code in profile.business_scope),
            verified_at=profile.verified_at,
            next_verification_due=profile.next_verification_due,
            listings_paused=profile.listings_paused,
            licences=tuple(licences.get(organisation.id, ())),
            after_sales_phone=profile.after_sales_phone,
            after_sales_terms=profile.after_sales_terms,
        )
        for organisation, profile in rows
    ]


async def find_public_identities(
    session: AsyncSession, text: str, *, limit: int = MAX_FOUND
) -> list[PublicIdentity]:
    """Verified merchants whose name contains `text`, or whose credit code is `text`."""
    term = text.strip()
    if not term:
        return []
    condition = or_(
        MerchantProfile.credit_code == term.upper(),
        Organisation.name.like(f"%{escape_like(term)}%", escape="\\"),
    )
    return await _identities(session, condition, limit)


async def public_identity(session: AsyncSession, organisation_id: int) -> PublicIdentity | None:
    found = await _identities(session, Organisation.id == organisation_id, 1)
    return found[0] if found else None


async def identities_in_region(
    session: AsyncSession, region: tuple[str, str], *, limit: int = 1000
) -> list[PublicIdentity]:
    """Verified merchants registered in a region: (code column name, code), e.g. a
    regulator's ("city_code", "310100")."""
    name, code = region
    return await _identities(session, getattr(Organisation, name) == code, limit)
