"""A merchant's public after-sales contact (SAMR guidance 2020 No. 175): a service phone and
short terms the owner sets, shown on its public page and in its live rooms. Separate from the
application's contact phone, which is the applicant's and never published."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from linli.audit import service as audit
from linli.authz import Actor
from linli.errors import NotFound, ValidationFailed
from linli.i18n import N_
from linli.merchants.models import MerchantProfile
from linli.merchants.policies import acting_enterprise
from linli.merchants.schemas import AfterSalesIn
from linli.phone import normalize_mobile


async def set_after_sales(
    session: AsyncSession, actor: Actor, data: AfterSalesIn
) -> MerchantProfile:
    """The owner (MERCHANT_PROFILE_MANAGE) sets their own organisation's public after-sales
    contact; the old and new values are audited."""
    organisation_id = acting_enterprise(actor)
    phone = normalize_mobile(data.phone)
    if phone is None:
        raise ValidationFailed(
            N_("Check the after-sales contact."),
            fields={"phone": N_("Enter a mainland mobile number, e.g. 13800138000.")},
            code="invalid_phone",
        )
    row = await session.get(MerchantProfile, organisation_id, with_for_update=True)
    if row is None:
        raise NotFound(N_("No such merchant."))
    terms = data.terms or None
    old = {"phone": row.after_sales_phone, "terms": row.after_sales_terms}
    row.after_sales_phone = phone
    row.after_sales_terms = terms
    await session.flush()
    audit.record(
        session,
        actor,
        "merchants.after_sales_set",
        target_type="organisation",
        target_id=organisation_id,
        old=old,
        new={"phone": phone, "terms": terms},
    )
    return row
