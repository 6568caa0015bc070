"""Supervision values in words (msgids): inspection types and results, report statuses."""

from __future__ import annotations

from types import SimpleNamespace

from linli.i18n import N_

INSPECTION_TYPES = {
    "general": N_("general inspection"),
    "food_safety": N_("food safety"),
    "pricing": N_("pricing"),
    "product_quality": N_("product quality"),
    "licensing": N_("licences"),
}
RESULTS = {
    "passed": N_("passed"),
    "issues_found": N_("issues found"),
    "failed": N_("failed"),
}
PLAN_STATUSES = {
    "planned": N_("planned: seed fixed, not drawn yet"),
    "drawn": N_("drawn"),
}
REPORT_STATUSES = {
    "submitted": N_("submitted, awaiting the platform's triage"),
    "forwarded": N_("forwarded to the regulator"),
    "closed": N_("closed by the platform"),
    "acknowledged": N_("taken up by the regulator"),
    "concluded": N_("concluded by the regulator"),
}
CASE_STATUSES = {
    "investigating": N_("investigating"),
    "rectifying": N_("rectifying"),
    "overdue": N_("rectification overdue"),
    "closed": N_("closed"),
}
REPORTER_ROLES = {"resident": N_("resident"), "leader": N_("group leader")}

LABELS = SimpleNamespace(
    type=INSPECTION_TYPES,
    result=RESULTS,
    plan_status=PLAN_STATUSES,
    report_status=REPORT_STATUSES,
    role=REPORTER_ROLES,
    case_status=CASE_STATUSES,
)
