"""What the API and the pages show of a quality claim (shared by both route modules): the
body, the labels of its states, reasons and outcomes, and the time left before its next
deadline."""

from __future__ import annotations

from linli.i18n import N_
from linli.protection.claim_models import (
    ClaimAbuseFlag,
    ClaimOutcome,
    ClaimReason,
    ClaimStatus,
    FlagStatus,
    QualityClaim,
)
from linli.protection.claim_schemas import ClaimOut, FlagOut
from linli.protection.claims import deadline_of
from linli.protection.return_presenters import Clock, countdown

STATUS_LABELS: dict[str, str] = {
    ClaimStatus.FILED: N_("Waiting for the merchant"),
    ClaimStatus.REJECTED: N_("Rejected by the merchant"),
    ClaimStatus.ESCALATED: N_("With the platform"),
    ClaimStatus.REFUNDED: N_("Refunded"),
    ClaimStatus.CLOSED: N_("Rejected by the platform"),
}
assert set(STATUS_LABELS) == set(ClaimStatus)

REASON_LABELS: dict[str, str] = {
    ClaimReason.FRESH_QUALITY: N_("Quality problem with fresh produce"),
    ClaimReason.DEFECTIVE: N_("Defective goods"),
}
assert set(REASON_LABELS) == set(ClaimReason)

OUTCOME_LABELS: dict[str, str] = {
    ClaimOutcome.UPHELD: N_("Upheld"),
    ClaimOutcome.PARTLY: N_("Upheld in part"),
    ClaimOutcome.REJECTED: N_("Rejected"),
}
assert set(OUTCOME_LABELS) == set(ClaimOutcome)

FLAG_LABELS: dict[str, str] = {
    FlagStatus.OPEN: N_("To review"),
    FlagStatus.CONFIRMED: N_("Confirmed"),
    FlagStatus.DISMISSED: N_("Dismissed"),
}
assert set(FLAG_LABELS) == set(FlagStatus)


def present_claim(row: QualityClaim) -> ClaimOut:
    return ClaimOut.from_row(row, deadline=deadline_of(row))


def present_flag(row: ClaimAbuseFlag) -> FlagOut:
    return FlagOut.from_row(row)


def clock_of(row: QualityClaim) -> Clock | None:
    return countdown(deadline_of(row))
