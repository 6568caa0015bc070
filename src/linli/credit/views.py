"""What each reader sees of credit: a subject its own score, grade and explanation; anyone a
verified merchant's identity and public grade (never a score's details, never a risk class)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.authz import Actor
from linli.credit import ledger, policies
from linli.credit.models import CreditRecord, SubjectKind
from linli.credit.scoring import Explanation
from linli.errors import NotFound
from linli.i18n import N_
from linli.merchants.queries import PublicIdentity, find_public_identities, public_identity

RECENT = 50  # records listed under the explanation


@dataclass(frozen=True)
class CreditView:
    subject_kind: SubjectKind
    subject_id: int
    explanation: Explanation
    recent: Sequence[CreditRecord]
    records: int


@dataclass(frozen=True)
class PublicCredit:
    identity: PublicIdentity
    grade: str
    rule_version: int


async def _view(session: AsyncSession, subject_kind: SubjectKind, subject_id: int) -> CreditView:
    now = clock.now()
    explanation = await ledger.explanation(session, subject_kind, subject_id, now)
    standing = await ledger.standing(session, subject_kind, subject_id, now)
    # The explanation is read from the ledger itself; the periods give the same score (tests
    # prove it), so the page shows one number whichever is read.
    return CreditView(
        subject_kind=subject_kind,
        subject_id=subject_id,
        explanation=explanation,
        recent=await ledger.records_of(session, subject_kind, subject_id, limit=RECENT),
        records=standing.records,
    )


async def resident_credit(session: AsyncSession, actor: Actor) -> CreditView:
    return await _view(session, SubjectKind.RESIDENT, actor.require_user_id())


async def leader_credit(session: AsyncSession, actor: Actor) -> CreditView:
    return await _view(session, SubjectKind.LEADER, actor.require_user_id())


async def merchant_credit(session: AsyncSession, actor: Actor) -> CreditView:
    return await _view(session, SubjectKind.MERCHANT, policies.acting_merchant(actor))


async def _public(session: AsyncSession, identity: PublicIdentity) -> PublicCredit:
    standing = await ledger.standing(session, SubjectKind.MERCHANT, identity.organisation_id)
    return PublicCredit(identity=identity, grade=standing.grade, rule_version=standing.rule_version)


async def public_search(session: AsyncSession, text: str) -> list[PublicCredit]:
    """Verified merchants by name (contains) or unified social credit code (exact)."""
    return [await _public(session, i) for i in await find_public_identities(session, text)]


async def public_credit(session: AsyncSession, organisation_id: int) -> PublicCredit:
    identity = await public_identity(session, organisation_id)
    if identity is None:
        raise NotFound(N_("No such merchant."))
    return await _public(session, identity)
