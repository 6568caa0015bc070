"""Inbox messages in answer to domain events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox
from linli.accounts.models import Membership, Organisation
from linli.community import points as pickup_points
from linli.events import (
    BatchRecalled,
    BuyerRecalled,
    CampaignClosed,
    CertificationDecided,
    ClaimAbuseFlagged,
    CommissionStatementIssued,
    ComplaintAcceptanceOverdue,
    ComplaintAccepted,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintRefused,
    ComplaintResolved,
    ComplaintStepAdded,
    DeliveryShipped,
    GroupFailed,
    InspectionFailed,
    LeaderApplicationDecided,
    LiveOrderAtPoint,
    LiveOrderCancelled,
    LiveOrderShipped,
    LiveOrderUncollected,
    MembershipGranted,
    MerchantApplicationDecided,
    MerchantListingsPaused,
    OrderPaid,
    OrderPickedUp,
    OrderReadyForPickup,
    OrderRefunded,
    OrderUncollected,
    QualityClaimDecided,
    QualityClaimEscalated,
    QualityClaimFiled,
    ReturnDecided,
    ReturnReceived,
    ReturnRefundOverdue,
    ReturnRefundRefused,
    ReturnRequested,
    ReviewPosted,
    ReviewReplied,
    TemperatureExcursion,
    UserSignedUp,
)
from linli.i18n import N_
from linli.money import format_fen
from linli.notifications.service import notify
from linli.reviews import ReviewStatus


@outbox.subscribe(UserSignedUp, "notifications.welcome")
async def welcome(session: AsyncSession, envelope: outbox.Envelope[UserSignedUp]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "welcome",
        title=N_("Welcome to Linli"),
        body=N_("Join your community to see today's group buys and pick up from your leader."),
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(MembershipGranted, "notifications.role_granted")
async def role_granted(session: AsyncSession, envelope: outbox.Envelope[MembershipGranted]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "role_granted",
        title=N_("You have a new role"),
        body=N_("You can now act as {role} for organisation #{organisation_id}."),
        params={"role": event.role, "organisation_id": event.organisation_id},
        link="/account",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(MerchantApplicationDecided, "notifications.merchant_application_decided")
async def merchant_application_decided(
    session: AsyncSession, envelope: outbox.Envelope[MerchantApplicationDecided]
) -> None:
    event = envelope.payload
    if event.approved:
        notify(
            session,
            event.applicant_user_id,
            "merchant_approved",
            title=N_("Your merchant application is approved"),
            body=N_("Switch to your new organisation under Account to list products."),
            link="/account",
            source_event_id=envelope.event_id,
        )
    else:
        notify(
            session,
            event.applicant_user_id,
            "merchant_rejected",
            title=N_("Your merchant application was not approved"),
            body=N_("Reason: {reason}"),
            params={"reason": event.reason or ""},
            link="/merchants/applications",
            source_event_id=envelope.event_id,
        )


async def _notify_owners(
    session: AsyncSession,
    organisation_id: int,
    kind: str,
    *,
    title: str,
    body: str,
    params: dict[str, Any],
    link: str,
    event_id: str,
) -> None:
    owners = await session.scalars(
        select(Membership.user_id).where(
            Membership.organisation_id == organisation_id, Membership.role == "owner"
        )
    )
    for user_id in owners:
        notify(
            session,
            user_id,
            kind,
            title=title,
            body=body,
            params=params,
            link=link,
            source_event_id=event_id,
        )


@outbox.subscribe(MerchantListingsPaused, "notifications.listings_paused")
async def listings_paused(
    session: AsyncSession, envelope: outbox.Envelope[MerchantListingsPaused]
) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "listings_paused",
        title=N_("Your listings are paused"),
        body=N_(
            "Your qualifications are due for re-verification. Renew your licences so the "
            "platform can re-verify you."
        ),
        params={},
        link="/merchant",
        event_id=envelope.event_id,
    )


@outbox.subscribe(CertificationDecided, "notifications.certification_decided")
async def certification_decided(
    session: AsyncSession, envelope: outbox.Envelope[CertificationDecided]
) -> None:
    event = envelope.payload
    titles = {
        ReviewStatus.APPROVED: N_("Your 'three same' certification is approved"),
        ReviewStatus.REJECTED: N_("Your 'three same' certification was not approved"),
        ReviewStatus.REVOKED: N_("Your 'three same' certification was revoked"),
    }
    await _notify_owners(
        session,
        event.organisation_id,
        f"certification_{event.status}",
        title=titles[event.status],
        body=N_("Reason: {reason}")
        if event.reason
        else N_("Your export-quality products now carry the badge."),
        params={"reason": event.reason or ""},
        link="/merchant",
        event_id=envelope.event_id,
    )


@outbox.subscribe(LeaderApplicationDecided, "notifications.leader_application_decided")
async def leader_application_decided(
    session: AsyncSession, envelope: outbox.Envelope[LeaderApplicationDecided]
) -> None:
    event = envelope.payload
    if event.approved:
        notify(
            session,
            event.user_id,
            "leader_approved",
            title=N_("You are now a group leader"),
            body=N_("Your pickup point is open. Residents can choose it from today."),
            link="/leader",
            source_event_id=envelope.event_id,
        )
    else:
        notify(
            session,
            event.user_id,
            "leader_rejected",
            title=N_("Your group-leader application was not approved"),
            body=N_("Reason: {reason}"),
            params={"reason": event.reason or ""},
            link="/leaders/apply",
            source_event_id=envelope.event_id,
        )


# --- group buying ---------------------------------------------------------------------------


@outbox.subscribe(OrderPaid, "notifications.order_paid", batch_safe=True)
async def order_paid(session: AsyncSession, envelope: outbox.Envelope[OrderPaid]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "order_paid",
        title=N_("Order paid"),
        body=N_(
            "We received {amount} for order #{order_id}. After the cut-off you will hear "
            "whether the group formed at your pickup point."
        ),
        params={"amount": format_fen(event.total_fen), "order_id": event.order_id},
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(GroupFailed, "notifications.group_failed")
async def group_failed(session: AsyncSession, envelope: outbox.Envelope[GroupFailed]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "group_failed",
        title=N_("The group did not form: refunded"),
        body=N_(
            "Not enough neighbours ordered at your pickup point, so order #{order_id} was "
            "cancelled and {amount} refunded."
        )
        if event.whole_order
        else N_(
            "Some items of order #{order_id} did not reach their group size at your pickup "
            "point; {amount} was refunded. The rest is on its way."
        ),
        params={"amount": format_fen(event.refunded_fen), "order_id": event.order_id},
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(CampaignClosed, "notifications.campaign_closed")
async def campaign_closed(session: AsyncSession, envelope: outbox.Envelope[CampaignClosed]) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.merchant_organisation_id,
        "campaign_closed",
        title=N_("Cut-off: your procurement list is ready"),
        body=N_(
            "Campaign #{campaign_id}: {confirmed} orders confirmed, {failed} cancelled because "
            "their group did not form."
        ),
        params={
            "campaign_id": event.campaign_id,
            "confirmed": event.confirmed_orders,
            "failed": event.failed_orders,
        },
        link=f"/merchant/groupbuy/{event.campaign_id}",
        event_id=envelope.event_id,
    )
    led = (await pickup_points.points(session, event.pickup_point_ids)).values()
    for leader_user_id, point_name in ((p.leader_user_id, p.name) for p in led):
        if leader_user_id is None:
            continue
        notify(
            session,
            leader_user_id,
            "orders_coming",
            title=N_("Orders are coming to your pickup point"),
            body=N_("Campaign #{campaign_id} has orders for {point}. Its sorting list is ready."),
            params={"campaign_id": event.campaign_id, "point": point_name},
            link="/leader/pickup",
            source_event_id=envelope.event_id,
        )


@outbox.subscribe(DeliveryShipped, "notifications.delivery_shipped")
async def delivery_shipped(
    session: AsyncSession, envelope: outbox.Envelope[DeliveryShipped]
) -> None:
    event = envelope.payload
    if event.leader_user_id is None:
        return
    notify(
        session,
        event.leader_user_id,
        "delivery_shipped",
        title=N_("A delivery is on its way"),
        body=N_("The merchant shipped campaign #{campaign_id}. Confirm when it arrives."),
        params={"campaign_id": event.campaign_id},
        link="/leader/pickup",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(OrderReadyForPickup, "notifications.ready_for_pickup")
async def ready_for_pickup(
    session: AsyncSession, envelope: outbox.Envelope[OrderReadyForPickup]
) -> None:
    event = envelope.payload
    point = await pickup_points.point(session, event.pickup_point_id)
    notify(
        session,
        event.user_id,
        "ready_for_pickup",
        title=N_("Your order has arrived: pickup code {code}"),
        body=N_(
            "Order #{order_id} is waiting at {point} ({hours}). Show the code {code} or its QR "
            "code to your group leader."
        ),
        params={
            "code": event.pickup_code,
            "order_id": event.order_id,
            "point": point.name if point else "",
            "hours": point.opening_hours if point else "",
        },
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(OrderPickedUp, "notifications.picked_up")
async def picked_up(session: AsyncSession, envelope: outbox.Envelope[OrderPickedUp]) -> None:
    event = envelope.payload
    if event.without_code:
        point = await pickup_points.point(session, event.pickup_point_id)
        notify(
            session,
            event.user_id,
            "handed_over_without_code",
            title=N_("Handed over without your pickup code"),
            body=N_(
                "The group leader at {point} handed over goods of order #{order_id} worth "
                "{amount} without your pickup code, because: {reason}. If you did not receive "
                "them, tell the merchant or the platform."
            ),
            params={
                "order_id": event.order_id,
                "amount": format_fen(event.goods_fen),
                "point": point.name if point else "",
                "reason": event.reason,
            },
            link=f"/groupbuy/orders/{event.order_id}",
            source_event_id=envelope.event_id,
        )
        return
    notify(
        session,
        event.user_id,
        "picked_up",
        title=N_("Picked up") if event.complete else N_("Partly picked up"),
        body=N_("Order #{order_id}: goods worth {amount} handed over."),
        params={"order_id": event.order_id, "amount": format_fen(event.goods_fen)},
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(OrderUncollected, "notifications.uncollected")
async def uncollected(session: AsyncSession, envelope: outbox.Envelope[OrderUncollected]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "uncollected",
        title=N_("Order not collected"),
        body=N_("Order #{order_id} was not collected in time; {amount} was refunded.")
        if event.refunded_fen
        else N_("Order #{order_id} was not collected in time. The merchant will contact you."),
        params={"order_id": event.order_id, "amount": format_fen(event.refunded_fen)},
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )
    await _notify_owners(
        session,
        event.merchant_organisation_id,
        "uncollected",
        title=N_("Order not collected"),
        body=N_("Order #{order_id} was not collected at its pickup point ({handling})."),
        params={"order_id": event.order_id, "handling": event.action},
        link="/merchant/groupbuy",
        event_id=envelope.event_id,
    )


@outbox.subscribe(OrderRefunded, "notifications.order_refunded")
async def order_refunded(session: AsyncSession, envelope: outbox.Envelope[OrderRefunded]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "refunded",
        title=N_("Refunded"),
        body=N_("{amount} of order #{order_id} was refunded. Reason: {reason}"),
        params={
            "amount": format_fen(event.amount_fen),
            "order_id": event.order_id,
            "reason": event.reason,
        },
        link=f"/groupbuy/orders/{event.order_id}",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(CommissionStatementIssued, "notifications.commission_statement")
async def commission_statement(
    session: AsyncSession, envelope: outbox.Envelope[CommissionStatementIssued]
) -> None:
    event = envelope.payload
    notify(
        session,
        event.leader_user_id,
        "commission_statement",
        title=N_("Your commission statement for {month}"),
        body=N_("Net commission {amount}; it is paid to your bank account."),
        params={"month": event.month, "amount": format_fen(event.net_fen)},
        link="/leader/earnings",
        source_event_id=envelope.event_id,
    )


# --- traceability ---------------------------------------------------------------------------


def _batch_code(event: TemperatureExcursion | InspectionFailed) -> str:
    return event.batch_code or str(event.batch_id)


@outbox.subscribe(TemperatureExcursion, "notifications.temperature_excursion")
async def temperature_excursion(
    session: AsyncSession, envelope: outbox.Envelope[TemperatureExcursion]
) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "temperature_excursion",
        title=N_("Batch {code} is on hold: temperature excursion"),
        body=N_(
            "The cold chain of batch {code} left its range (worst reading {worst} °C). It "
            "cannot be sold until you record a decision."
        ),
        params={"code": _batch_code(event), "worst": event.worst_c},
        link=f"/merchant/batches/{event.batch_id}",
        event_id=envelope.event_id,
    )


@outbox.subscribe(InspectionFailed, "notifications.inspection_failed")
async def inspection_failed(
    session: AsyncSession, envelope: outbox.Envelope[InspectionFailed]
) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "inspection_failed",
        title=N_("Batch {code} is on hold: inspection failed"),
        body=N_(
            "{laboratory} found batch {code} non-conforming. It cannot be sold until you "
            "record a decision."
        ),
        params={
            "code": _batch_code(event),
            "laboratory": event.laboratory,
        },
        link=f"/merchant/batches/{event.batch_id}",
        event_id=envelope.event_id,
    )


@outbox.subscribe(BatchRecalled, "notifications.batch_recalled")
async def batch_recalled(session: AsyncSession, envelope: outbox.Envelope[BatchRecalled]) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "batch_recalled",
        title=N_("Recall #{recall_id} is open (level {level})"),
        body=N_(
            "{count} batches are frozen and their buyers told. Follow its progress against "
            "the deadlines."
        ),
        params={
            "recall_id": event.recall_id,
            "level": event.level,
            "count": len(event.batch_ids),
        },
        link="/merchant/recalls",
        event_id=envelope.event_id,
    )


@outbox.subscribe(BuyerRecalled, "notifications.buyer_recalled")
async def buyer_recalled(session: AsyncSession, envelope: outbox.Envelope[BuyerRecalled]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "recall",
        title=N_("Recall: do not eat {product}"),
        body=N_(
            "The goods of your order #{order_id} are recalled (level {level}): {reason}. "
            "See the trace page for what to do."
        ),
        params={
            "product": event.product_name,
            "order_id": event.order_id,
            "level": event.level,
            "reason": event.reason,
        },
        link=f"/t/{event.trace_code}",
        source_event_id=envelope.event_id,
    )


# consumer protection: reviews


@outbox.subscribe(ReviewPosted, "notifications.review_posted")
async def review_posted(session: AsyncSession, envelope: outbox.Envelope[ReviewPosted]) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "review_posted",
        title=N_("New review: {rating} stars for {product}"),
        body=N_("A resident who collected {product} reviewed it. You may reply once.")
        if event.booking_id is None
        else N_("A client who attended {product} reviewed it. You may reply once."),
        params={"rating": event.rating, "product": event.product_name},
        link="/merchant/reviews?awaiting=true",
        event_id=envelope.event_id,
    )


@outbox.subscribe(ReviewReplied, "notifications.review_replied")
async def review_replied(session: AsyncSession, envelope: outbox.Envelope[ReviewReplied]) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "review_replied",
        title=N_("The merchant replied to your review"),
        body=N_("The merchant answered your review of {product}."),
        params={"product": event.product_name},
        link="/reviews/mine",
        source_event_id=envelope.event_id,
    )


# --- consumer protection: complaints --------------------------------------------------------

ComplaintEvent = (
    ComplaintFiled
    | ComplaintAccepted
    | ComplaintRefused
    | ComplaintResolved
    | ComplaintEscalated
    | ComplaintAcceptanceOverdue
    | ComplaintStepAdded
)


def _local_day(moment: str) -> str:
    """The Asia/Shanghai date of an ISO moment (deadlines run to the end of that day)."""
    return datetime.fromisoformat(moment).astimezone(clock.LOCAL).date().isoformat()


async def _complaint_parties(session: AsyncSession, event: ComplaintEvent) -> set[int]:
    """The users told about a complaint: the complainant, the leader complained about or the
    merchant's members, and the deciding organisation's members (the platform's operators,
    or the assigned regulator's staff)."""
    users = {event.complainant_user_id}
    organisations: list[int] = []
    if event.target == "leader":
        if event.subject_leader_user_id is not None:
            users.add(event.subject_leader_user_id)
    else:
        organisations.append(event.subject_organisation_id)
    if event.decider == "regulator" and event.regulator_organisation_id is not None:
        organisations.append(event.regulator_organisation_id)
    users |= set(
        await session.scalars(
            select(Membership.user_id).where(Membership.organisation_id.in_(organisations))
        )
    )
    if event.decider == "platform":
        users |= set(
            await session.scalars(
                select(Membership.user_id)
                .join(Organisation, Organisation.id == Membership.organisation_id)
                .where(Organisation.kind == "platform")
            )
        )
    return users


async def _complaint_notice(
    session: AsyncSession,
    envelope: outbox.Envelope[Any],
    kind: str,
    title: str,
    body: str,
    *,
    skip: int | None = None,
    **params: Any,
) -> None:
    event = envelope.payload
    if event.order_id is None:  # a booked service or a course: the title says what happened
        body = N_("About a booked service or course: see the complaint's timeline.")
    for user_id in sorted(await _complaint_parties(session, event)):
        if user_id == skip:
            continue
        notify(
            session,
            user_id,
            kind,
            title=title,
            body=body,
            params={"id": event.complaint_id, "order_id": event.order_id, **params},
            link=f"/protection/complaints/{event.complaint_id}",
            source_event_id=envelope.event_id,
        )


@outbox.subscribe(ComplaintFiled, "notifications.complaint_filed")
async def complaint_filed(session: AsyncSession, envelope: outbox.Envelope[ComplaintFiled]) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_filed",
        N_("Complaint #{id} filed"),
        N_("A complaint about order #{order_id} was filed; acceptance is decided by {deadline}."),
        deadline=_local_day(envelope.payload.accept_by),
    )


@outbox.subscribe(ComplaintAccepted, "notifications.complaint_accepted")
async def complaint_accepted(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintAccepted]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_accepted",
        N_("Complaint #{id} accepted"),
        N_("The complaint about order #{order_id} is accepted; mediation ends by {deadline}."),
        deadline=_local_day(envelope.payload.mediation_by),
    )


@outbox.subscribe(ComplaintRefused, "notifications.complaint_refused")
async def complaint_refused(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintRefused]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_refused",
        N_("Complaint #{id} not accepted"),
        N_("The complaint about order #{order_id} was not accepted: {reason}"),
        reason=envelope.payload.reason,
    )


_RESOLVED_BODY = N_("The complaint about order #{order_id} is closed: {outcome}.")
# One sentence per outcome (protection.complaint_models.Outcome), so it is told in words.
_RESOLVED_BODIES = {
    "mediated": N_("The complaint about order #{order_id} was mediated: the parties agreed."),
    "upheld": N_("The complaint about order #{order_id} was upheld."),
    "rejected": N_("The complaint about order #{order_id} was rejected: see the reasons."),
    "withdrawn": N_("The complaint about order #{order_id} was withdrawn by the complainant."),
    "not_mediated": N_(
        "Mediation of the complaint about order #{order_id} ended without agreement."
    ),
}


@outbox.subscribe(ComplaintResolved, "notifications.complaint_resolved")
async def complaint_resolved(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintResolved]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_resolved",
        N_("Complaint #{id} closed"),
        _RESOLVED_BODIES.get(envelope.payload.outcome, _RESOLVED_BODY),
        outcome=envelope.payload.outcome,
    )


@outbox.subscribe(ComplaintEscalated, "notifications.complaint_escalated")
async def complaint_escalated(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintEscalated]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_escalated",
        N_("Complaint #{id} taken to the regulator"),
        N_(
            "The complainant took the platform's decision on order #{order_id} to the "
            "regulator; acceptance is decided by {deadline}."
        ),
        deadline=_local_day(envelope.payload.accept_by),
    )


@outbox.subscribe(ComplaintAcceptanceOverdue, "notifications.complaint_acceptance_overdue")
async def complaint_acceptance_overdue(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintAcceptanceOverdue]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_overdue",
        N_("Complaint #{id}: acceptance overdue"),
        N_("Nobody decided on accepting the complaint about order #{order_id} by {deadline}."),
        deadline=_local_day(envelope.payload.accept_by),
    )


@outbox.subscribe(ComplaintStepAdded, "notifications.complaint_step")
async def complaint_step(
    session: AsyncSession, envelope: outbox.Envelope[ComplaintStepAdded]
) -> None:
    await _complaint_notice(
        session,
        envelope,
        "complaint_step",
        N_("Complaint #{id} has news"),
        N_("Something was added to the complaint about order #{order_id}: see its timeline."),
        skip=envelope.payload.by_user_id,
    )


# consumer protection: returns ---------------------------------------------------------------


def _local(moment: datetime) -> str:
    return moment.astimezone(clock.LOCAL).strftime("%Y-%m-%d %H:%M")


@outbox.subscribe(LiveOrderShipped, "notifications.live_order_shipped")
async def live_order_shipped(
    session: AsyncSession, envelope: outbox.Envelope[LiveOrderShipped]
) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "live_order_shipped",
        title=N_("Your live order #{order_id} is shipped"),
        body=N_(
            "Tracking number {tracking}. Confirm when it arrives; otherwise it counts as "
            "received on {due}."
        )
        if event.receive_by is not None
        else N_("Tracking number {tracking}. You will be told when it is at your pickup point."),
        params={
            "order_id": event.order_id,
            "tracking": event.tracking_number,
            "due": _local(event.receive_by) if event.receive_by is not None else "",
        },
        link="/live/orders",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(LiveOrderCancelled, "notifications.live_order_cancelled")
async def live_order_cancelled(
    session: AsyncSession, envelope: outbox.Envelope[LiveOrderCancelled]
) -> None:
    """The merchant cancelled the buyer's paid order: the buyer is told why and what was
    refunded. The buyer cancelled it: the merchant's owners are told not to ship it."""
    event = envelope.payload
    if event.cancelled_by != "merchant":
        await _notify_owners(
            session,
            event.organisation_id,
            "live_order_cancelled",
            title=N_("Live order #{order_id} cancelled by the buyer"),
            body=N_("Do not ship live order #{order_id}: the buyer cancelled it and is refunded."),
            params={"order_id": event.order_id},
            link="/merchant/live-orders",
            event_id=envelope.event_id,
        )
        return
    notify(
        session,
        event.user_id,
        "live_order_cancelled",
        title=N_("The merchant cancelled your live order #{order_id}"),
        body=N_("Reason given: {reason}. {amount} was refunded to you."),
        params={
            "order_id": event.order_id,
            "reason": event.reason,
            "amount": format_fen(event.refunded_fen),
        },
        link="/live/orders",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(LiveOrderAtPoint, "notifications.live_order_at_point")
async def live_order_at_point(
    session: AsyncSession, envelope: outbox.Envelope[LiveOrderAtPoint]
) -> None:
    event = envelope.payload
    point = await pickup_points.point(session, event.pickup_point_id)
    notify(
        session,
        event.user_id,
        "live_order_at_point",
        title=N_("Your live order #{order_id} is at your pickup point"),
        body=N_("Collect it at {point} with the pickup code shown on My live orders."),
        params={"order_id": event.order_id, "point": point.name if point else ""},
        link="/live/orders",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(LiveOrderUncollected, "notifications.live_order_uncollected")
async def live_order_uncollected(
    session: AsyncSession, envelope: outbox.Envelope[LiveOrderUncollected]
) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "live_order_uncollected",
        title=N_("Live order #{order_id} not collected"),
        body=N_("Live order #{order_id} was not collected in time; {amount} was refunded.")
        if event.refunded_fen
        else N_("Live order #{order_id} was not collected in time. The merchant will contact you."),
        params={"order_id": event.order_id, "amount": format_fen(event.refunded_fen)},
        link="/live/orders",
        source_event_id=envelope.event_id,
    )
    await _notify_owners(
        session,
        event.organisation_id,
        "live_order_uncollected",
        title=N_("Live order #{order_id} not collected"),
        body=N_("Live order #{order_id} was not collected at its pickup point ({handling})."),
        params={"order_id": event.order_id, "handling": event.action},
        link="/merchant/live-orders?state=uncollected",
        event_id=envelope.event_id,
    )


@outbox.subscribe(ReturnRequested, "notifications.return_requested")
async def return_requested(
    session: AsyncSession, envelope: outbox.Envelope[ReturnRequested]
) -> None:
    event = envelope.payload
    await _notify_owners(
        session,
        event.organisation_id,
        "return_requested",
        title=N_("A return to answer: {product}"),
        body=N_(
            "A resident asks to return {quantity} of {product}. Answer by {due}, or the return "
            "is approved automatically."
        ),
        params={
            "product": event.product_name,
            "quantity": event.quantity,
            "due": _local(event.answer_due_at),
        },
        link="/merchant/returns",
        event_id=envelope.event_id,
    )


@outbox.subscribe(ReturnDecided, "notifications.return_decided")
async def return_decided(session: AsyncSession, envelope: outbox.Envelope[ReturnDecided]) -> None:
    event = envelope.payload
    if event.decision != "approved":
        notify(
            session,
            event.user_id,
            "return_rejected",
            title=N_("Your return of {product} was rejected"),
            body=N_("Reason: {reason}"),
            params={"product": event.product_name, "reason": event.note},
            link="/returns",
            source_event_id=envelope.event_id,
        )
        return
    notify(
        session,
        event.user_id,
        "return_approved",
        title=N_("Your return of {product} is approved"),
        body=N_("Bring the goods back to your pickup point; the refund follows once received.")
        if event.pickup_point_id is not None
        else N_(
            "Send the goods back to the merchant as agreed with them; the refund follows once "
            "they are received."
        ),
        params={"product": event.product_name},
        link="/returns",
        source_event_id=envelope.event_id,
    )
    if event.pickup_point_id is None:
        return  # a live order's return goes back to the merchant, not through a point
    leader = await pickup_points.leader_of(session, event.pickup_point_id)
    if leader is not None:
        notify(
            session,
            leader,
            "return_to_receive",
            title=N_("A return will be brought to your point: {product}"),
            body=N_("Check the goods when the resident brings them and record their condition."),
            params={"product": event.product_name},
            link="/leader/returns",
            source_event_id=envelope.event_id,
        )


@outbox.subscribe(ReturnReceived, "notifications.return_received")
async def return_received(session: AsyncSession, envelope: outbox.Envelope[ReturnReceived]) -> None:
    event = envelope.payload
    params = {"product": event.product_name, "due": _local(event.refund_due_at)}
    notify(
        session,
        event.user_id,
        "return_received",
        title=N_("Your return of {product} was received"),
        body=N_("The merchant must refund you by {due}."),
        params=params,
        link="/returns",
        source_event_id=envelope.event_id,
    )
    await _notify_owners(
        session,
        event.organisation_id,
        "return_to_refund",
        title=N_("A return to refund: {product}"),
        body=(
            N_("You collected the goods. Refund by {due} (the law's 7 days).")
            if event.received_how == "merchant_collected"
            else N_("The goods are back at the pickup point. Refund by {due} (the law's 7 days).")
        ),
        params=params,
        link="/merchant/returns",
        event_id=envelope.event_id,
    )


@outbox.subscribe(ReturnRefundRefused, "notifications.return_refund_refused")
async def return_refund_refused(
    session: AsyncSession, envelope: outbox.Envelope[ReturnRefundRefused]
) -> None:
    event = envelope.payload
    notify(
        session,
        event.user_id,
        "return_refund_refused",
        title=N_("The merchant refused to refund {product}"),
        body=N_(
            "The goods came back damaged. Reason: {reason}. If you disagree, you may file a "
            "complaint."
        ),
        params={"product": event.product_name, "reason": event.reason},
        link=f"/protection/complaints/new?order_id={event.order_id}"
        if event.order_id is not None
        else "/protection/complaints/new",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(ReturnRefundOverdue, "notifications.return_refund_overdue")
async def return_refund_overdue(
    session: AsyncSession, envelope: outbox.Envelope[ReturnRefundOverdue]
) -> None:
    event = envelope.payload
    params = {"product": event.product_name, "due": _local(event.refund_due_at)}
    await _notify_owners(
        session,
        event.organisation_id,
        "return_refund_overdue",
        title=N_("Refund overdue: {product}"),
        body=N_("The refund of a returned item was due by {due}. Refund it now."),
        params=params,
        link="/merchant/returns",
        event_id=envelope.event_id,
    )
    notify(
        session,
        event.user_id,
        "return_refund_overdue",
        title=N_("Your refund for {product} is late"),
        body=N_("It was due by {due}. The platform has recorded the delay; you may also complain."),
        params=params,
        link="/returns",
        source_event_id=envelope.event_id,
    )


# --- quality claims ------------------------------------------------------------------------


async def _operators(session: AsyncSession) -> set[int]:
    """The platform's members (its operators and admins)."""
    return set(
        await session.scalars(
            select(Membership.user_id)
            .join(Organisation, Organisation.id == Membership.organisation_id)
            .where(Organisation.kind == "platform")
        )
    )


@outbox.subscribe(QualityClaimFiled, "notifications.claim_filed")
async def claim_filed(session: AsyncSession, envelope: outbox.Envelope[QualityClaimFiled]) -> None:
    event = envelope.payload
    params = {
        "product": event.product_name,
        "quantity": event.quantity,
        "amount": format_fen(event.requested_fen),
        "due": _local(event.decision_due_at),
    }
    await _notify_owners(
        session,
        event.organisation_id,
        "claim_filed",
        title=N_("A quality claim to decide: {product}"),
        body=N_(
            "A resident claims {amount} for {quantity} of {product}, without return. Decide by "
            "{due}, or the claim goes to the platform."
        ),
        params=params,
        link="/merchant/claims",
        event_id=envelope.event_id,
    )
    notify(
        session,
        event.user_id,
        "claim_filed",
        title=N_("Your claim about {product} is filed"),
        body=N_("The merchant decides by {due}; otherwise the platform decides."),
        params=params,
        link="/claims",
        source_event_id=envelope.event_id,
    )


@outbox.subscribe(QualityClaimDecided, "notifications.claim_decided")
async def claim_decided(
    session: AsyncSession, envelope: outbox.Envelope[QualityClaimDecided]
) -> None:
    event = envelope.payload
    params = {
        "product": event.product_name,
        "amount": format_fen(event.amount_fen),
        "reason": event.note,
    }
    if event.outcome == "rejected":
        if event.decided_by == "merchant":
            title = N_("Your claim about {product} was rejected by the merchant")
            body = N_("Reason: {reason}. You may take it to the platform from your claims page.")
        else:
            title = N_("The platform rejected your claim about {product}")
            body = N_("Reason: {reason}")
        notify(
            session,
            event.user_id,
            "claim_rejected",
            title=title,
            body=body,
            params=params,
            link="/claims",
            source_event_id=envelope.event_id,
        )
    else:
        notify(
            session,
            event.user_id,
            "claim_upheld",
            title=N_("Your claim about {product} is upheld"),
            body=N_("{amount} is refunded to you; keep the goods."),
            params=params,
            link="/claims",
            source_event_id=envelope.event_id,
        )
    if event.decided_by == "platform":
        await _notify_owners(
            session,
            event.organisation_id,
            "claim_decided_by_platform",
            title=N_("The platform decided a claim about {product}"),
            body=N_("Refunded: {amount}."),
            params=params,
            link="/merchant/claims",
            event_id=envelope.event_id,
        )


@outbox.subscribe(QualityClaimEscalated, "notifications.claim_escalated")
async def claim_escalated(
    session: AsyncSession, envelope: outbox.Envelope[QualityClaimEscalated]
) -> None:
    event = envelope.payload
    params = {"product": event.product_name, "id": event.claim_id}
    for user_id in await _operators(session):
        notify(
            session,
            user_id,
            "claim_escalated",
            title=N_("A quality claim for the platform: {product}"),
            body=N_("Claim #{id} waits for the platform's decision."),
            params=params,
            link="/platform/claims",
            source_event_id=envelope.event_id,
        )
    notify(
        session,
        event.user_id,
        "claim_escalated",
        title=N_("The platform will decide your claim about {product}"),
        body=N_("Claim #{id} is with the platform."),
        params=params,
        link="/claims",
        source_event_id=envelope.event_id,
    )
    if event.cause == "timeout":
        await _notify_owners(
            session,
            event.organisation_id,
            "claim_escalated",
            title=N_("A claim about {product} went to the platform"),
            body=N_("Claim #{id} was not decided in time; the platform decides it now."),
            params=params,
            link="/merchant/claims",
            event_id=envelope.event_id,
        )


@outbox.subscribe(ClaimAbuseFlagged, "notifications.claim_abuse_flagged")
async def claim_abuse_flagged(
    session: AsyncSession, envelope: outbox.Envelope[ClaimAbuseFlagged]
) -> None:
    event = envelope.payload
    for user_id in await _operators(session):
        notify(
            session,
            user_id,
            "claim_abuse_flagged",
            title=N_("A claim pattern to review"),
            body=N_("Resident #{user} filed {claims} claims recently, far above their community."),
            params={"user": event.user_id, "claims": event.claims},
            link="/platform/claims",
            source_event_id=envelope.event_id,
        )
