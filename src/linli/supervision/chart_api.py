"""JSON routes of the regulator's charts under /api/v1/supervision/charts: the figures behind
`/regulator/charts` for the acting authority only (its alerts, the merchants registered in its
jurisdiction, its basket and declarations), and the basket of necessities, replaced by a
supervisor."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from linli.authz import SUPERVISION_MANAGE, SUPERVISION_READ, Actor, require
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.supervision import basket_service, chart_figures
from linli.supervision.alert_service import regulator_of
from linli.supervision.chart_schemas import (
    AlertsByDayOut,
    AlertSeriesOut,
    BasketIn,
    BasketItemOut,
    BasketLineOut,
    BasketOut,
    ComplaintTrendOut,
    EmergencyWindowOut,
    PriceIndexOut,
)

router = APIRouter(
    prefix="/api/v1/supervision/charts", tags=["supervision"], responses=ERROR_RESPONSES
)
Reader = Annotated[Actor, Depends(require(SUPERVISION_READ))]
Manager = Annotated[Actor, Depends(require(SUPERVISION_MANAGE))]
Days = Annotated[
    int,
    Query(ge=1, le=chart_figures.MAX_DAYS, description="How many days, ending with `until`"),
]
Until = Annotated[date | None, Query(description="The last day (Asia/Shanghai; default today)")]


@router.get("/alerts", summary="Alerts raised per rule and day (your authority's)")
async def alerts_by_day(
    session: DbSession, actor: Reader, days: Days = chart_figures.DEFAULT_DAYS, until: Until = None
) -> AlertsByDayOut:
    figure = await chart_figures.alerts_by_day(session, actor, chart_figures.span(days, until))
    return AlertsByDayOut(
        days=figure.days,
        series=[AlertSeriesOut.from_row(s) for s in figure.series],
    )


@router.get(
    "/complaint-rate",
    summary="Complaints per paid order in your jurisdiction over the trailing window, by day",
)
async def complaint_rate(
    session: DbSession, actor: Reader, days: Days = chart_figures.DEFAULT_DAYS, until: Until = None
) -> ComplaintTrendOut:
    figure = await chart_figures.complaint_trend(session, actor, chart_figures.span(days, until))
    return ComplaintTrendOut.from_row(figure, rates_pct=figure.rates)


@router.get(
    "/price-index",
    summary="Laspeyres index of your basket of necessities by day, with emergency windows",
)
async def price_index(
    session: DbSession, actor: Reader, days: Days = chart_figures.DEFAULT_DAYS, until: Until = None
) -> PriceIndexOut:
    figure = await chart_figures.price_index(session, actor, chart_figures.span(days, until))
    return PriceIndexOut.from_row(
        figure,
        index=figure.values,
        emergencies=[EmergencyWindowOut.from_row(w) for w in figure.emergencies],
        basket=[BasketLineOut.from_row(line) for line in figure.lines],
    )


async def _present(session: DbSession, actor: Actor) -> BasketOut:
    basket = await chart_figures.basket_of(session, regulator_of(actor, SUPERVISION_READ))
    if basket is None:
        return BasketOut(title="", base_date=None, updated_at=None, items=[])
    entries = await basket_service.entries(session, basket)
    return BasketOut.from_row(basket, items=[BasketItemOut.from_row(e) for e in entries])


@router.get("/basket", summary="Your authority's basket of necessities (empty before the first)")
async def basket(session: DbSession, actor: Reader) -> BasketOut:
    return await _present(session, actor)


@router.put("/basket", summary="Replace your authority's basket of necessities (audited)")
async def save_basket(session: DbSession, actor: Manager, body: BasketIn) -> BasketOut:
    await basket_service.save(
        session,
        actor,
        title=body.title,
        base_date=body.base_date,
        items=[basket_service.BasketEntry(i.sku_id, i.quantity) for i in body.items],
    )
    return await _present(session, actor)
