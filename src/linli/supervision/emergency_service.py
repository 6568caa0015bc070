"""Emergency declarations: a regulator names categories, a region inside its jurisdiction
and a window; prices of those categories in that region are then held to the gouging rule
against their pre-emergency reference. Declarations are public; merchants in scope are told
through their inbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Membership, Organisation
from linli.audit import service as audit
from linli.authz import SUPERVISION_MANAGE, Actor, acting_organisation
from linli.catalog.models import Product
from linli.categories.models import Category
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_, Message
from linli.notifications.service import notify
from linli.supervision.emergency_models import EmergencyDeclaration
from linli.supervision.rule_service import forget_cached_rules, regulator_code

REGULATOR = "regulator"
MERCHANT_KINDS = ("merchant", "supplier")


def region_prefix(code: str) -> str:
    """The GB/T 2260 prefix a code stands for: "31" a province, "3101" a city, else all 6."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def covers(region_code: str, organisation: Organisation) -> bool:
    """Whether an organisation registered in `region_code` (or below it)."""
    prefix = region_prefix(region_code)
    own = organisation.region_code
    return bool(own) and str(own).startswith(prefix)


def _organisations_in(region_code: str):  # type: ignore[no-untyped-def]
    prefix = region_prefix(region_code)
    return or_(
        Organisation.district_code.startswith(prefix),
        Organisation.city_code.startswith(prefix) & Organisation.district_code.is_(None),
        Organisation.province_code.startswith(prefix) & Organisation.city_code.is_(None),
    )


async def category_codes(session: AsyncSession, category_id: int) -> set[str]:
    """A category's code and its ancestors' codes."""
    found: set[str] = set()
    current: int | None = category_id
    while current is not None and len(found) < 10:
        row = await session.get(Category, current)
        if row is None:
            break
        found.add(row.code)
        current = row.parent_id
    return found


async def declare(
    session: AsyncSession,
    actor: Actor,
    *,
    title: str,
    description: str,
    region_code: str,
    categories: Sequence[str],
    starts_at: datetime,
    ends_at: datetime,
    reference_at: datetime | None = None,
) -> EmergencyDeclaration:
    regulator_id = acting_organisation(actor, SUPERVISION_MANAGE, kinds=(REGULATOR,))
    regulator = await session.get(Organisation, regulator_id)
    assert regulator is not None
    problems: dict[str, str | Message] = {}
    own = regulator_code(regulator)
    if not title.strip():
        problems["title"] = N_("Required.")
    if not (len(region_code) == 6 and region_code.isdigit()):
        problems["region_code"] = N_("A six-digit region code.")
    elif own is None or not region_code.startswith(region_prefix(own)):
        problems["region_code"] = N_("Outside your jurisdiction.")
    codes = sorted({c.strip() for c in categories if c.strip()})
    if not codes:
        problems["categories"] = N_("Name at least one category.")
    else:
        known = set(
            (await session.scalars(select(Category.code).where(Category.code.in_(codes)))).all()
        )
        if set(codes) - known:
            problems["categories"] = N_("Unknown category.")
    if ends_at <= starts_at:
        problems["ends_at"] = N_("Must be after the start.")
    reference = reference_at or starts_at
    if reference > starts_at:
        problems["reference_at"] = N_("Must not be after the start.")
    if problems:
        raise ValidationFailed(N_("The declaration is not complete."), fields=problems)
    row = EmergencyDeclaration(
        regulator_organisation_id=regulator_id,
        title=title.strip()[:200],
        description=description.strip(),
        region_code=region_code,
        categories=codes,
        starts_at=starts_at,
        ends_at=ends_at,
        reference_at=reference,
        created_by_user_id=actor.user_id,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    forget_cached_rules()  # price events in this process see it at once
    row.merchants_notified = await _tell_merchants(session, row)
    audit.record(
        session,
        actor,
        "supervision.emergency_declared",
        target_type="supervision_emergency",
        target_id=row.id,
        region_code=region_code,
        categories=codes,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        merchants_notified=row.merchants_notified,
    )
    return row


async def _tell_merchants(session: AsyncSession, declaration: EmergencyDeclaration) -> int:
    """Inbox messages to every member of each merchant in the region with a product in a
    named category (or below one); returns how many merchants."""
    wanted = set(declaration.categories)
    merchants = (
        await session.scalars(
            select(Organisation).where(
                Organisation.kind.in_(MERCHANT_KINDS), _organisations_in(declaration.region_code)
            )
        )
    ).all()
    told = 0
    for merchant in merchants:
        category_ids = set(
            (
                await session.scalars(
                    select(Product.category_id).where(Product.organisation_id == merchant.id)
                )
            ).all()
        )
        in_scope = False
        for category_id in category_ids:
            if await category_codes(session, category_id) & wanted:
                in_scope = True
                break
        if not in_scope:
            continue
        told += 1
        members = set(
            (
                await session.scalars(
                    select(Membership.user_id).where(Membership.organisation_id == merchant.id)
                )
            ).all()
        )
        for user_id in sorted(members):
            notify(
                session,
                user_id,
                "supervision_emergency",
                title=N_("Emergency price rules in force"),
                body=N_(
                    "{title}: prices of the named goods are watched against their level "
                    "before the emergency until {ends}."
                ),
                params={"title": declaration.title, "ends": declaration.ends_at.isoformat()},
                link=f"/supervision/emergencies/{declaration.id}",
            )
    return told


async def active(session: AsyncSession, at: datetime) -> list[EmergencyDeclaration]:
    """Declarations in force at `at` (one query: usually none, and price events then cost
    nothing more)."""
    return list(
        (
            await session.scalars(
                select(EmergencyDeclaration).where(
                    EmergencyDeclaration.starts_at <= at, EmergencyDeclaration.ends_at > at
                )
            )
        ).all()
    )


def covering(
    declarations: list[EmergencyDeclaration], organisation: Organisation, codes: set[str]
) -> list[EmergencyDeclaration]:
    """Those whose region covers the organisation and whose categories meet `codes`."""
    return [
        row
        for row in declarations
        if covers(row.region_code, organisation) and set(row.categories) & codes
    ]


async def public_list(session: AsyncSession) -> Sequence[EmergencyDeclaration]:
    return (
        await session.scalars(
            select(EmergencyDeclaration).order_by(EmergencyDeclaration.starts_at.desc())
        )
    ).all()


async def public_one(session: AsyncSession, declaration_id: int) -> EmergencyDeclaration:
    row = await session.get(EmergencyDeclaration, declaration_id)
    if row is None:
        raise NotFound(N_("No such declaration."))
    return row


async def regulator_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(sorted(ids)))
    )
    return {int(i): str(n) for i, n in rows.all()}
