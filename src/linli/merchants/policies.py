"""Who may act on which enterprise's licences and certifications, and which uploads they may
attach to them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import MERCHANT_PROFILE_MANAGE, Actor, Permission, acting_organisation
from linli.errors import ValidationFailed
from linli.files import service as files
from linli.i18n import N_

ENTERPRISES = ("merchant", "supplier")  # the organisation kinds with licences and a profile


def acting_enterprise(actor: Actor, permission: Permission = MERCHANT_PROFILE_MANAGE) -> int:
    """The merchant or supplier the actor acts for, holding `permission` there (filing licences
    and certifications is the owner's: MERCHANT_PROFILE_MANAGE)."""
    return acting_organisation(actor, permission, kinds=ENTERPRISES)


async def ensure_files_are_yours(
    session: AsyncSession, user_id: int, file_ids: Sequence[int]
) -> None:
    owned = await files.owned_file_ids(session, user_id, file_ids)
    if set(file_ids) - owned:
        raise ValidationFailed(
            N_("Upload each file first; a file id must be one of your uploads."),
            fields={"licences": N_("Unknown file.")},
        )
