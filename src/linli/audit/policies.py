"""Who may read which audit entries. Rows are scoped in the query."""

from __future__ import annotations

from sqlalchemy import Select, select

from linli.audit.models import AuditEntry
from linli.authz import ORG_AUDIT_READ, PLATFORM_AUDIT_READ, Actor, acting_organisation


def readable_entries(actor: Actor) -> Select[AuditEntry]:
    """Platform auditors read every entry; an organisation's managers (ORG_AUDIT_READ, acting
    for it) its own. 401 anonymous, 403 anyone else."""
    if actor.has(PLATFORM_AUDIT_READ):
        return select(AuditEntry)
    organisation_id = acting_organisation(actor, ORG_AUDIT_READ)
    return select(AuditEntry).where(AuditEntry.organisation_id == organisation_id)
