"""Page: a merchant's risk profile for the regulator with jurisdiction
(`/regulator/merchants/{organisation_id}/risk`), linked from alerts and cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import SUPERVISION_READ, Actor, ensure, require_user
from linli.db import DbSession
from linli.i18n import N_
from linli.supervision import risk_profile
from linli.supervision.rule_defaults import BUILT_INS
from linli.web import render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]

FACTOR_LABELS = {
    "credit_class": N_("Credit-risk class by credit score"),
    "category": N_("High-risk category"),
    "alerts": N_("Alerts"),
    "cases": N_("Cases of your authority"),
}
CASE_LABELS = {
    "no_violation": N_("no violation"),
    "warning": N_("warning"),
    "rectify": N_("order to rectify"),
    "penalty": N_("penalty"),
    "penalty_serious": N_("serious penalty"),
    "open": N_("open cases"),
    "overdue": N_("rectification overdue"),
}
LEVEL_LABELS = {"low": N_("low"), "elevated": N_("elevated"), "high": N_("high")}


@router.get("/regulator/merchants/{organisation_id}/risk")
async def risk_page(
    request: Request, session: DbSession, actor: User_, organisation_id: PathId
) -> Response:
    ensure(actor, SUPERVISION_READ)
    found = await risk_profile.profile(session, actor, organisation_id)
    return render(
        request,
        "supervision/risk.html",
        {
            "p": found,
            "factor_labels": FACTOR_LABELS,
            "case_labels": CASE_LABELS,
            "level_labels": LEVEL_LABELS,
            "rule_titles": {rule.rule_id: rule.title for rule in BUILT_INS},
        },
        actor=actor,
    )
