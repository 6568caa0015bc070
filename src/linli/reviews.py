"""What every review decision (merchant, certification, group leader) checks the same way."""

from __future__ import annotations

from enum import StrEnum

from linli.errors import Conflict, ValidationFailed
from linli.i18n import N_


class ReviewStatus(StrEnum):
    """Where a reviewed request stands (merchant and group-leader applications, "three same"
    certifications; only a certification can be revoked, as its table's CHECK says)."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


def ensure_decidable(status: str, *, approve: bool, reason: str | None) -> str | None:
    """Refuse a second decision, and a rejection without a reason; returns the clean reason."""
    if status != ReviewStatus.SUBMITTED:
        raise Conflict(N_("This application has already been decided."), code="already_decided")
    cleaned = reason.strip() if reason else None
    if not approve and not cleaned:
        raise ValidationFailed(
            N_("Say why the application is rejected; the applicant will read it."),
            fields={"reason": N_("Required when rejecting.")},
        )
    return cleaned or None
