"""Complaints, 12315 style: filing, acceptance, mediation, resolution, withdrawal and
escalation, each a step on the timeline, each clock counted in working days from rule
`consumer.complaint` (docs/protection-complaints.md).

Every transition loads the complaint locked, checks the status it starts from (409 with the
current status otherwise, nothing changed), writes the step, publishes the event the parties
are told by, and records an audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock, outbox, ratelimit
from linli.audit import service as audit
from linli.authz import Actor
from linli.community import points
from linli.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from linli.events import (
    ComplaintAcceptanceOverdue,
    ComplaintAccepted,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintRefused,
    ComplaintResolved,
    ComplaintStepAdded,
)
from linli.groupbuy import lines as groupbuy
from linli.i18n import N_
from linli.jobs import ComplaintAcceptanceDue, ComplaintMediationDue
from linli.protection import complaint_policies as policies
from linli.protection.complaint_models import (
    Complaint,
    ComplaintStatus,
    ComplaintStep,
    ComplaintTarget,
    Decider,
    Outcome,
    Role,
    StepKind,
)
from linli.rules import service as rules
from linli.rules import workdays

RULE = "consumer.complaint"
MAX_TEXT = 2000
OPEN = (ComplaintStatus.FILED, ComplaintStatus.ACCEPTED, ComplaintStatus.IN_MEDIATION)
# A platform decision the complainant may take to the regulator.
ESCALABLE_OUTCOMES = (Outcome.UPHELD, Outcome.REJECTED, Outcome.NOT_MEDIATED)


@dataclass(frozen=True)
class StepPolicy:
    """Timeline steps (messages and attachments) one party may add in a window: plenty for an
    exchange, even in mediation (a step every three minutes on one complaint), but not a
    flood, each step notifying the other parties."""

    per_complaint: int = 20  # by one person on one complaint
    per_person: int = 60  # by one person on all their complaints
    window: timedelta = timedelta(hours=1)


STEP_POLICY = StepPolicy()


def complaint_not_found() -> NotFound:
    return NotFound(N_("No such complaint."), code="complaint_not_found")


def _conflict(complaint: Complaint, message: str) -> Conflict:
    return Conflict(message, code="complaint_status", current=complaint.status)


def end_of_day(day: date) -> datetime:
    """23:59:59 Asia/Shanghai of the day, in UTC: a deadline runs to the end of its day."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=clock.LOCAL).astimezone(UTC)


def _text(value: str, field: str, *, required: bool = True) -> str | None:
    text = value.strip()
    if not text and not required:
        return None
    if not 1 <= len(text) <= MAX_TEXT:
        raise ValidationFailed(
            N_("Check the complaint."), fields={field: N_("Enter 1 to 2000 characters.")}
        )
    return text


# --- reading --------------------------------------------------------------------------------


async def access_complaint(session: AsyncSession, actor: Actor, complaint_id: int) -> Complaint:
    """The complaint if the actor is a party to it; 404 for missing and forbidden alike."""
    row = await session.scalar(
        select(Complaint).where(Complaint.id == complaint_id, policies.visible(actor))
    )
    if row is None:
        raise complaint_not_found()
    return row


async def _locked(session: AsyncSession, actor: Actor, complaint_id: int) -> Complaint:
    row = await session.scalar(
        select(Complaint)
        .where(Complaint.id == complaint_id, policies.visible(actor))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise complaint_not_found()
    return row


async def listed(
    session: AsyncSession, actor: Actor, role: Role, *, open_only: bool = False
) -> Sequence[Complaint]:
    """The complaints the actor holds in one capacity, newest first."""
    condition = {
        Role.COMPLAINANT: policies.as_complainant,
        Role.LEADER: policies.as_leader,
        Role.MERCHANT: policies.as_merchant,
        Role.PLATFORM: policies.as_platform,
        Role.REGULATOR: policies.as_regulator,
    }[role](actor)
    query = select(Complaint).where(condition)
    if open_only:
        query = query.where(Complaint.status.in_(OPEN))
    return (await session.scalars(query.order_by(Complaint.id.desc()).limit(200))).all()


async def timeline(session: AsyncSession, complaint: Complaint) -> Sequence[ComplaintStep]:
    """Every step of a complaint the caller has already accessed, in order."""
    return (
        await session.scalars(
            select(ComplaintStep)
            .where(ComplaintStep.complaint_id == complaint.id)
            .order_by(ComplaintStep.id)
        )
    ).all()


async def attachment_of(session: AsyncSession, complaint: Complaint, file_id: int) -> int:
    """The file id if it is attached to the (already accessed) complaint; 404 otherwise."""
    found = await session.scalar(
        select(ComplaintStep.file_id).where(
            ComplaintStep.complaint_id == complaint.id, ComplaintStep.file_id == file_id
        )
    )
    if found is None:
        raise NotFound(N_("No such file."))
    return int(found)


# --- steps, events ----------------------------------------------------------------------------


def _step(
    session: AsyncSession,
    complaint: Complaint,
    kind: StepKind,
    role: Role,
    actor: Actor | None,
    *,
    text: str | None = None,
    file_id: int | None = None,
) -> ComplaintStep:
    organisation_id = None
    if actor is not None and role in (Role.MERCHANT, Role.PLATFORM, Role.REGULATOR):
        organisation_id = actor.organisation_id
    step = ComplaintStep(
        complaint_id=complaint.id,
        kind=kind,
        role=role,
        actor_user_id=actor.user_id if actor is not None else None,
        organisation_id=organisation_id,
        status=complaint.status,
        text=text,
        file_id=file_id,
        at=clock.now(),
    )
    session.add(step)
    return step


def _facts(complaint: Complaint) -> dict[str, object]:
    return {
        "complaint_id": complaint.id,
        "complainant_user_id": complaint.complainant_user_id,
        "target": complaint.target,
        "order_id": complaint.order_id,
        "subject_organisation_id": complaint.subject_organisation_id,
        "subject_leader_user_id": complaint.subject_leader_user_id,
        "decider": complaint.decider,
        "regulator_organisation_id": complaint.regulator_organisation_id,
        "status": complaint.status,
    }


def _rule_label(complaint: Complaint) -> str:
    return f"{complaint.rule_id}@{complaint.rule_version}"


async def _start_acceptance_clock(session: AsyncSession, complaint: Complaint) -> None:
    """Acceptance is decided within n working days of filing (or of escalation): the day it
    starts is not counted; the deadline is the end of the n-th working day."""
    rule = await rules.in_force(session, RULE)
    calendar = await workdays.load(session)
    now = clock.now()
    days = int(rule.values["accept_within_working_days"])
    complaint.rule_id = rule.rule_id
    complaint.rule_version = rule.version
    complaint.calendar = calendar.label
    complaint.accept_by = end_of_day(calendar.add_working_days(workdays.local_date(now), days))
    await outbox.schedule(
        session,
        ComplaintAcceptanceDue(
            complaint_id=complaint.id, accept_by=complaint.accept_by.isoformat()
        ),
        complaint.accept_by,
        dedupe_key=f"complaint-accept:{complaint.id}:{complaint.accept_by.isoformat()}",
    )


# --- filing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileInput:
    order_id: int
    target: ComplaintTarget
    text: str
    to: Decider
    line_id: int | None = None


async def _regulator_if_asked(session: AsyncSession, to: str, organisation_id: int) -> int | None:
    """The regulator covering the organisation when the complaint goes to one (else None);
    422 `no_regulator` when none covers its region."""
    if to != Decider.REGULATOR:
        return None
    regulator_id = await policies.covering_regulator(session, organisation_id)
    if regulator_id is None:
        raise ValidationFailed(
            N_("No regulator on the platform covers this merchant's region yet."),
            code="no_regulator",
            fields={"to": N_("File it with the platform instead.")},
        )
    return regulator_id


async def _refuse_a_second_open(
    session: AsyncSession, user_id: int, target: str, *about: ColumnElement[bool]
) -> None:
    """409 `complaint_open` while the complainant has an open complaint about the same. The
    complainant's filings are serialised first: two at once (a double tap) cannot both pass."""
    await ratelimit.lock(session, f"protection.complaint_filed:{user_id}")
    duplicate = await session.scalar(
        select(Complaint.id).where(
            Complaint.complainant_user_id == user_id,
            Complaint.target == target,
            *about,
            Complaint.status.in_(OPEN),
        )
    )
    if duplicate is not None:
        raise Conflict(
            N_("You already have an open complaint about this (#{id})."),
            code="complaint_open",
            id=duplicate,
        )


async def file_complaint(session: AsyncSession, actor: Actor, data: FileInput) -> Complaint:
    """A resident's complaint about one of their own orders, its merchant, its pickup point's
    leader or a product on it, to the platform or to the regulator covering the merchant."""
    user_id = actor.require_user_id()
    text = _text(data.text, "text")
    order = await groupbuy.order_of_resident(session, user_id, data.order_id)
    if order is None:
        raise NotFound(N_("No such order."), code="order_not_found")
    line = None
    if data.target == ComplaintTarget.PRODUCT:
        line = next((ln for ln in order.lines if ln.line_id == data.line_id), None)
        if line is None:
            raise ValidationFailed(
                N_("Check the complaint."),
                fields={"line_id": N_("Choose a product of this order.")},
            )
    leader_id = None
    if data.target == ComplaintTarget.LEADER:
        leader_id = await points.leader_of(session, order.pickup_point_id)
        if leader_id is None:
            raise ValidationFailed(
                N_("Check the complaint."),
                fields={"target": N_("This order's pickup point has no group leader.")},
            )
    regulator_id = await _regulator_if_asked(session, data.to, order.organisation_id)
    await _refuse_a_second_open(
        session,
        user_id,
        data.target,
        Complaint.order_id == order.order_id,
        Complaint.order_line_id.is_(None)
        if line is None
        else Complaint.order_line_id == line.line_id,
    )
    complaint = Complaint(
        complainant_user_id=user_id,
        target=data.target,
        order_id=order.order_id,
        order_line_id=line.line_id if line else None,
        product_name=line.product_name if line else None,
        subject_organisation_id=order.organisation_id,
        subject_leader_user_id=leader_id,
        pickup_point_id=order.pickup_point_id,
        text=text,
        decider=data.to,
        regulator_organisation_id=regulator_id,
    )
    return await _open(session, actor, complaint)


async def _open(session: AsyncSession, actor: Actor, complaint: Complaint) -> Complaint:
    """Store a new complaint, start its acceptance clock, record the filing step, publish
    `ComplaintFiled` and audit it."""
    now = clock.now()
    complaint.platform_involved = complaint.decider == Decider.PLATFORM
    complaint.status = ComplaintStatus.FILED
    complaint.rule_id, complaint.rule_version, complaint.calendar = RULE, 0, ""
    complaint.filed_at = complaint.accept_by = complaint.created_at = now
    session.add(complaint)
    await session.flush()
    await _start_acceptance_clock(session, complaint)
    _step(session, complaint, StepKind.FILED, Role.COMPLAINANT, actor, text=complaint.text)
    outbox.publish(
        session,
        ComplaintFiled(
            **_facts(complaint),
            accept_by=complaint.accept_by.isoformat(),
            rule=_rule_label(complaint),
        ),
    )
    audit.record(
        session,
        actor,
        "protection.complaint_filed",
        target_type="complaint",
        target_id=complaint.id,
        to=complaint.decider,
        rule=_rule_label(complaint),
    )
    await session.flush()
    return complaint


@dataclass(frozen=True)
class ServiceSubject:
    """A client's booked session or course enrolment, as the services domain found it: it
    checked that it is the client's own before it asks to file."""

    organisation_id: int  # the provider
    title: str
    booking_id: int | None = None  # a booked session (target `booking`), or
    enrolment_id: int | None = None  # a course enrolment (target `course`)

    @property
    def target(self) -> ComplaintTarget:
        return ComplaintTarget.BOOKING if self.booking_id is not None else ComplaintTarget.COURSE


async def file_service_complaint(
    session: AsyncSession, actor: Actor, subject: ServiceSubject, text: str, to: str
) -> Complaint:
    """A client's complaint about one of their own service bookings or course enrolments,
    against the provider, to the platform or to the regulator covering the provider (`to`:
    a `Decider`); then the same flow, clocks and parties as any complaint."""
    user_id = actor.require_user_id()
    cleaned = _text(text, "text") or ""
    decider = Decider(to)
    regulator_id = await _regulator_if_asked(session, decider, subject.organisation_id)
    await _refuse_a_second_open(
        session,
        user_id,
        subject.target,
        Complaint.booking_id == subject.booking_id
        if subject.booking_id is not None
        else Complaint.enrolment_id == subject.enrolment_id,
    )
    complaint = Complaint(
        complainant_user_id=user_id,
        target=subject.target,
        booking_id=subject.booking_id,
        enrolment_id=subject.enrolment_id,
        product_name=subject.title,
        subject_organisation_id=subject.organisation_id,
        text=cleaned,
        decider=decider,
        regulator_organisation_id=regulator_id,
    )
    return await _open(session, actor, complaint)


# --- the decider ------------------------------------------------------------------------------


async def _as_decider(
    session: AsyncSession, actor: Actor, complaint_id: int
) -> tuple[Complaint, Role]:
    complaint = await _locked(session, actor, complaint_id)
    role = policies.may_decide(actor, complaint)
    if role is None:
        raise Forbidden(
            N_("Only the organisation deciding this complaint can do this."),
            code="not_decider",
        )
    return complaint, role


def _expect(complaint: Complaint, *allowed: ComplaintStatus) -> None:
    if complaint.status not in allowed:
        raise _conflict(
            complaint,
            N_("The complaint is {current}: this step is not possible now."),
        )


async def accept(session: AsyncSession, actor: Actor, complaint_id: int) -> Complaint:
    """Accept the complaint: the mediation clock starts (n working days from acceptance)."""
    complaint, role = await _as_decider(session, actor, complaint_id)
    _expect(complaint, ComplaintStatus.FILED)
    rule = await rules.in_force(session, RULE)
    calendar = await workdays.load(session)
    now = clock.now()
    days = int(rule.values["mediation_within_working_days"])
    complaint.status = ComplaintStatus.ACCEPTED
    complaint.accepted_at = now
    complaint.rule_id, complaint.rule_version = rule.rule_id, rule.version
    complaint.calendar = calendar.label
    complaint.mediation_by = end_of_day(calendar.add_working_days(workdays.local_date(now), days))
    _step(session, complaint, StepKind.ACCEPTED, role, actor)
    await outbox.schedule(
        session,
        ComplaintMediationDue(complaint_id=complaint.id),
        complaint.mediation_by,
        dedupe_key=f"complaint-mediation:{complaint.id}:{complaint.mediation_by.isoformat()}",
    )
    outbox.publish(
        session,
        ComplaintAccepted(
            **_facts(complaint),
            mediation_by=complaint.mediation_by.isoformat(),
            rule=_rule_label(complaint),
        ),
    )
    audit.record(
        session,
        actor,
        "protection.complaint_accepted",
        target_type="complaint",
        target_id=complaint.id,
        rule=_rule_label(complaint),
    )
    await session.flush()
    return complaint


async def refuse(session: AsyncSession, actor: Actor, complaint_id: int, reason: str) -> Complaint:
    complaint, role = await _as_decider(session, actor, complaint_id)
    text = _text(reason, "reason")
    _expect(complaint, ComplaintStatus.FILED)
    complaint.status = ComplaintStatus.REFUSED
    complaint.refusal_reason = text
    complaint.decided_at = clock.now()
    _step(session, complaint, StepKind.REFUSED, role, actor, text=text)
    outbox.publish(
        session,
        ComplaintRefused(**_facts(complaint), reason=text or ""),
    )
    audit.record(
        session,
        actor,
        "protection.complaint_refused",
        target_type="complaint",
        target_id=complaint.id,
    )
    await session.flush()
    return complaint


async def start_mediation(session: AsyncSession, actor: Actor, complaint_id: int) -> Complaint:
    complaint, role = await _as_decider(session, actor, complaint_id)
    _expect(complaint, ComplaintStatus.ACCEPTED)
    complaint.status = ComplaintStatus.IN_MEDIATION
    _step(session, complaint, StepKind.MEDIATION_STARTED, role, actor)
    outbox.publish(
        session,
        ComplaintStepAdded(
            **_facts(complaint),
            step_kind=StepKind.MEDIATION_STARTED,
            by_user_id=actor.user_id,
        ),
    )
    await session.flush()
    return complaint


DECIDED_OUTCOMES = (Outcome.MEDIATED, Outcome.UPHELD, Outcome.REJECTED)


async def resolve(
    session: AsyncSession, actor: Actor, complaint_id: int, outcome: Outcome, text: str
) -> Complaint:
    """Resolve an accepted complaint: mediated (in mediation only, with the agreement),
    upheld, or rejected (with reasons)."""
    complaint, role = await _as_decider(session, actor, complaint_id)
    if outcome not in DECIDED_OUTCOMES:
        raise ValidationFailed(
            N_("Check the decision."),
            fields={"outcome": N_("Choose mediated, upheld or rejected.")},
        )
    written = _text(text, "text", required=outcome != Outcome.UPHELD)
    if outcome == Outcome.MEDIATED:
        _expect(complaint, ComplaintStatus.IN_MEDIATION)
    else:
        _expect(complaint, ComplaintStatus.ACCEPTED, ComplaintStatus.IN_MEDIATION)
    _close(session, complaint, outcome, written, role, actor)
    audit.record(
        session,
        actor,
        "protection.complaint_resolved",
        target_type="complaint",
        target_id=complaint.id,
        outcome=outcome,
    )
    await session.flush()
    return complaint


def _close(
    session: AsyncSession,
    complaint: Complaint,
    outcome: Outcome,
    text: str | None,
    role: Role,
    actor: Actor | None,
) -> None:
    complaint.status = ComplaintStatus.RESOLVED
    complaint.outcome = outcome
    complaint.outcome_text = text
    complaint.decided_at = clock.now()
    _step(session, complaint, StepKind.RESOLVED, role, actor, text=text)
    outbox.publish(
        session,
        ComplaintResolved(**_facts(complaint), outcome=outcome),
    )


# --- the complainant --------------------------------------------------------------------------


def _complainant(actor: Actor, complaint: Complaint) -> None:
    if Role.COMPLAINANT not in policies.capacities(actor, complaint):
        raise Forbidden(N_("Only the complainant can do this."), code="not_complainant")


async def withdraw(
    session: AsyncSession, actor: Actor, complaint_id: int, reason: str = ""
) -> Complaint:
    complaint = await _locked(session, actor, complaint_id)
    _complainant(actor, complaint)
    text = _text(reason, "reason", required=False)
    _expect(complaint, *OPEN)
    _close(session, complaint, Outcome.WITHDRAWN, text, Role.COMPLAINANT, actor)
    audit.record(
        session,
        actor,
        "protection.complaint_withdrawn",
        target_type="complaint",
        target_id=complaint.id,
    )
    await session.flush()
    return complaint


async def escalate(
    session: AsyncSession, actor: Actor, complaint_id: int, reason: str
) -> Complaint:
    """Take the platform's decision (a refusal, or an outcome other than an agreement) to the
    regulator covering the merchant: the complaint is filed again there, with a new
    acceptance clock."""
    complaint = await _locked(session, actor, complaint_id)
    _complainant(actor, complaint)
    text = _text(reason, "reason")
    decided = complaint.status == ComplaintStatus.REFUSED or (
        complaint.status == ComplaintStatus.RESOLVED and complaint.outcome in ESCALABLE_OUTCOMES
    )
    if complaint.decider != Decider.PLATFORM or not decided:
        raise _conflict(
            complaint,
            N_("Only a decision of the platform can be taken to the regulator."),
        )
    regulator_id = await policies.covering_regulator(session, complaint.subject_organisation_id)
    if regulator_id is None:
        raise Conflict(
            N_("No regulator on the platform covers this merchant's region yet."),
            code="no_regulator",
        )
    now = clock.now()
    complaint.decider = Decider.REGULATOR
    complaint.regulator_organisation_id = regulator_id
    complaint.status = ComplaintStatus.FILED
    complaint.outcome = None
    complaint.outcome_text = None
    complaint.refusal_reason = None
    complaint.accepted_at = None
    complaint.mediation_by = None
    complaint.decided_at = None
    complaint.acceptance_overdue_at = None
    complaint.escalated_at = now
    await _start_acceptance_clock(session, complaint)
    _step(session, complaint, StepKind.ESCALATED, Role.COMPLAINANT, actor, text=text)
    outbox.publish(
        session,
        ComplaintEscalated(
            **_facts(complaint),
            accept_by=complaint.accept_by.isoformat(),
            rule=_rule_label(complaint),
        ),
    )
    audit.record(
        session,
        actor,
        "protection.complaint_escalated",
        target_type="complaint",
        target_id=complaint.id,
        regulator_organisation_id=regulator_id,
    )
    await session.flush()
    return complaint


# --- any party: the timeline ------------------------------------------------------------------

# Which capacity speaks when the actor holds several (a leader who is also the complainant).
_SPEAKING_ORDER = (Role.COMPLAINANT, Role.REGULATOR, Role.PLATFORM, Role.MERCHANT, Role.LEADER)


async def _as_party(
    session: AsyncSession, actor: Actor, complaint_id: int
) -> tuple[Complaint, Role]:
    complaint = await _locked(session, actor, complaint_id)
    held = policies.capacities(actor, complaint)
    role = next((r for r in _SPEAKING_ORDER if r in held), None)
    if role is None or not policies.may_write(actor, role):
        raise Forbidden(N_("You do not have permission to do this."))
    if complaint.status not in OPEN:
        raise _conflict(complaint, N_("The complaint is {current}: its timeline is closed."))
    return complaint, role


async def _throttle_steps(session: AsyncSession, actor: Actor, complaint_id: int) -> None:
    """Counted once the actor is known to be a party (outsiders get 404, not a count)."""
    if actor.system:
        return
    policy = STEP_POLICY
    who = str(actor.require_user_id())
    hits = [
        await ratelimit.hit(
            session,
            "complaints.step",
            f"{who}:{complaint_id}",
            limit=policy.per_complaint,
            window=policy.window,
        ),
        await ratelimit.hit(
            session, "complaints.step.person", who, limit=policy.per_person, window=policy.window
        ),
    ]
    over = [hit for hit in hits if hit.exceeded]
    if over:
        seconds = max(hit.retry_after_seconds() for hit in over)
        raise TooManyRequests(
            N_(
                "You have added many messages and files to complaints in a short time. "
                "Try again in {minutes} min."
            ),
            minutes=(seconds + 59) // 60,
            code="complaint_steps_throttled",
            headers={"Retry-After": str(seconds)},
            keep_changes=True,  # the attempt counts; nothing else was changed
        )


async def add_message(
    session: AsyncSession, actor: Actor, complaint_id: int, text: str
) -> ComplaintStep:
    """A party's message on the timeline (a merchant's reply, the complainant's answer);
    rate limited (`STEP_POLICY`)."""
    complaint, role = await _as_party(session, actor, complaint_id)
    written = _text(text, "text")
    await _throttle_steps(session, actor, complaint_id)
    step = _step(session, complaint, StepKind.MESSAGE, role, actor, text=written)
    outbox.publish(
        session,
        ComplaintStepAdded(
            **_facts(complaint),
            step_kind=StepKind.MESSAGE,
            by_user_id=actor.user_id,
        ),
    )
    await session.flush()
    return step


async def ensure_may_attach(session: AsyncSession, actor: Actor, complaint_id: int) -> None:
    """Checked before an upload is stored, so a refused attachment stores nothing; counts the
    attachment against the party's steps (`STEP_POLICY`)."""
    await _as_party(session, actor, complaint_id)
    await _throttle_steps(session, actor, complaint_id)


async def add_attachment(
    session: AsyncSession, actor: Actor, complaint_id: int, file_id: int, note: str = ""
) -> ComplaintStep:
    """A file the party uploaded (through linli.files), attached to the timeline."""
    complaint, role = await _as_party(session, actor, complaint_id)
    written = _text(note, "note", required=False)
    step = _step(
        session, complaint, StepKind.ATTACHMENT, role, actor, text=written, file_id=file_id
    )
    outbox.publish(
        session,
        ComplaintStepAdded(
            **_facts(complaint),
            step_kind=StepKind.ATTACHMENT,
            by_user_id=actor.user_id,
        ),
    )
    await session.flush()
    return step


# --- due jobs -----------------------------------------------------------------------------------


async def acceptance_due(session: AsyncSession, complaint_id: int, accept_by: str) -> bool:
    """The acceptance deadline passed: flag the complaint if it is still undecided under
    that clock (a later escalation's clock has its own job). True when flagged."""
    complaint = await session.scalar(
        select(Complaint).where(Complaint.id == complaint_id).with_for_update()
    )
    if (
        complaint is None
        or complaint.status != ComplaintStatus.FILED
        or complaint.accept_by.isoformat() != accept_by
        or complaint.acceptance_overdue_at is not None
        or clock.now() < complaint.accept_by
    ):
        return False
    complaint.acceptance_overdue_at = clock.now()
    _step(session, complaint, StepKind.ACCEPTANCE_OVERDUE, Role.SYSTEM, None)
    outbox.publish(
        session,
        ComplaintAcceptanceOverdue(
            **_facts(complaint),
            accept_by=accept_by,
        ),
    )
    await session.flush()
    return True


async def mediation_due(session: AsyncSession, complaint_id: int) -> bool:
    """The mediation limit passed without a resolution: the complaint closes as not mediated.
    True when closed."""
    complaint = await session.scalar(
        select(Complaint).where(Complaint.id == complaint_id).with_for_update()
    )
    if (
        complaint is None
        or complaint.status not in (ComplaintStatus.ACCEPTED, ComplaintStatus.IN_MEDIATION)
        or complaint.mediation_by is None
        or clock.now() < complaint.mediation_by
    ):
        return False
    _close(session, complaint, Outcome.NOT_MEDIATED, None, Role.SYSTEM, None)
    await session.flush()
    return True
