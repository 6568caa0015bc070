"""Imports every domain's tables so that Base.metadata is complete (migrations, tests)."""

from linli.accounts import models as accounts_models
from linli.audit import models as audit_models
from linli.db import Base
from linli.notifications import models as notifications_models
from linli.outbox import DueJob, HandledEvent, OutboxEvent

__all__ = [
    "Base",
    "DueJob",
    "HandledEvent",
    "OutboxEvent",
    "accounts_models",
    "audit_models",
    "notifications_models",
]
