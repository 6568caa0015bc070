"""Every due-job kind and its payload: what runs later, and with what.

A job kind is a pydantic model registered under a stable name with `@job_kind`, as events are
in `events.py`. Services schedule an instance, `outbox.schedule(session, ExpireOrder(...),
due_at)`; the domain's handlers.py runs it with `@outbox.job(ExpireOrder)`, and the runner
receives the payload parsed into the same model (a stored payload that no longer fits fails
the job, visibly, instead of a KeyError deep in the runner).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class JobPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    job_kind: ClassVar[str]


J = TypeVar("J", bound=type[JobPayload])
JOB_KINDS: dict[str, type[JobPayload]] = {}


def job_kind(name: str) -> Callable[[J], J]:
    """Register a payload model under `name` (unique, never renamed once scheduled)."""

    def register(cls: J) -> J:
        if name in JOB_KINDS:
            raise ValueError(f"job kind {name!r} declared twice")
        cls.job_kind = name
        JOB_KINDS[name] = cls
        return cls

    return register


# --- accounts ---------------------------------------------------------------------------


@job_kind("accounts.prune")
class PruneSessions(JobPayload):
    """Delete long-expired sessions and old login failures; recurring."""


# --- merchants ----------------------------------------------------------------------------


@job_kind("merchants.reverify")
class ReverificationDue(JobPayload):
    """A merchant's re-verification date: pause its listings if it was not re-verified."""

    organisation_id: int


# --- payments -----------------------------------------------------------------------------


@job_kind("payments.expire_intent")
class ExpireIntent(JobPayload):
    intent_id: int


@job_kind("payments.prune_callbacks")
class PruneCallbacks(JobPayload):
    """Delete old unsigned or unreadable provider callbacks; recurring."""


@job_kind("payments.sandbox_notify")
class SandboxNotify(JobPayload):
    """One delivery of the sandbox provider's signed notification to our callback URL."""

    url: str
    headers: dict[str, str]
    body: str
    delivery: int = 0  # deliveries tried before this one


# --- groupbuy -----------------------------------------------------------------------------


@job_kind("groupbuy.expire_order")
class ExpireOrder(JobPayload):
    """An order's payment deadline: cancel it if still unpaid."""

    order_id: int
    intent_id: int | None


@job_kind("groupbuy.cutoff")
class CampaignCutoff(JobPayload):
    campaign_id: int


@job_kind("groupbuy.uncollected")
class UncollectedCheck(JobPayload):
    """A delivery's collect-by time: handle what was not collected, by rule."""

    delivery_id: int


@job_kind("groupbuy.commission_statements")
class CommissionStatements(JobPayload):
    """Close last month's commission; recurring, monthly."""


# --- consumer protection: complaints --------------------------------------------------------


@job_kind("protection.complaint_acceptance_due")
class ComplaintAcceptanceDue(JobPayload):
    """The end of the acceptance period: flag the complaint if it is still not decided."""

    complaint_id: int
    accept_by: str  # ISO date-time (UTC): a later clock (after escalation) makes this one stale


@job_kind("protection.complaint_mediation_due")
class ComplaintMediationDue(JobPayload):
    """The mediation limit: close the complaint as not mediated if it is still open."""

    complaint_id: int


# consumer protection: returns ----------------------------------------------------------------


@job_kind("protection.return_answer_due")
class ReturnAnswerDue(JobPayload):
    """The merchant's time to answer a return request: approve it if still unanswered."""

    return_id: int


@job_kind("protection.return_refund_due")
class ReturnRefundDue(JobPayload):
    """The refund deadline of goods received back: flag the return if not yet refunded."""

    return_id: int


# --- personal data (PIPL) -----------------------------------------------------------------


@job_kind("privacy.purge_closed_account")
class PurgeClosedAccount(JobPayload):
    """The end of a closed account's retention period: erase what was kept for good."""

    user_id: int


# --- credit ----------------------------------------------------------------------------------


@job_kind("credit.scores_refresh")
class CreditScoresRefresh(JobPayload):
    """Recompute the kept scores whose decay period ended since; recurring, daily."""


# consumer protection: quality claims ----------------------------------------------------------


@job_kind("protection.claim_decision_due")
class ClaimDecisionDue(JobPayload):
    """The merchant's time to decide a quality claim: escalate it to the platform if still
    undecided."""

    claim_id: int


# --- supervision ------------------------------------------------------------------------------


@job_kind("supervision.sweep")
class SupervisionSweep(JobPayload):
    """The scheduled rules (a licence lapsed while selling, recalls overdue, prescriptions
    unreviewed); recurring, daily."""


@job_kind("supervision.rectification_due")
class RectificationDue(JobPayload):
    """A case's rectification deadline: flag it overdue if not fulfilled by then."""

    case_id: int
    rectify_by: str  # ISO date-time (UTC): a later deadline makes this one stale


# --- credit: pick up first, pay later --------------------------------------------------------


@job_kind("credit.pay_later_reminder")
class PayLaterReminder(JobPayload):
    """Some days before a pay-later bill's due date: remind the resident if still unpaid."""

    bill_id: int


@job_kind("credit.pay_later_overdue")
class PayLaterOverdueCheck(JobPayload):
    """A pay-later bill's due date plus grace days: overdue (and suspend) if still unpaid."""

    bill_id: int


# --- trace: EPCIS subscriptions ---------------------------------------------------------------


@job_kind("trace.subscription.deliver")
class DeliverSubscription(JobPayload):
    """Post the events of one capture that a subscription's named query matches to its
    webhook (retried with backoff by rescheduling; see trace/subscriptions.py)."""

    subscription_id: int
    capture_id: int


@job_kind("trace.subscription.run")
class RunScheduledSubscription(JobPayload):
    """A scheduled subscription's run: post the events recorded in [since, run_at) that its
    named query matches, and schedule the next run (see trace/subscriptions.py)."""

    subscription_id: int
    since: str  # ISO date-time (UTC)
    run_at: str  # ISO date-time (UTC)


# --- live ---------------------------------------------------------------------------------


@job_kind("live.room_due")
class LiveRoomDue(JobPayload):
    """A room's scheduled end (and the backstop after a crash): end the room if it is still
    open and give its unsold stream stock back to the SKUs, exactly once."""

    room_id: int


@job_kind("live.remux_recording")
class RemuxLiveRecording(JobPayload):
    """A recording the media server closed: remux it into the room's replay (MP4)."""

    recording_id: int


@job_kind("live.purge_records")
class PurgeLiveRecords(JobPayload):
    """Delete the replays (files) and the chat, channel events and mutes of rooms whose
    retention (rule live.commerce `retention_years`) ended; recurring, daily."""


@job_kind("live.stream_lost")
class LiveStreamLost(JobPayload):
    """The grace period after the media server said a room's publisher stopped: end the room
    if it is still paused and no stream came back since."""

    room_id: int
    lost_at: str  # ISO date-time (UTC): a stream that came back (and was lost again) makes it stale


@job_kind("live.expire_order")
class ExpireLiveOrder(JobPayload):
    """A live order still unpaid at its deadline: cancel it and give its units back."""

    order_id: int
    intent_id: int


@job_kind("live.auto_receive")
class AutoReceiveLiveOrder(JobPayload):
    """A shipped live order's receive-by time (rule `live.delivery`): received, unless the
    resident confirmed it first."""

    order_id: int


@job_kind("live.uncollected")
class LiveOrderUncollectedCheck(JobPayload):
    """A pickup live order's collect-by time (rule `live.uncollected`, days after its arrival
    at the point): still not handed over, it is uncollected and the rule's action applies."""

    order_id: int


# --- services -----------------------------------------------------------------------------


@job_kind("services.no_shows")
class MarkNoShows(JobPayload):
    """A slot has ended: its bookings still scheduled (never checked in) become no-shows."""

    slot_id: int


@job_kind("services.remind")
class RemindBooking(JobPayload):
    """A booked session starts soon: remind the client in their inbox (if still booked)."""

    booking_id: int


@job_kind("services.expire_enrolment")
class ExpireEnrolment(JobPayload):
    """A course enrolment's payment window has passed: unpaid, its seats go back."""

    enrolment_id: int


@job_kind("services.medical_purge")
class PurgeMedicalRecords(JobPayload):
    """Delete the consultation records and prescriptions whose retention period (rule
    services.medical_records) ended; recurring, daily."""
