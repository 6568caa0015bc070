"""Inbox messages for supervision: each step of a report of a suspected violation (the
reporter always; the platform's operators when one is filed; the regulator's staff when one
is forwarded to it) and a published random-inspection result (the merchant's members)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import outbox
from linli.accounts.models import Membership, Organisation
from linli.events import (
    InspectionResultPublished,
    ReportAcknowledged,
    ReportClosed,
    ReportConcluded,
    ReportFiled,
    ReportForwarded,
)
from linli.i18n import N_
from linli.notifications.service import notify


async def _members(session: AsyncSession, organisation_id: int) -> list[int]:
    rows = await session.scalars(
        select(Membership.user_id).where(Membership.organisation_id == organisation_id)
    )
    return sorted(set(rows))


async def _operators(session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(Membership.user_id)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Organisation.kind == "platform")
    )
    return sorted(set(rows))


def _tell(
    session: AsyncSession,
    users: list[int],
    envelope: outbox.Envelope[Any],
    kind: str,
    title: str,
    body: str,
    **params: Any,
) -> None:
    event = envelope.payload
    for user_id in users:
        notify(
            session,
            user_id,
            kind,
            title=title,
            body=body,
            params={"id": event.report_id, **params},
            link=f"/supervision/reports/{event.report_id}",
            source_event_id=envelope.event_id,
        )


@outbox.subscribe(ReportFiled, "notifications.report_filed")
async def report_filed(session: AsyncSession, envelope: outbox.Envelope[ReportFiled]) -> None:
    event = envelope.payload
    _tell(
        session,
        [event.reporter_user_id],
        envelope,
        "report_filed",
        N_("Report #{id} received"),
        N_("The platform will forward your report to the regulator or tell you why not."),
    )
    _tell(
        session,
        [u for u in await _operators(session) if u != event.reporter_user_id],
        envelope,
        "report_to_triage",
        N_("Report #{id} to triage"),
        N_("A suspected violation was reported: forward it to the regulator or close it."),
    )


@outbox.subscribe(ReportForwarded, "notifications.report_forwarded")
async def report_forwarded(
    session: AsyncSession, envelope: outbox.Envelope[ReportForwarded]
) -> None:
    event = envelope.payload
    _tell(
        session,
        [event.reporter_user_id],
        envelope,
        "report_forwarded",
        N_("Report #{id} forwarded"),
        N_("The platform forwarded your report to the regulator with jurisdiction."),
    )
    if event.regulator_organisation_id is not None:
        _tell(
            session,
            await _members(session, event.regulator_organisation_id),
            envelope,
            "report_received",
            N_("Report #{id} forwarded to you"),
            N_("The platform forwarded a report of a suspected violation in your jurisdiction."),
        )


@outbox.subscribe(ReportClosed, "notifications.report_closed")
async def report_closed(session: AsyncSession, envelope: outbox.Envelope[ReportClosed]) -> None:
    _tell(
        session,
        [envelope.payload.reporter_user_id],
        envelope,
        "report_closed",
        N_("Report #{id} closed"),
        N_("The platform closed your report: {reason}"),
        reason=envelope.payload.reason,
    )


@outbox.subscribe(ReportAcknowledged, "notifications.report_acknowledged")
async def report_acknowledged(
    session: AsyncSession, envelope: outbox.Envelope[ReportAcknowledged]
) -> None:
    _tell(
        session,
        [envelope.payload.reporter_user_id],
        envelope,
        "report_acknowledged",
        N_("Report #{id} taken up"),
        N_("The regulator acknowledged your report and is looking into it."),
    )


@outbox.subscribe(ReportConcluded, "notifications.report_concluded")
async def report_concluded(
    session: AsyncSession, envelope: outbox.Envelope[ReportConcluded]
) -> None:
    _tell(
        session,
        [envelope.payload.reporter_user_id],
        envelope,
        "report_concluded",
        N_("Report #{id} concluded"),
        N_("The regulator recorded the outcome of your report."),
    )


_RESULTS = {
    "passed": N_("The random inspection found no problem."),
    "issues_found": N_(
        "The random inspection found issues; the regulator tells you what to put right."
    ),
    "failed": N_("Your business failed the random inspection."),
}


@outbox.subscribe(InspectionResultPublished, "notifications.inspection_result_published")
async def inspection_result_published(
    session: AsyncSession, envelope: outbox.Envelope[InspectionResultPublished]
) -> None:
    event = envelope.payload
    for user_id in await _members(session, event.merchant_organisation_id):
        notify(
            session,
            user_id,
            "inspection_result_published",
            title=N_("Random inspection result published"),
            body=_RESULTS.get(event.result, _RESULTS["issues_found"]),
            params={"result": event.result, "date": event.inspected_on},
            link="/disclosure/inspections",
            source_event_id=envelope.event_id,
        )
