"""Vocabularies that several pages show in words: stored value -> msgid.

Templates show a stored value with `term(VOCABULARY, value)` (`linli.i18n.term`): the
translated label when the value is known, else the value itself as escaped text. Data never
goes through `_()`, which trusts its text (see docs/decisions.md).
"""

from __future__ import annotations

from linli.authz import LABELS as ROLE_AND_KIND_NAMES
from linli.i18n import N_

# Roles and organisation kinds: their names are their msgids.
ROLES: dict[str, str] = {name: name for name in ROLE_AND_KIND_NAMES}
# Merchant applications, leader applications and "three same" certifications.
REVIEW_STATUSES: dict[str, str] = {
    "submitted": N_("submitted"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "revoked": N_("revoked"),
}
# Outbox rows and due jobs (`/ops/outbox`).
OUTBOX_STATUSES: dict[str, str] = {
    "pending": N_("pending"),
    "delivered": N_("delivered"),
    "dead": N_("dead"),
    "done": N_("done"),
    "all": N_("all"),
}
TEMPLATE_GLOBALS = {
    "ROLE_LABELS": ROLES,
    "REVIEW_STATUS_LABELS": REVIEW_STATUSES,
    "OUTBOX_STATUS_LABELS": OUTBOX_STATUSES,
}
