"""JSON route of the consumption statistics (`GET /api/v1/supervision/consumption`): paid
amounts and purchases by consumption type, goods and services, for a period of Asia/Shanghai
days; a regulator's of its jurisdiction (token scope `org:read`), the platform's of every
seller (scope `platform`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from linli.authz import Actor, require_scope
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.schemas import OutputModel
from linli.supervision import consumption

router = APIRouter(
    prefix="/api/v1/supervision/consumption", tags=["supervision"], responses=ERROR_RESPONSES
)
# Regulators (`regulator.consumption.read`) and the platform (`platform.consumption.read`):
# the report asks which one the actor acts for.
Reader = Annotated[Actor, Depends(require_scope("org:read", "platform"))]
Day = Annotated[date | None, Query(description="Asia/Shanghai day (inclusive)")]


class SourceFigureOut(OutputModel):
    source: consumption.Source
    amount_fen: int
    count: int


class TypeFigureOut(OutputModel):
    consumption_type: str
    name_en: str
    name_zh: str
    amount_fen: int
    count: int
    sources: list[SourceFigureOut]


class ConsumptionOut(OutputModel):
    first: date
    last: date
    scope: str  # platform | regulator
    region_code: str | None
    amount_fen: int
    count: int
    types: list[TypeFigureOut]


@router.get(
    "",
    summary="Paid amounts and purchases by consumption type, goods and services (your scope)",
)
async def consumption_figures(
    session: DbSession, actor: Reader, first: Day = None, last: Day = None
) -> ConsumptionOut:
    report = await consumption.consumption_report(session, actor, first, last)
    return ConsumptionOut(
        first=report.first,
        last=report.last,
        scope=report.scope.kind,
        region_code=report.scope.region_code,
        amount_fen=report.amount_fen,
        count=report.count,
        types=[
            TypeFigureOut.from_row(
                t, sources=[SourceFigureOut.model_validate(s) for s in t.sources]
            )
            for t in report.types
        ],
    )
