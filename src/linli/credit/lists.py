"""Published penalties, the serious-dishonesty list and the red list (docs/credit.md
"Lists and repair").

Supervision's decisions reach credit only as events: `record_decision` (from `CaseDecided`,
called by credit's handler and by nothing else) publishes a penalty with the merchant's public
credit and, for a serious penalty, enters the merchant on the serious-dishonesty list; there is
no other way to make either. Publication and listing end by date (computed when read, so no
job is needed) or by a regulator's decision on a request (`linli.credit.repair`).

The red list is computed when asked: a merchant whose public grade is one of the rule's red
grades, with credit records going back at least the rule's months, and no penalty or warning
decided in that time. Its incentives: the catalogue ranks red-list merchants first within a
grade (`grades.merchant_rank`), and `sampling_weight` tells supervision to draw them less.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.accounts.models import Organisation
from linli.credit import ledger
from linli.credit.list_models import PublishedPenalty, SeriousListEntry
from linli.credit.models import CreditRecord, CreditScore, SubjectKind
from linli.events import CaseDecided, RectificationFulfilled
from linli.merchants.dates import add_months
from linli.rules import service as rules

LISTS_RULE = "credit.lists"
REPAIR_RULE = "credit.repair"


@dataclass(frozen=True)
class ListsRule:
    rule_id: str
    version: int
    serious_years: int
    early_removal_after_years: int
    red_grades: frozenset[str]
    red_months: int
    sampling_percent: dict[str, int]


async def lists_rule(session: AsyncSession, at: datetime | None = None) -> ListsRule:
    rule = await rules.in_force(session, LISTS_RULE, at=at)
    v = rule.values
    return ListsRule(
        rule_id=rule.rule_id,
        version=rule.version,
        serious_years=int(v["serious_years"]),
        early_removal_after_years=int(v["early_removal_after_years"]),
        red_grades=frozenset(v["red_grades"]),
        red_months=int(v["red_months"]),
        sampling_percent={str(k): int(n) for k, n in v["sampling_percent"].items()},
    )


# --- written from supervision's events only ------------------------------------------------


async def record_decision(session: AsyncSession, event: CaseDecided) -> None:
    """A penalty decision is published (rule credit.repair's period); a serious one also
    enters the serious-dishonesty list (rule credit.lists). Idempotent per case."""
    if event.decision != "penalty":
        return
    decided_at = event.decided_at
    exists = await session.scalar(
        select(PublishedPenalty.id).where(PublishedPenalty.case_id == event.case_id)
    )
    if exists is None:
        repair = await rules.in_force(session, REPAIR_RULE, at=decided_at)
        session.add(
            PublishedPenalty(
                case_id=event.case_id,
                organisation_id=event.organisation_id,
                regulator_organisation_id=event.regulator_organisation_id,
                penalty_fen=event.penalty_fen,
                serious=event.serious,
                legal_basis=event.legal_basis,
                rectify_by=event.rectify_by,
                decided_at=decided_at,
                publish_until=add_months(decided_at, 12 * int(repair.values["publication_years"])),
                rule_id=repair.rule_id,
                rule_version=repair.version,
            )
        )
    if not event.serious:
        return
    listed = await session.scalar(
        select(SeriousListEntry.id).where(SeriousListEntry.case_id == event.case_id)
    )
    if listed is not None:
        return
    rule = await lists_rule(session, decided_at)
    session.add(
        SeriousListEntry(
            case_id=event.case_id,
            organisation_id=event.organisation_id,
            regulator_organisation_id=event.regulator_organisation_id,
            legal_basis=event.legal_basis,
            decided_at=decided_at,
            listed_at=decided_at,
            listed_until=add_months(decided_at, 12 * rule.serious_years),
            removable_from=add_months(decided_at, 12 * rule.early_removal_after_years),
            rule_id=rule.rule_id,
            rule_version=rule.version,
        )
    )
    await session.flush()


async def record_fulfilled(session: AsyncSession, event: RectificationFulfilled) -> None:
    """The rectification a penalty ordered is done: one of the obligations repair needs."""
    penalty = await session.scalar(
        select(PublishedPenalty).where(PublishedPenalty.case_id == event.case_id)
    )
    if penalty is not None and penalty.fulfilled_at is None:
        penalty.fulfilled_at = event.fulfilled_at
        penalty.fulfilled_on_time = event.on_time
        await session.flush()


# --- reading --------------------------------------------------------------------------------


def is_published(penalty: PublishedPenalty, at: datetime) -> bool:
    return penalty.repaired_at is None and penalty.decided_at <= at < penalty.publish_until


def is_listed(entry: SeriousListEntry, at: datetime) -> bool:
    return entry.removed_at is None and entry.listed_at <= at < entry.listed_until


async def published_penalties(
    session: AsyncSession, organisation_id: int, at: datetime | None = None
) -> list[PublishedPenalty]:
    """The penalties shown with a merchant's public credit now (newest first)."""
    moment = at or clock.now()
    rows = await session.scalars(
        select(PublishedPenalty)
        .where(
            PublishedPenalty.organisation_id == organisation_id,
            PublishedPenalty.repaired_at.is_(None),
            PublishedPenalty.decided_at <= moment,
            PublishedPenalty.publish_until > moment,
        )
        .order_by(PublishedPenalty.decided_at.desc(), PublishedPenalty.id.desc())
    )
    return list(rows)


async def merchant_penalties(session: AsyncSession, organisation_id: int) -> list[PublishedPenalty]:
    """All of a merchant's penalties, published or not any more (for its own desk)."""
    rows = await session.scalars(
        select(PublishedPenalty)
        .where(PublishedPenalty.organisation_id == organisation_id)
        .order_by(PublishedPenalty.decided_at.desc(), PublishedPenalty.id.desc())
    )
    return list(rows)


async def merchant_entries(session: AsyncSession, organisation_id: int) -> list[SeriousListEntry]:
    rows = await session.scalars(
        select(SeriousListEntry)
        .where(SeriousListEntry.organisation_id == organisation_id)
        .order_by(SeriousListEntry.listed_at.desc(), SeriousListEntry.id.desc())
    )
    return list(rows)


@dataclass(frozen=True)
class ListedMerchant:
    organisation_id: int
    name: str
    entry: SeriousListEntry | None = None  # serious list
    grade: str | None = None  # red list


async def names_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))
    )
    return {i: n for i, n in rows.all()}


async def serious_list(session: AsyncSession, at: datetime | None = None) -> list[ListedMerchant]:
    """The serious-dishonesty list as published now: entries within their period, not removed."""
    moment = at or clock.now()
    entries = list(
        await session.scalars(
            select(SeriousListEntry)
            .where(
                SeriousListEntry.removed_at.is_(None),
                SeriousListEntry.listed_at <= moment,
                SeriousListEntry.listed_until > moment,
            )
            .order_by(SeriousListEntry.listed_at.desc(), SeriousListEntry.id.desc())
        )
    )
    names = await names_of(session, [e.organisation_id for e in entries])
    return [ListedMerchant(e.organisation_id, names.get(e.organisation_id, ""), e) for e in entries]


async def _serious_ids(session: AsyncSession, at: datetime) -> set[int]:
    return {m.organisation_id for m in await serious_list(session, at)}


async def red_list_ids(session: AsyncSession, at: datetime | None = None) -> set[int]:
    """The merchants on the red list now (see the module's docstring)."""
    moment = at or clock.now()
    rule = await lists_rule(session, moment)
    since = add_months(moment, -rule.red_months)
    scoring = await ledger.scoring_in_force(session, moment)
    candidates = (
        await session.execute(
            select(CreditScore.subject_id)
            .join(
                CreditRecord,
                (CreditRecord.subject_kind == CreditScore.subject_kind)
                & (CreditRecord.subject_id == CreditScore.subject_id),
            )
            .where(
                CreditScore.subject_kind == SubjectKind.MERCHANT,
                # the kept grade first (refreshed daily), the grade now confirmed below
                CreditScore.grade.in_(sorted(rule.red_grades)),
            )
            .group_by(CreditScore.subject_id)
            .having(func.min(CreditRecord.occurred_at) <= since)
        )
    ).scalars()
    blemished = set(
        (
            await session.scalars(
                select(CreditRecord.subject_id).where(
                    CreditRecord.subject_kind == SubjectKind.MERCHANT,
                    CreditRecord.kind.in_(("penalty_serious", "penalty", "warning")),
                    CreditRecord.occurred_at > since,
                )
            )
        ).all()
    ) | await _serious_ids(session, moment)
    found: set[int] = set()
    for organisation_id in candidates:
        if organisation_id in blemished:
            continue
        standing = await ledger.standing(
            session, SubjectKind.MERCHANT, organisation_id, moment, scoring=scoring
        )
        if standing.grade in rule.red_grades:
            found.add(organisation_id)
    return found


async def red_list(session: AsyncSession, at: datetime | None = None) -> list[ListedMerchant]:
    moment = at or clock.now()
    ids = sorted(await red_list_ids(session, moment))
    names = await names_of(session, ids)
    out = []
    for organisation_id in ids:
        standing = await ledger.standing(session, SubjectKind.MERCHANT, organisation_id, moment)
        out.append(
            ListedMerchant(organisation_id, names.get(organisation_id, ""), None, standing.grade)
        )
    return sorted(out, key=lambda m: (m.name, m.organisation_id))


async def sampling_weight(
    session: AsyncSession, organisation_id: int, at: datetime | None = None
) -> int:
    """For supervision's random draws: the weight (percent of the normal, rule credit.lists)
    with which a merchant is drawn: less for the red list, more for the serious list."""
    moment = at or clock.now()
    rule = await lists_rule(session, moment)
    if organisation_id in await _serious_ids(session, moment):
        return rule.sampling_percent["serious"]
    if organisation_id in await red_list_ids(session, moment):
        return rule.sampling_percent["red"]
    return rule.sampling_percent["normal"]


async def sampling_weights(
    session: AsyncSession, organisation_ids: Sequence[int], at: datetime | None = None
) -> dict[int, int]:
    """`sampling_weight` for many merchants at once (supervision's draw over its directory):
    the lists are computed once, not per merchant."""
    moment = at or clock.now()
    rule = await lists_rule(session, moment)
    serious = await _serious_ids(session, moment)
    red = await red_list_ids(session, moment)
    weights: dict[int, int] = {}
    for organisation_id in organisation_ids:
        if organisation_id in serious:
            weights[organisation_id] = rule.sampling_percent["serious"]
        elif organisation_id in red:
            weights[organisation_id] = rule.sampling_percent["red"]
        else:
            weights[organisation_id] = rule.sampling_percent["normal"]
    return weights
