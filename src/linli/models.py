"""Imports every domain's tables so that Base.metadata is complete (migrations, tests)."""

from linli.accounts import models as accounts_models
from linli.audit import models as audit_models
from linli.catalog import models as catalog_models
from linli.categories import models as categories_models
from linli.community import models as community_models
from linli.credit import list_models as credit_list_models
from linli.credit import models as credit_models
from linli.credit import pay_later_models as credit_pay_later_models
from linli.credit import repair_models as credit_repair_models
from linli.db import Base
from linli.files import models as files_models
from linli.groupbuy import models as groupbuy_models
from linli.live import models as live_models
from linli.merchants import models as merchants_models
from linli.notifications import models as notifications_models
from linli.outbox import DueJob, HandledEvent, OutboxEvent
from linli.payments import models as payments_models
from linli.privacy import models as privacy_models
from linli.protection import claim_models as protection_claim_models
from linli.protection import complaint_models as protection_complaint_models
from linli.protection import return_models as protection_return_models
from linli.protection import review_models as protection_review_models
from linli.ratelimit import RateCounter
from linli.rules import models as rules_models
from linli.services import models as services_models
from linli.supervision import alert_models as supervision_alert_models
from linli.supervision import basket_models as supervision_basket_models
from linli.supervision import case_models as supervision_case_models
from linli.supervision import emergency_models as supervision_emergency_models
from linli.supervision import inspector_models as supervision_inspector_models
from linli.supervision import plan_models as supervision_plan_models
from linli.supervision import report_models as supervision_report_models
from linli.supervision import rule_models as supervision_rule_models
from linli.trace import models as trace_models
from linli.trace import query_models as trace_query_models
from linli.trace import safety_models as trace_safety_models

__all__ = [
    "Base",
    "DueJob",
    "HandledEvent",
    "OutboxEvent",
    "RateCounter",
    "accounts_models",
    "audit_models",
    "catalog_models",
    "categories_models",
    "community_models",
    "credit_list_models",
    "credit_models",
    "credit_pay_later_models",
    "credit_repair_models",
    "files_models",
    "groupbuy_models",
    "live_models",
    "merchants_models",
    "notifications_models",
    "payments_models",
    "privacy_models",
    "protection_claim_models",
    "protection_complaint_models",
    "protection_return_models",
    "protection_review_models",
    "rules_models",
    "services_models",
    "supervision_alert_models",
    "supervision_basket_models",
    "supervision_case_models",
    "supervision_emergency_models",
    "supervision_inspector_models",
    "supervision_plan_models",
    "supervision_report_models",
    "supervision_rule_models",
    "trace_models",
    "trace_query_models",
    "trace_safety_models",
]
