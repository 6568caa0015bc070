"""Every domain event type and its payload: the map of who tells whom what.

An event is a pydantic model registered under a stable name with `@event_type`. Publishers
call `outbox.publish(session, SomeEvent(...))` inside their transaction; subscribers register
with `outbox.subscribe(SomeEvent, "<domain>.<handler>")` in their domain's handlers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from linli.reviews import ReviewStatus


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    event_name: ClassVar[str]


E = TypeVar("E", bound=type[DomainEvent])
EVENT_TYPES: dict[str, type[DomainEvent]] = {}


def event_type(name: str) -> Callable[[E], E]:
    """Register a payload model under `name` (unique, never renamed once published)."""

    def register(cls: E) -> E:
        if name in EVENT_TYPES:
            raise ValueError(f"event type {name!r} declared twice")
        cls.event_name = name
        EVENT_TYPES[name] = cls
        return cls

    return register


# --- accounts ---------------------------------------------------------------------------


@event_type("accounts.UserSignedUp")
class UserSignedUp(DomainEvent):
    user_id: int


@event_type("accounts.OrganisationCreated")
class OrganisationCreated(DomainEvent):
    organisation_id: int
    kind: str


@event_type("accounts.MembershipGranted")
class MembershipGranted(DomainEvent):
    organisation_id: int
    user_id: int
    role: str


@event_type("accounts.MembershipRevoked")
class MembershipRevoked(DomainEvent):
    organisation_id: int
    user_id: int
    role: str


# --- merchants ----------------------------------------------------------------------------


@event_type("merchants.ApplicationSubmitted")
class MerchantApplicationSubmitted(DomainEvent):
    application_id: int
    applicant_user_id: int


@event_type("merchants.ApplicationDecided")
class MerchantApplicationDecided(DomainEvent):
    application_id: int
    applicant_user_id: int
    approved: bool
    organisation_id: int | None
    reason: str | None


@event_type("merchants.ListingsPaused")
class MerchantListingsPaused(DomainEvent):
    organisation_id: int
    reason: str


@event_type("merchants.Reverified")
class MerchantReverified(DomainEvent):
    organisation_id: int
    next_due: str


@event_type("merchants.CertificationDecided")
class CertificationDecided(DomainEvent):
    certification_id: int
    organisation_id: int
    status: ReviewStatus
    reason: str | None


# --- community ----------------------------------------------------------------------------


@event_type("community.ResidentJoined")
class ResidentJoinedCommunity(DomainEvent):
    user_id: int
    community_id: int
    pickup_point_id: int


@event_type("community.LeaderApplicationDecided")
class LeaderApplicationDecided(DomainEvent):
    application_id: int
    user_id: int
    approved: bool
    pickup_point_id: int | None
    reason: str | None


# --- payments -----------------------------------------------------------------------------


@event_type("payments.PaymentSucceeded")
class PaymentSucceeded(DomainEvent):
    """A provider confirmed the payment (signed callback). Subscribers must check `purpose`:
    only intents their own domain created carry their purpose."""

    intent_id: int
    public_id: str
    purpose: str
    reference: str
    amount_fen: int
    payer_user_id: int
    payee_organisation_id: int


@event_type("payments.PaymentRefunded")
class PaymentRefunded(DomainEvent):
    refund_id: int
    intent_id: int
    purpose: str
    reference: str
    amount_fen: int


# --- groupbuy -----------------------------------------------------------------------------


@event_type("groupbuy.OrderPaid")
class OrderPaid(DomainEvent):
    order_id: int
    campaign_id: int
    user_id: int
    merchant_organisation_id: int
    pickup_point_id: int
    total_fen: int
    intent_id: int


@event_type("catalog.PriceChanged")
class PriceChanged(DomainEvent):
    """A SKU got a price (on creation `old_price_fen` is None). Supervision watches these."""

    sku_id: int
    product_id: int
    organisation_id: int | None
    old_price_fen: int | None
    new_price_fen: int
    source: str
    user_id: int | None


@event_type("groupbuy.CampaignClosed")
class CampaignClosed(DomainEvent):
    """The cut-off ran: groups formed or failed per pickup point, deliveries created."""

    campaign_id: int
    merchant_organisation_id: int
    confirmed_orders: int
    failed_orders: int
    refunded_fen: int
    pickup_point_ids: list[int]


@event_type("groupbuy.GroupFailed")
class GroupFailed(DomainEvent):
    """Some or all of a paid order's items did not reach their threshold at its pickup point;
    that part was refunded."""

    order_id: int
    user_id: int
    campaign_id: int
    pickup_point_id: int
    refunded_fen: int
    whole_order: bool


@event_type("groupbuy.DeliveryShipped")
class DeliveryShipped(DomainEvent):
    delivery_id: int
    campaign_id: int
    pickup_point_id: int
    leader_user_id: int | None


@event_type("live.LiveOrderShipped")
class LiveOrderShipped(DomainEvent):
    """The merchant shipped a paid live order (docs/live.md "Delivery")."""

    order_id: int
    user_id: int
    organisation_id: int
    carrier: str  # a code of live.fulfilment.CARRIERS
    tracking_number: str
    receive_by: datetime | None  # received automatically then (None: collected at a point)


@event_type("live.LiveOrderAtPoint")
class LiveOrderAtPoint(DomainEvent):
    """A live order to collect arrived at the buyer's pickup point (its code is live)."""

    order_id: int
    user_id: int
    pickup_point_id: int


@event_type("live.LiveOrderUncollected")
class LiveOrderUncollected(DomainEvent):
    """A live order waiting at the buyer's pickup point was not collected within rule
    `live.uncollected`'s days: refunded (`refunded_fen`) or only reported to the merchant."""

    order_id: int
    user_id: int
    pickup_point_id: int
    organisation_id: int
    action: str  # what the rule did: refund | report
    refunded_fen: int


@event_type("live.LiveOrderCancelled")
class LiveOrderCancelled(DomainEvent):
    """A paid live order not yet shipped was cancelled, by its buyer or by its merchant (who
    gives a reason), and refunded in full (docs/live.md "Delivery")."""

    order_id: int
    user_id: int
    organisation_id: int
    cancelled_by: str  # buyer | merchant
    reason: str  # the merchant's words ("" when the buyer cancelled)
    refunded_fen: int


@event_type("groupbuy.OrderReadyForPickup")
class OrderReadyForPickup(DomainEvent):
    order_id: int
    user_id: int
    pickup_point_id: int
    pickup_code: str
    collect_by: str  # ISO date-time (UTC)


@event_type("groupbuy.OrderPickedUp")
class OrderPickedUp(DomainEvent):
    order_id: int
    user_id: int
    pickup_point_id: int
    leader_user_id: int
    goods_fen: int
    commission_fen: int
    complete: bool
    without_code: bool = False  # the leader's recorded exception: no pickup code shown
    reason: str = ""  # why, when without_code
    merchant_organisation_id: int | None = None  # the order's merchant (None: stored before)


@event_type("groupbuy.OrderUncollected")
class OrderUncollected(DomainEvent):
    order_id: int
    user_id: int
    pickup_point_id: int
    merchant_organisation_id: int
    action: str  # what the rule did: refund | report
    refunded_fen: int


@event_type("groupbuy.OrderRefunded")
class OrderRefunded(DomainEvent):
    """Part of an order was refunded after the cut-off (collected goods, uncollected goods)."""

    order_id: int
    user_id: int
    amount_fen: int
    reason: str
    commission_reversed_fen: int


@event_type("groupbuy.CommissionStatementIssued")
class CommissionStatementIssued(DomainEvent):
    statement_id: int
    leader_user_id: int
    month: str
    net_fen: int


# --- traceability: cold chain, inspections, recalls --------------------------------------


@event_type("trace.TemperatureExcursion")
class TemperatureExcursion(DomainEvent):
    excursion_id: int
    batch_id: int
    batch_code: str = ""  # what people call the batch ("" in events stored before it came)
    organisation_id: int
    storage_class: str
    started_at: str  # ISO date-time (UTC)
    worst_c: float
    rule: str  # rule_id@version


@event_type("trace.InspectionFailed")
class InspectionFailed(DomainEvent):
    inspection_id: int
    batch_id: int
    batch_code: str = ""  # as in TemperatureExcursion
    organisation_id: int
    laboratory: str


@event_type("trace.BatchHoldDecided")
class BatchHoldDecided(DomainEvent):
    batch_id: int
    organisation_id: int
    decision: str  # release | destroy


@event_type("trace.BatchRecalled")
class BatchRecalled(DomainEvent):
    recall_id: int
    organisation_id: int
    level: int
    batch_ids: list[int]
    named_batch_ids: list[int]


@event_type("trace.BuyerRecalled")
class BuyerRecalled(DomainEvent):
    """A recall reached goods a resident bought: what the resident is told, one per order
    line (the recall itself is `BatchRecalled`)."""

    recall_id: int
    user_id: int
    order_id: int
    order_line_id: int
    product_name: str
    level: int
    reason: str
    trace_code: str  # the line's code on the public trace page (/t/<code>)


# consumer protection: reviews


@event_type("protection.ReviewPosted")
class ReviewPosted(DomainEvent):
    """A resident reviewed a collected order line, or a completed service booking (then
    `product_name` is the session's title and `booking_id` is set)."""

    review_id: int
    user_id: int
    organisation_id: int
    product_id: int | None
    product_name: str
    order_line_id: int | None
    rating: int
    booking_id: int | None = None


@event_type("protection.ReviewReplied")
class ReviewReplied(DomainEvent):
    review_id: int
    user_id: int  # the reviewer, who is told
    organisation_id: int
    product_name: str


@event_type("protection.ReviewHidden")
class ReviewHidden(DomainEvent):
    review_id: int
    user_id: int
    organisation_id: int
    reason: str  # protection.review_models.HideReason


# --- consumer protection: complaints --------------------------------------------------------


class _ComplaintEvent(DomainEvent):
    """What credit and supervision count, and who is to be told: the complaint's parties."""

    complaint_id: int
    complainant_user_id: int
    target: str  # order | merchant | leader | product | booking | course
    order_id: int | None  # None for a complaint about a service booking or course
    subject_organisation_id: int  # the order's merchant (a service's provider)
    subject_leader_user_id: int | None  # set when the complaint is about the leader
    decider: str  # platform | regulator
    regulator_organisation_id: int | None
    status: str


@event_type("protection.ComplaintFiled")
class ComplaintFiled(_ComplaintEvent):
    accept_by: str  # ISO date-time (UTC)
    rule: str  # rule_id@version


@event_type("protection.ComplaintAccepted")
class ComplaintAccepted(_ComplaintEvent):
    mediation_by: str  # ISO date-time (UTC)
    rule: str


@event_type("protection.ComplaintRefused")
class ComplaintRefused(_ComplaintEvent):
    reason: str


@event_type("protection.ComplaintResolved")
class ComplaintResolved(_ComplaintEvent):
    outcome: str  # mediated | upheld | rejected | withdrawn | not_mediated


@event_type("protection.ComplaintEscalated")
class ComplaintEscalated(_ComplaintEvent):
    accept_by: str
    rule: str


@event_type("protection.ComplaintAcceptanceOverdue")
class ComplaintAcceptanceOverdue(_ComplaintEvent):
    accept_by: str


@event_type("protection.ComplaintStepAdded")
class ComplaintStepAdded(_ComplaintEvent):
    """A message or a file on the timeline: the other parties are told."""

    step_kind: str  # message | attachment | mediation_started
    by_user_id: int | None


# consumer protection: returns ----------------------------------------------------------------


@event_type("protection.ReturnRequested")
class ReturnRequested(DomainEvent):
    return_id: int
    user_id: int
    organisation_id: int
    # A group-buy line (order, line, pickup point) or a live order: one of the two.
    order_id: int | None
    order_line_id: int | None
    pickup_point_id: int | None
    product_name: str
    quantity: int
    reason_code: str
    answer_due_at: datetime
    live_order_id: int | None = None


@event_type("protection.ReturnDecided")
class ReturnDecided(DomainEvent):
    return_id: int
    user_id: int
    organisation_id: int
    pickup_point_id: int | None  # None: a live order's return (sent back to the merchant)
    product_name: str
    decision: str  # approved | rejected
    automatic: bool  # approved because the merchant did not answer in time
    note: str
    rule_id: str
    rule_version: int


@event_type("protection.ReturnReceived")
class ReturnReceived(DomainEvent):
    return_id: int
    user_id: int
    organisation_id: int
    product_name: str
    condition: str  # intact | damaged
    refund_due_at: datetime
    received_how: str = "pickup_point"  # or merchant_collected


@event_type("protection.ReturnRefunded")
class ReturnRefunded(DomainEvent):
    return_id: int
    user_id: int
    organisation_id: int
    product_name: str
    amount_fen: int
    commission_reversed_fen: int
    overdue: bool  # refunded after the law's 7 days
    rule_id: str
    rule_version: int


@event_type("protection.ReturnRefundRefused")
class ReturnRefundRefused(DomainEvent):
    """The merchant refused the refund of goods received back damaged by the resident (CRPL
    art. 25: goods must be intact), with a reason; the resident may complain."""

    return_id: int
    user_id: int
    organisation_id: int
    order_id: int | None  # the group-buy order, or None for a live order's return
    product_name: str
    reason: str
    rule_id: str
    rule_version: int
    live_order_id: int | None = None


@event_type("protection.ReturnRefundOverdue")
class ReturnRefundOverdue(DomainEvent):
    """The refund of goods received back was not out within the law's limit (CRPL art. 25)."""

    return_id: int
    user_id: int
    organisation_id: int
    product_name: str
    refund_due_at: datetime
    rule_id: str
    rule_version: int


# --- personal data (PIPL) ---------------------------------------------------------------


@event_type("privacy.AccountClosed")
class AccountClosed(DomainEvent):
    """A resident closed their account: personal data anonymised, sessions and tokens ended;
    transaction records kept until `retain_until` (rule `privacy.retention`)."""

    user_id: int
    retain_until: datetime
    rule_id: str
    rule_version: int


@event_type("privacy.AccountPurged")
class AccountPurged(DomainEvent):
    """The retention period of a closed account ended: what was kept only as part of its
    transaction records was erased for good."""

    user_id: int
    rule_id: str
    rule_version: int


# consumer protection: quality claims (refund without return) --------------------------------


@event_type("protection.QualityClaimFiled")
class QualityClaimFiled(DomainEvent):
    claim_id: int
    user_id: int
    organisation_id: int
    # A group-buy line (order, line, pickup point) or a live order: one of the two (a live
    # order's pickup point when it was collected at one).
    order_id: int | None
    order_line_id: int | None
    pickup_point_id: int | None
    product_name: str
    quantity: int
    reason_code: str  # fresh_quality | defective
    requested_fen: int
    decision_due_at: datetime
    rule_id: str
    rule_version: int
    live_order_id: int | None = None


@event_type("protection.QualityClaimDecided")
class QualityClaimDecided(DomainEvent):
    claim_id: int
    user_id: int
    organisation_id: int
    product_name: str
    outcome: str  # upheld | partly | rejected
    amount_fen: int  # what is refunded (0 when rejected)
    decided_by: str  # merchant | platform
    note: str
    rule_id: str
    rule_version: int


@event_type("protection.QualityClaimEscalated")
class QualityClaimEscalated(DomainEvent):
    claim_id: int
    user_id: int
    organisation_id: int
    product_name: str
    cause: str  # timeout (the merchant did not decide in time) | resident (a rejection)
    rule_id: str
    rule_version: int


@event_type("protection.QualityClaimRefunded")
class QualityClaimRefunded(DomainEvent):
    claim_id: int
    user_id: int
    organisation_id: int
    order_id: int | None  # None: a live order's claim (`live_order_id`)
    product_name: str
    amount_fen: int
    commission_reversed_fen: int
    rule_id: str
    rule_version: int
    live_order_id: int | None = None


@event_type("protection.ClaimAbuseFlagged")
class ClaimAbuseFlagged(DomainEvent):
    """A resident's claim rate is far above their community's (the rule's pattern): for an
    operator to look at, never a punishment by itself."""

    flag_id: int
    user_id: int
    community_id: int
    claims: int
    resident_rate_bp: int  # claims per collected line, in basis points
    community_rate_bp: int
    rule_id: str
    rule_version: int


@event_type("protection.ClaimAbuseConfirmed")
class ClaimAbuseConfirmed(DomainEvent):
    """An operator confirmed a flagged claim pattern (credit may act on it)."""

    flag_id: int
    user_id: int
    operator_user_id: int
    reason: str
    rule_id: str
    rule_version: int


# --- supervision ------------------------------------------------------------------------
# Payloads carry no internal notes, no rule parameters and no risk classes: credit and the
# public read these.


@event_type("supervision.AlertRaised")
class AlertRaised(DomainEvent):
    """A supervision rule fired on a merchant (a new alert; merges do not repeat it)."""

    alert_id: int
    organisation_id: int
    regulator_organisation_id: int | None
    rule_id: str
    rule_version: int
    severity: str


@event_type("supervision.CaseOpened")
class CaseOpened(DomainEvent):
    case_id: int
    organisation_id: int
    regulator_organisation_id: int
    alert_id: int | None


@event_type("supervision.CaseDecided")
class CaseDecided(DomainEvent):
    """A regulator's decision on a case: no_violation | warning | rectify | penalty."""

    case_id: int
    organisation_id: int
    regulator_organisation_id: int
    decision: str
    penalty_fen: int
    serious: bool
    legal_basis: str
    rectify_by: datetime | None
    decided_at: datetime


@event_type("supervision.RectificationOverdue")
class RectificationOverdue(DomainEvent):
    case_id: int
    organisation_id: int
    regulator_organisation_id: int
    rectify_by: datetime


@event_type("supervision.RectificationFulfilled")
class RectificationFulfilled(DomainEvent):
    case_id: int
    organisation_id: int
    regulator_organisation_id: int
    fulfilled_at: datetime
    on_time: bool


# --- supervision: double random inspections, reports -----------------------------------------


@event_type("supervision.InspectionResultPublished")
class InspectionResultPublished(DomainEvent):
    """A random inspection's result, published on /disclosure/inspections (credit subscribes
    to it once it lands)."""

    target_id: int
    plan_id: int
    merchant_organisation_id: int
    authority_organisation_id: int  # the regulator that inspected
    inspection_type: str
    result: str  # passed | issues_found | failed
    inspected_on: str  # ISO date


class _ReportEvent(DomainEvent):
    report_id: int
    reporter_user_id: int
    merchant_organisation_id: int
    regulator_organisation_id: int | None
    status: str


@event_type("supervision.ReportFiled")
class ReportFiled(_ReportEvent):
    pass


@event_type("supervision.ReportForwarded")
class ReportForwarded(_ReportEvent):
    pass


@event_type("supervision.ReportClosed")
class ReportClosed(_ReportEvent):
    reason: str


@event_type("supervision.ReportAcknowledged")
class ReportAcknowledged(_ReportEvent):
    pass


@event_type("supervision.ReportConcluded")
class ReportConcluded(_ReportEvent):
    pass


# --- credit: pick up first, pay later (docs/pay-later.md) ----------------------------------


@event_type("credit.PayLaterBillDueSoon")
class PayLaterBillDueSoon(DomainEvent):
    """A pay-later bill is unpaid a few days (rule `credit.pay_later`) before its due date."""

    bill_id: int
    user_id: int
    period: str  # "2026-12" (Asia/Shanghai month of the charges)
    due_date: str  # ISO date, Asia/Shanghai
    amount_due_fen: int


@event_type("credit.PayLaterBillOverdue")
class PayLaterBillOverdue(DomainEvent):
    """A pay-later bill unpaid after its due date and grace days; the facility is suspended."""

    bill_id: int
    user_id: int
    period: str
    due_date: str
    amount_due_fen: int


@event_type("credit.PayLaterBillRepaid")
class PayLaterBillRepaid(DomainEvent):
    """A pay-later bill was paid in full; `on_time`: by the end of its due date."""

    bill_id: int
    user_id: int
    period: str
    amount_fen: int
    on_time: bool
    was_overdue: bool


@event_type("catalog.ProductListed")
class ProductListed(DomainEvent):
    """A product was put on sale. Supervision checks its category against the negative list
    (supervision.negative_list_goods)."""

    product_id: int
    organisation_id: int
    category_code: str
    user_id: int | None


@event_type("groupbuy.CampaignPublished")
class CampaignPublished(DomainEvent):
    """A campaign was published: its items are on sale from `opens_at`. Supervision checks the
    items' categories against the negative list (supervision.negative_list_goods)."""

    campaign_id: int
    organisation_id: int
    sku_ids: list[int]
    user_id: int | None


# --- services -----------------------------------------------------------------------------


@event_type("services.SessionBooked")
class SessionBooked(DomainEvent):
    booking_id: int
    client_user_id: int
    organisation_id: int
    title: str
    starts_at: datetime


@event_type("services.BookingCancelled")
class BookingCancelled(DomainEvent):
    booking_id: int
    client_user_id: int
    organisation_id: int
    title: str
    starts_at: datetime
    cancelled_by: str
    enrolment_id: int | None = None  # a class of a course
    # a class of a course the school withdrew: told once with the enrolment (EnrolmentClosed)
    course_withdrawn: bool = False


@event_type("services.EnrolmentClosed")
class EnrolmentClosed(DomainEvent):
    """A course enrolment gave its classes up at once: `refunded` (the client had the classes
    not given refunded: `classes` of them, `amount_fen`), `expired` (not paid in time) or
    `withdrawn` (the school withdrew the course: `classes` refunded, `amount_fen`). Its
    classes' cancellations are told by this, not one by one."""

    enrolment_id: int
    client_user_id: int
    organisation_id: int
    title: str
    outcome: str  # refunded | expired | withdrawn
    classes: int
    amount_fen: int


@event_type("services.SessionReminder")
class SessionReminder(DomainEvent):
    """A booked session starts within the hour (the due job `services.remind`)."""

    booking_id: int
    client_user_id: int
    title: str
    starts_at: datetime


@event_type("services.EnrolmentPaid")
class EnrolmentPaid(DomainEvent):
    """A course enrolment was paid into the school's escrow account: one collection of
    prepaid training fees covering `classes` classes of `class_minutes`, the first starting
    at `first_class_at`, the last at `last_class_at`. Supervision checks it against the
    prepaid limits in force for the school's region at `paid_at`
    (supervision.prepaid_over_limit)."""

    enrolment_id: int
    course_id: int
    title: str
    organisation_id: int
    client_user_id: int
    amount_fen: int
    classes: int
    class_minutes: int
    subject_training: bool
    first_class_at: datetime
    last_class_at: datetime
    paid_at: datetime


@event_type("services.BookingNoShow")
class BookingNoShow(DomainEvent):
    """The client never checked in before the slot ended (credit may count it later)."""

    booking_id: int
    client_user_id: int
    organisation_id: int
