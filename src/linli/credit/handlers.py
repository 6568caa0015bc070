"""The only writers of the credit ledger: one subscription per event that counts.

Adding a source of credit is one line in `SUBSCRIPTIONS` (the event type, a stable handler
name, and a function from the event to the entries it makes); the weight of each entry's kind
per subject kind is rule data (`credit.scoring`), so a kind the rule does not weigh for a
subject is not recorded. The record's time is when the event was published.

Not subscribed, on purpose (docs/credit.md): `GroupFailed` (its payload does not say whether
the merchant was at fault: a group fails when residents do not reach the threshold),
`ReviewPosted` (ratings are shown beside the grade, not counted twice), `QualityClaimFiled`,
`ClaimAbuseFlagged` (a claim or a flag is not a finding: only the decision, the operator's
confirmation counts) and `QualityClaimRefunded` (the decision counted already).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.clock import LOCAL
from linli.credit.ledger import Entry, append, refresh_stale
from linli.credit.models import RecordKind, SubjectKind
from linli.events import (
    BatchRecalled,
    BookingCancelled,
    BookingNoShow,
    CaseDecided,
    ClaimAbuseConfirmed,
    ComplaintResolved,
    DomainEvent,
    InspectionFailed,
    InspectionResultPublished,
    LiveOrderCancelled,
    LiveOrderUncollected,
    OrderPickedUp,
    OrderUncollected,
    QualityClaimDecided,
    RectificationFulfilled,
    RectificationOverdue,
    ReturnRefunded,
    ReturnRefundOverdue,
    TemperatureExcursion,
)
from linli.jobs import CreditScoresRefresh

MERCHANT, LEADER, RESIDENT = SubjectKind.MERCHANT, SubjectKind.LEADER, SubjectKind.RESIDENT


def picked_up(event: OrderPickedUp) -> list[Entry]:
    """All goods handed over: the merchant delivered, the resident collected, and the leader
    handed over correctly (with the pickup code; an exception without it does not count)."""
    if not event.complete:
        return []
    ref = f"order:{event.order_id}"
    entries = [Entry(RESIDENT, event.user_id, RecordKind.ORDER_COLLECTED, ref)]
    if not event.without_code:
        entries.append(Entry(LEADER, event.leader_user_id, RecordKind.PICKUP_HANDED_OVER, ref))
    if event.merchant_organisation_id is not None:
        entries.append(
            Entry(MERCHANT, event.merchant_organisation_id, RecordKind.ORDER_DELIVERED, ref)
        )
    return entries


def uncollected(event: OrderUncollected) -> list[Entry]:
    return [Entry(RESIDENT, event.user_id, RecordKind.ORDER_UNCOLLECTED, f"order:{event.order_id}")]


def live_uncollected(event: LiveOrderUncollected) -> list[Entry]:
    """A live order left at the pickup point counts against its buyer as a group-buying
    order does (the same kind, so the same weight of `credit.scoring`)."""
    ref = f"live_order:{event.order_id}"
    return [Entry(RESIDENT, event.user_id, RecordKind.ORDER_UNCOLLECTED, ref)]


def excursion(event: TemperatureExcursion) -> list[Entry]:
    ref = f"batch:{event.batch_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.TEMPERATURE_EXCURSION, ref)]


def inspection_failed(event: InspectionFailed) -> list[Entry]:
    ref = f"batch:{event.batch_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.INSPECTION_FAILED, ref)]


def recalled(event: BatchRecalled) -> list[Entry]:
    ref = f"recall:{event.recall_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.BATCH_RECALLED, ref)]


def refund_overdue(event: ReturnRefundOverdue) -> list[Entry]:
    ref = f"return:{event.return_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.RETURN_REFUND_OVERDUE, ref)]


def return_refunded(event: ReturnRefunded) -> list[Entry]:
    """A return upheld to its refund."""
    ref = f"return:{event.return_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.RETURN_REFUNDED, ref)]


COMPLAINT_KINDS = {"upheld": RecordKind.COMPLAINT_UPHELD, "mediated": RecordKind.COMPLAINT_MEDIATED}


def complaint_resolved(event: ComplaintResolved) -> list[Entry]:
    """Upheld or mediated complaints count against the one complained about: the leader when
    the complaint is about the leader, else the order's merchant."""
    kind = COMPLAINT_KINDS.get(event.outcome)
    if kind is None:
        return []
    ref = f"complaint:{event.complaint_id}"
    if event.target == "leader" and event.subject_leader_user_id is not None:
        return [Entry(LEADER, event.subject_leader_user_id, kind, ref)]
    return [Entry(MERCHANT, event.subject_organisation_id, kind, ref)]


def case_decided(event: CaseDecided) -> list[Entry]:
    """A regulator's decision: a penalty (heavier when serious), a warning or a
    rectification order (both `warning`); no violation counts for nobody."""
    if event.decision == "penalty":
        kind = RecordKind.PENALTY_SERIOUS if event.serious else RecordKind.PENALTY
    elif event.decision in ("warning", "rectify"):
        kind = RecordKind.WARNING
    else:
        return []
    return [Entry(MERCHANT, event.organisation_id, kind, f"case:{event.case_id}")]


def rectification_overdue(event: RectificationOverdue) -> list[Entry]:
    ref = f"case:{event.case_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.RECTIFICATION_OVERDUE, ref)]


def rectification_fulfilled(event: RectificationFulfilled) -> list[Entry]:
    """Done on time: a small credit (the decision itself still counts until it decays);
    done late counts nothing more (the overdue record stands)."""
    if not event.on_time:
        return []
    ref = f"case:{event.case_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.RECTIFIED_ON_TIME, ref)]


CLAIM_KINDS = {
    "upheld": RecordKind.QUALITY_CLAIM_UPHELD,
    "partly": RecordKind.QUALITY_CLAIM_PARTLY,
}


def quality_claim_decided(event: QualityClaimDecided) -> list[Entry]:
    """A claim decided for the resident, in whole or in part, by the merchant or the
    platform, counts against the merchant; a rejected claim counts for nobody (and never
    against the resident: only an operator's confirmation of abuse does)."""
    kind = CLAIM_KINDS.get(event.outcome)
    if kind is None:
        return []
    return [Entry(MERCHANT, event.organisation_id, kind, f"claim:{event.claim_id}")]


def claim_abuse_confirmed(event: ClaimAbuseConfirmed) -> list[Entry]:
    """An operator confirmed a flagged claim pattern (a flag alone never counts)."""
    ref = f"claim_flag:{event.flag_id}"
    return [Entry(RESIDENT, event.user_id, RecordKind.CLAIM_ABUSE_CONFIRMED, ref)]


SPOT_CHECK_KINDS = {
    "passed": RecordKind.SPOT_CHECK_PASSED,
    "issues_found": RecordKind.SPOT_CHECK_ISSUES,
    "failed": RecordKind.SPOT_CHECK_FAILED,
}


def inspection_result_published(event: InspectionResultPublished) -> list[Entry]:
    """A random inspection's published result (双随机、一公开): for or against the merchant."""
    kind = SPOT_CHECK_KINDS.get(event.result)
    if kind is None:
        return []
    ref = f"inspection:{event.target_id}"
    return [Entry(MERCHANT, event.merchant_organisation_id, kind, ref)]


def service_no_show(event: BookingNoShow) -> list[Entry]:
    """A client never checked in to a booked session (the due job at the slot's end)."""
    ref = f"booking:{event.booking_id}"
    return [Entry(RESIDENT, event.client_user_id, RecordKind.SERVICE_NO_SHOW, ref)]


def service_cancelled(event: BookingCancelled) -> list[Entry]:
    """A booked session the provider cancelled counts against the provider; the client's own
    cancellation (a course refund included) and the system's (an enrolment not paid in time)
    count for nobody."""
    if event.cancelled_by != "provider":
        return []
    ref = f"booking:{event.booking_id}"
    return [Entry(MERCHANT, event.organisation_id, RecordKind.SERVICE_CANCELLED_BY_PROVIDER, ref)]


def live_cancelled(event: LiveOrderCancelled) -> list[Entry]:
    """A paid live order its merchant cancelled before shipment counts against the merchant
    (the buyer was promised the goods); the buyer's own cancellation counts for nobody."""
    if event.cancelled_by != "merchant":
        return []
    ref = f"live_order:{event.order_id}"
    kind = RecordKind.LIVE_ORDER_CANCELLED_BY_MERCHANT
    return [Entry(MERCHANT, event.organisation_id, kind, ref)]


@dataclass(frozen=True)
class Subscription:
    event: type[DomainEvent]
    name: str
    entries: Callable[[Any], list[Entry]]


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription(OrderPickedUp, "credit.order_picked_up", picked_up),
    Subscription(OrderUncollected, "credit.order_uncollected", uncollected),
    Subscription(LiveOrderUncollected, "credit.live_order_uncollected", live_uncollected),
    Subscription(TemperatureExcursion, "credit.temperature_excursion", excursion),
    Subscription(InspectionFailed, "credit.inspection_failed", inspection_failed),
    Subscription(BatchRecalled, "credit.batch_recalled", recalled),
    Subscription(ReturnRefundOverdue, "credit.return_refund_overdue", refund_overdue),
    Subscription(ReturnRefunded, "credit.return_refunded", return_refunded),
    Subscription(ComplaintResolved, "credit.complaint_resolved", complaint_resolved),
    Subscription(CaseDecided, "credit.case_decided", case_decided),
    Subscription(RectificationOverdue, "credit.rectification_overdue", rectification_overdue),
    Subscription(RectificationFulfilled, "credit.rectification_fulfilled", rectification_fulfilled),
    Subscription(QualityClaimDecided, "credit.quality_claim_decided", quality_claim_decided),
    Subscription(ClaimAbuseConfirmed, "credit.claim_abuse_confirmed", claim_abuse_confirmed),
    Subscription(
        InspectionResultPublished, "credit.inspection_result_published", inspection_result_published
    ),
    Subscription(BookingNoShow, "credit.service_no_show", service_no_show),
    Subscription(BookingCancelled, "credit.service_cancelled", service_cancelled),
    Subscription(LiveOrderCancelled, "credit.live_order_cancelled", live_cancelled),
)


def _handler(
    entries: Callable[[Any], list[Entry]],
) -> Callable[[AsyncSession, outbox.Envelope[Any]], Any]:
    async def handle(session: AsyncSession, envelope: outbox.Envelope[Any]) -> None:
        await append(
            session,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            occurred_at=envelope.created_at,
            entries=entries(envelope.payload),
        )

    return handle


for _subscription in SUBSCRIPTIONS:
    outbox.subscribe(_subscription.event, _subscription.name)(_handler(_subscription.entries))


# --- the daily refresh of kept scores (their grade orders the catalogue's search) -----------

REFRESH_JOB = "credit.scores_refresh"


def next_refresh(now: datetime) -> datetime:
    """00:10 Asia/Shanghai tomorrow."""
    tomorrow = now.astimezone(LOCAL).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0, 10), tzinfo=LOCAL)


@outbox.job(CreditScoresRefresh)
async def refresh_scores(session: AsyncSession, job: CreditScoresRefresh) -> None:
    await refresh_stale(session)
    await ensure_refresh_scheduled(session)


async def ensure_refresh_scheduled(session: AsyncSession) -> None:
    await outbox.schedule(
        session, CreditScoresRefresh(), next_refresh(clock.now()), dedupe_key=REFRESH_JOB
    )
