"""API: a merchant's risk profile, explained, for the regulator with jurisdiction
(`GET /api/v1/supervision/merchants/{organisation_id}/risk`; docs/supervision.md). Anyone else
gets 403 (no supervision permission) or 404 (another authority)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from linli.apitypes import PathId
from linli.authz import SUPERVISION_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.schemas import OutputModel
from linli.supervision import risk_profile

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=ERROR_RESPONSES)
Reader = Annotated[Actor, Depends(require(SUPERVISION_READ))]


class FactorOut(OutputModel):
    kind: str  # credit_class | category | alerts | cases
    subject: str  # the class, the categories, the rule id, the decision
    points: int
    details: dict[str, Any]


class RiskProfileOut(OutputModel):
    merchant_organisation_id: int
    merchant_name: str
    risk_class: str
    class_by_credit: str
    score: int
    grade: str
    factors: list[FactorOut]
    total: int
    level: str
    rule_id: str
    rule_version: int
    computed_at: datetime


@router.get(
    "/merchants/{organisation_id}/risk",
    summary="A merchant's risk profile, factor by factor (regulator with jurisdiction)",
)
async def merchant_risk(
    session: DbSession, actor: Reader, organisation_id: PathId
) -> RiskProfileOut:
    found = await risk_profile.profile(session, actor, organisation_id)
    return RiskProfileOut(
        merchant_organisation_id=found.merchant_organisation_id,
        merchant_name=found.merchant_name,
        risk_class=found.credit.risk_class,
        class_by_credit=found.credit.by_credit,
        score=found.credit.score,
        grade=found.credit.grade,
        factors=[
            FactorOut(kind=f.kind, subject=f.subject, points=f.points, details=f.details)
            for f in found.factors
        ],
        total=found.total,
        level=found.level,
        rule_id=found.rule_id,
        rule_version=found.rule_version,
        computed_at=found.computed_at,
    )
