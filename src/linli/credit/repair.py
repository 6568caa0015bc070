"""A merchant's requests and the deciding regulator's decisions (docs/credit.md "Lists and
repair").

- **Repair** of a published penalty (rule `credit.repair`, SAMR credit-repair measures 2021):
  the owner applies once the obligations are fulfilled (the rectification the decision ordered
  done: supervision's `RectificationFulfilled`; the fine's payment reaches credit in no event,
  so the merchant states it and the regulator checks it) and the minimum period has passed
  since the decision (6 months; 12 when the business scope holds food, drugs or special
  equipment). Before then: 409 with the date it becomes possible.
- **Early removal** from the serious-dishonesty list (rule `credit.lists`, SAMR Order No. 44):
  after the minimum period (1 year) from listing; before then 409 with the date.

A supervisor of the regulator that decided the case decides, with reasons; an approved repair
stops publishing the penalty, an approved removal ends the entry. Every step is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import (
    CREDIT_REQUEST,
    REGULATOR_CREDIT_DECIDE,
    REGULATOR_CREDIT_READ,
    Actor,
    acting_organisation,
)
from linli.credit import lists, policies
from linli.credit.list_models import PublishedPenalty, SeriousListEntry
from linli.credit.repair_models import CreditRequest, RequestKind, RequestStatus
from linli.errors import Conflict, NotFound
from linli.i18n import N_
from linli.merchants import queries as merchants
from linli.merchants.dates import add_months
from linli.rules import service as rules


def _already_pending() -> Conflict:
    return Conflict(N_("A request about this is already waiting for a decision."), code="pending")


def acting_merchant(actor: Actor) -> int:
    return acting_organisation(actor, CREDIT_REQUEST, kinds=("merchant",))


def acting_regulator(actor: Actor) -> int:
    return acting_organisation(actor, REGULATOR_CREDIT_DECIDE, kinds=("regulator",))


def _local_date(moment: datetime) -> str:
    return moment.astimezone(clock.LOCAL).date().isoformat()


async def _pending(session: AsyncSession, kind: RequestKind, target_id: int) -> bool:
    found = await session.scalar(
        select(CreditRequest.id).where(
            CreditRequest.kind == kind,
            CreditRequest.target_id == target_id,
            CreditRequest.status == RequestStatus.PENDING,
        )
    )
    return found is not None


async def repair_possible_from(session: AsyncSession, penalty: PublishedPenalty) -> datetime:
    """The decision date plus the rule's minimum period for the merchant's business scope."""
    rule = await rules.in_force(session, lists.REPAIR_RULE, at=penalty.decided_at)
    status = await merchants.selling_status(session, penalty.organisation_id)
    strict = set(status.business_scope) & set(rule.values["strict_categories"])
    months = int(rule.values["strict_min_months" if strict else "min_months"])
    return add_months(penalty.decided_at, months)


async def access_penalty(session: AsyncSession, actor: Actor, penalty_id: int) -> None:
    """403 unless the owner of a merchant; 404 unless the penalty is that merchant's (pages
    ask before their form's work, so that these answer as such rather than as a flash)."""
    organisation_id = acting_merchant(actor)
    penalty = await session.get(PublishedPenalty, penalty_id)
    if penalty is None or penalty.organisation_id != organisation_id:
        raise NotFound(N_("No such penalty."))


async def access_entry(session: AsyncSession, actor: Actor, entry_id: int) -> None:
    organisation_id = acting_merchant(actor)
    entry = await session.get(SeriousListEntry, entry_id)
    if entry is None or entry.organisation_id != organisation_id:
        raise NotFound(N_("No such list entry."))


async def access_request(session: AsyncSession, actor: Actor, request_id: int) -> None:
    """403 unless a supervisor of a regulator; 404 unless the request is to that regulator."""
    regulator_id = acting_regulator(actor)
    row = await session.get(CreditRequest, request_id)
    if row is None or row.regulator_organisation_id != regulator_id:
        raise NotFound(N_("No such request."))


async def apply_for_repair(
    session: AsyncSession, actor: Actor, penalty_id: int, statement: str
) -> CreditRequest:
    organisation_id = acting_merchant(actor)
    penalty = await session.get(PublishedPenalty, penalty_id, with_for_update=True)
    if penalty is None or penalty.organisation_id != organisation_id:
        raise NotFound(N_("No such penalty."))
    now = clock.now()
    if not lists.is_published(penalty, now):
        raise Conflict(N_("This penalty is no longer published."), code="not_published")
    if penalty.rectify_by is not None and penalty.fulfilled_at is None:
        raise Conflict(
            N_("The rectification this decision ordered is not recorded as done yet."),
            code="obligations_unfulfilled",
        )
    possible = await repair_possible_from(session, penalty)
    if now < possible:
        raise Conflict(
            N_("Repair of this penalty may be requested from {date}."),
            code="too_early",
            date=_local_date(possible),
        )
    if await _pending(session, RequestKind.REPAIR, penalty.id):
        raise Conflict(
            N_("A request about this is already waiting for a decision."), code="pending"
        )
    rule = await rules.in_force(session, lists.REPAIR_RULE, at=now)
    return await _create(session, actor, RequestKind.REPAIR, penalty, statement, rule)


async def request_removal(
    session: AsyncSession, actor: Actor, entry_id: int, statement: str
) -> CreditRequest:
    organisation_id = acting_merchant(actor)
    entry = await session.get(SeriousListEntry, entry_id, with_for_update=True)
    if entry is None or entry.organisation_id != organisation_id:
        raise NotFound(N_("No such list entry."))
    now = clock.now()
    if not lists.is_listed(entry, now):
        raise Conflict(N_("This entry is no longer on the list."), code="not_listed")
    if now < entry.removable_from:
        raise Conflict(
            N_("Early removal from the list may be requested from {date}."),
            code="too_early",
            date=_local_date(entry.removable_from),
        )
    if await _pending(session, RequestKind.REMOVAL, entry.id):
        raise Conflict(
            N_("A request about this is already waiting for a decision."), code="pending"
        )
    rule = await rules.in_force(session, lists.LISTS_RULE, at=now)
    return await _create(session, actor, RequestKind.REMOVAL, entry, statement, rule)


async def _create(
    session: AsyncSession,
    actor: Actor,
    kind: RequestKind,
    target: PublishedPenalty | SeriousListEntry,
    statement: str,
    rule: rules.Rule,
) -> CreditRequest:
    assert actor.user_id is not None
    row = CreditRequest(
        kind=kind,
        target_id=target.id,
        case_id=target.case_id,
        organisation_id=target.organisation_id,
        regulator_organisation_id=target.regulator_organisation_id,
        status=RequestStatus.PENDING,
        statement=statement,
        applied_by_user_id=actor.user_id,
        created_at=clock.now(),
        rule_id=rule.rule_id,
        rule_version=rule.version,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        actor,
        f"credit.{kind}_requested",
        target_type="credit_request",
        target_id=row.id,
        case_id=row.case_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
    )
    return row


async def decide(
    session: AsyncSession, actor: Actor, request_id: int, *, approve: bool, reasons: str
) -> CreditRequest:
    """The deciding authority's supervisor approves or refuses, with reasons."""
    regulator_id = acting_regulator(actor)
    row = await session.get(CreditRequest, request_id, with_for_update=True)
    if row is None or row.regulator_organisation_id != regulator_id:
        raise NotFound(N_("No such request."))
    if row.status != RequestStatus.PENDING:
        raise Conflict(N_("This request has been decided already."), code="decided")
    now = clock.now()
    row.status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
    row.decided_by_user_id = actor.user_id
    row.decided_at = now
    row.reasons = reasons
    if approve and row.kind == RequestKind.REPAIR:
        penalty = await session.get(PublishedPenalty, row.target_id, with_for_update=True)
        assert penalty is not None
        penalty.repaired_at = now
        penalty.repair_request_id = row.id
    elif approve:
        entry = await session.get(SeriousListEntry, row.target_id, with_for_update=True)
        assert entry is not None
        entry.removed_at = now
        entry.removal_request_id = row.id
    await session.flush()
    audit.record(
        session,
        actor,
        f"credit.{row.kind}_{row.status}",
        target_type="credit_request",
        target_id=row.id,
        case_id=row.case_id,
        organisation=row.organisation_id,
        reasons=reasons,
    )
    return row


@dataclass(frozen=True)
class MerchantDesk:
    penalties: list[PublishedPenalty]
    entries: list[SeriousListEntry]
    requests: list[CreditRequest]
    repair_from: dict[int, datetime]  # penalty id -> when repair may be requested
    at: datetime


async def merchant_desk(session: AsyncSession, actor: Actor) -> MerchantDesk:
    """The merchant's own penalties, list entries and requests (owner and staff read)."""
    organisation_id = policies.acting_merchant(actor)
    penalties = await lists.merchant_penalties(session, organisation_id)
    requests = await session.scalars(
        select(CreditRequest)
        .where(CreditRequest.organisation_id == organisation_id)
        .order_by(CreditRequest.created_at.desc(), CreditRequest.id.desc())
    )
    return MerchantDesk(
        penalties=penalties,
        entries=await lists.merchant_entries(session, organisation_id),
        requests=list(requests),
        repair_from={p.id: await repair_possible_from(session, p) for p in penalties},
        at=clock.now(),
    )


async def regulator_requests(session: AsyncSession, actor: Actor) -> list[CreditRequest]:
    """The requests addressed to the actor's regulator, pending first (supervisors and
    inspectors read; supervisors decide)."""
    regulator_id = acting_organisation(actor, REGULATOR_CREDIT_READ, kinds=("regulator",))
    rows = await session.scalars(
        select(CreditRequest)
        .where(CreditRequest.regulator_organisation_id == regulator_id)
        .order_by(CreditRequest.decided_at.is_not(None), CreditRequest.created_at, CreditRequest.id)
    )
    return list(rows)
