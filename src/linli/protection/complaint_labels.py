"""Complaint statuses, outcomes, targets, capacities and steps in words (msgids)."""

from __future__ import annotations

from linli.i18n import N_
from linli.protection.complaint_models import (
    ComplaintStatus,
    ComplaintTarget,
    Decider,
    Outcome,
    Role,
    StepKind,
)

STATUS_LABELS = {
    ComplaintStatus.FILED: N_("filed, awaiting acceptance"),
    ComplaintStatus.ACCEPTED: N_("accepted"),
    ComplaintStatus.REFUSED: N_("not accepted"),
    ComplaintStatus.IN_MEDIATION: N_("in mediation"),
    ComplaintStatus.RESOLVED: N_("resolved"),
}
OUTCOME_LABELS = {
    Outcome.MEDIATED: N_("mediated: the parties agreed"),
    Outcome.UPHELD: N_("upheld"),
    Outcome.REJECTED: N_("rejected"),
    Outcome.WITHDRAWN: N_("withdrawn by the complainant"),
    Outcome.NOT_MEDIATED: N_("not mediated: the mediation period ended without agreement"),
}
TARGET_LABELS = {
    ComplaintTarget.ORDER: N_("the order"),
    ComplaintTarget.MERCHANT: N_("the merchant"),
    ComplaintTarget.LEADER: N_("the group leader"),
    ComplaintTarget.PRODUCT: N_("a product"),
    ComplaintTarget.BOOKING: N_("a booked session"),
    ComplaintTarget.COURSE: N_("a course"),
}
DECIDER_LABELS = {
    Decider.PLATFORM: N_("the platform"),
    Decider.REGULATOR: N_("the market regulator"),
}
ROLE_LABELS = {
    Role.COMPLAINANT: N_("complainant"),
    Role.MERCHANT: N_("merchant"),
    Role.LEADER: N_("group leader"),
    Role.PLATFORM: N_("platform"),
    Role.REGULATOR: N_("regulator"),
    Role.SYSTEM: N_("system"),
}
STEP_LABELS = {
    StepKind.FILED: N_("filed"),
    StepKind.ACCEPTED: N_("accepted"),
    StepKind.REFUSED: N_("not accepted"),
    StepKind.MEDIATION_STARTED: N_("mediation started"),
    StepKind.MESSAGE: N_("message"),
    StepKind.ATTACHMENT: N_("file attached"),
    StepKind.RESOLVED: N_("resolved"),
    StepKind.ESCALATED: N_("taken to the regulator"),
    StepKind.ACCEPTANCE_OVERDUE: N_("acceptance overdue"),
}
assert set(STATUS_LABELS) == set(ComplaintStatus)
assert set(OUTCOME_LABELS) == set(Outcome)
assert set(TARGET_LABELS) == set(ComplaintTarget)
assert set(DECIDER_LABELS) == set(Decider)
assert set(ROLE_LABELS) == set(Role)
assert set(STEP_LABELS) == set(StepKind)

LABELS = {
    "status": STATUS_LABELS,
    "outcome": OUTCOME_LABELS,
    "target": TARGET_LABELS,
    "decider": DECIDER_LABELS,
    "role": ROLE_LABELS,
    "step": STEP_LABELS,
}
