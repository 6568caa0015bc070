"""The lists-and-repair read models shaped for the API and the pages (both route modules)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.credit import lists
from linli.credit.list_models import PublishedPenalty, SeriousListEntry
from linli.credit.list_schemas import (
    CreditRequestOut,
    ListEntryOut,
    MyListEntryOut,
    MyListsOut,
    MyPenaltyOut,
    PenaltyOut,
    RedListOut,
)
from linli.credit.repair import MerchantDesk
from linli.credit.repair_models import CreditRequest, RequestKind, RequestStatus
from linli.i18n import N_
from linli.money import format_fen

REQUEST_KIND_LABELS: dict[str, str] = {
    RequestKind.REPAIR: N_("repair of a published penalty"),
    RequestKind.REMOVAL: N_("early removal from the serious-dishonesty list"),
}
REQUEST_STATUS_LABELS: dict[str, str] = {
    RequestStatus.PENDING: N_("waiting for a decision"),
    RequestStatus.APPROVED: N_("approved"),
    RequestStatus.REFUSED: N_("refused"),
}


async def _names(
    session: AsyncSession,
    rows: Sequence[PublishedPenalty | SeriousListEntry | CreditRequest],
) -> dict[int, str]:
    ids = {r.organisation_id for r in rows} | {r.regulator_organisation_id for r in rows}
    return await lists.names_of(session, sorted(ids))


async def present_penalties(
    session: AsyncSession, rows: Sequence[PublishedPenalty]
) -> list[PenaltyOut]:
    names = await _names(session, rows)
    return [
        PenaltyOut.from_row(
            p,
            authority=names.get(p.regulator_organisation_id, ""),
            penalty=format_fen(p.penalty_fen),
        )
        for p in rows
    ]


async def present_entries(
    session: AsyncSession, rows: Sequence[SeriousListEntry]
) -> list[ListEntryOut]:
    names = await _names(session, rows)
    return [
        ListEntryOut.from_row(
            e,
            name=names.get(e.organisation_id, ""),
            authority=names.get(e.regulator_organisation_id, ""),
        )
        for e in rows
    ]


async def present_requests(
    session: AsyncSession, rows: Sequence[CreditRequest]
) -> list[CreditRequestOut]:
    names = await _names(session, rows)
    return [
        CreditRequestOut.from_row(r, organisation=names.get(r.organisation_id, "")) for r in rows
    ]


def present_red(rows: Sequence[lists.ListedMerchant]) -> list[RedListOut]:
    return [
        RedListOut(organisation_id=m.organisation_id, name=m.name, grade=m.grade or "")
        for m in rows
    ]


async def present_desk(session: AsyncSession, desk: MerchantDesk) -> MyListsOut:
    at: datetime = desk.at or clock.now()
    names = await _names(session, [*desk.penalties, *desk.entries])
    return MyListsOut(
        penalties=[
            MyPenaltyOut.from_row(
                p,
                authority=names.get(p.regulator_organisation_id, ""),
                penalty=format_fen(p.penalty_fen),
                published=lists.is_published(p, at),
                repair_possible_from=desk.repair_from[p.id],
            )
            for p in desk.penalties
        ],
        entries=[
            MyListEntryOut.from_row(
                e,
                name=names.get(e.organisation_id, ""),
                authority=names.get(e.regulator_organisation_id, ""),
                listed=lists.is_listed(e, at),
            )
            for e in desk.entries
        ],
        requests=await present_requests(session, desk.requests),
    )
