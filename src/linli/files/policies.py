"""Who may read which stored files. Rows are scoped in the query, never filtered after
loading; a file the actor may not read is as missing as one that does not exist."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, and_, not_, or_, select

from linli.accounts.models import Membership
from linli.authz import PLATFORM_REVIEW, Actor
from linli.files.models import StoredFile

# Files whose domain serves them itself, to the people it decides: a complaint's attachments
# go to the complaint's parties only (protection.complaint_files, through the complaint's own
# route), never through the generic /files route, whoever uploaded them or reviews files; a
# diagnosis document to the patient, the treating clinic and its regulator (services).
SERVED_BY_THEIR_DOMAIN = frozenset({"complaint", "diagnosis"})


def _readable(actor: Actor) -> ColumnElement[bool]:
    return and_(not_(StoredFile.purpose.in_(SERVED_BY_THEIR_DOMAIN)), _readable_here(actor))


def _readable_here(actor: Actor) -> ColumnElement[bool]:
    if actor.has(PLATFORM_REVIEW):
        return StoredFile.id.is_not(None)
    conditions: list[ColumnElement[bool]] = [StoredFile.public.is_(True)]
    if actor.user_id is not None:
        conditions.append(StoredFile.owner_user_id == actor.user_id)
        if actor.organisation_id is not None:
            # Any member acting for the owning organisation reads its files (licences): the
            # actor's organisation is one they belong to, and the membership is checked again.
            member = (
                select(Membership.id)
                .where(
                    Membership.user_id == actor.user_id,
                    Membership.organisation_id == StoredFile.owner_organisation_id,
                )
                .exists()
            )
            conditions.append(
                and_(StoredFile.owner_organisation_id == actor.organisation_id, member)
            )
    return or_(*conditions)


def readable_files(actor: Actor) -> Select[StoredFile]:
    """Public files for anyone; private ones for the user who uploaded them, members acting
    for the organisation that owns them, and platform reviewers; none of those a domain
    serves itself (`SERVED_BY_THEIR_DOMAIN`)."""
    return select(StoredFile).where(_readable(actor))


def owned_files(user_id: int, file_ids: Iterable[int]) -> Select[int]:
    """Those of `file_ids` the user uploaded."""
    return select(StoredFile.id).where(
        StoredFile.id.in_(set(file_ids)), StoredFile.owner_user_id == user_id
    )


def counted_for_organisation(organisation_id: int) -> ColumnElement[bool]:
    """The files an organisation's quota counts: those kept for it by its members (or by no
    user left). A file someone outside kept for it (a group leader's photo of goods returned to
    a merchant) counts against that uploader's account, not against the organisation."""
    member = (
        select(Membership.id)
        .where(
            Membership.user_id == StoredFile.owner_user_id,
            Membership.organisation_id == organisation_id,
        )
        .exists()
    )
    return and_(
        StoredFile.owner_organisation_id == organisation_id,
        or_(StoredFile.owner_user_id.is_(None), member),
    )
