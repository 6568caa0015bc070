"""The regulator's charts page (`/regulator/charts`): alerts by rule and day, the complaint-rate
trend and the price index of necessities with emergency windows, drawn server-side as inline
SVG (chart_render) with the numbers in tables beside them; a supervisor replaces the basket
here too. Scoped by the figures to the acting authority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli import forms
from linli.authz import SUPERVISION_MANAGE, Actor, require_user
from linli.db import DbSession
from linli.errors import ValidationFailed
from linli.i18n import N_
from linli.supervision import basket_service, chart_figures, chart_render
from linli.supervision.alert_service import regulator_of
from linli.supervision.rule_defaults import BUILT_INS
from linli.web import flash_error, form_action, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
CHARTS = "/regulator/charts"
SPANS = (7, 30, 90, 180, 366)


@router.get(CHARTS)
async def charts_page(
    request: Request,
    session: DbSession,
    actor: User_,
    days: Annotated[int, Query(ge=1, le=chart_figures.MAX_DAYS)] = chart_figures.DEFAULT_DAYS,
) -> Response:
    span = chart_figures.span(days)
    alerts = await chart_figures.alerts_by_day(session, actor, span)
    complaints = await chart_figures.complaint_trend(session, actor, span)
    prices = await chart_figures.price_index(session, actor, span)
    basket = await chart_figures.basket_of(session, regulator_of(actor))
    return render(
        request,
        "supervision/charts.html",
        {
            "days": days,
            "spans": SPANS,
            "alerts": alerts,
            "alerts_svg": chart_render.alerts_chart(alerts),
            "complaints": complaints,
            "complaints_svg": chart_render.complaint_chart(complaints),
            "prices": prices,
            "prices_svg": chart_render.price_index_chart(prices),
            "labels": chart_render.day_labels(span),
            "basket_text": "\n".join(f"{line.sku_id} {line.quantity}" for line in prices.lines),
            "basket_title": basket.title if basket else "",
            "base_date": basket.base_date.isoformat() if basket else "",
            "may_manage": actor.has(SUPERVISION_MANAGE),
            "rule_titles": {rule.rule_id: rule.title for rule in BUILT_INS},
        },
        actor=actor,
    )


def _entries(raw: str) -> list[basket_service.BasketEntry]:
    """One SKU a line: its id and its base quantity ("12 3")."""
    found = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in parts):
            raise ValidationFailed(
                N_("Line {number}: write a SKU id and a quantity, e.g. 12 3."),
                fields={"items": N_("Not valid.")},
                number=number,
            )
        found.append(basket_service.BasketEntry(int(parts[0]), int(parts[1])))
    return found


@router.post(f"{CHARTS}/basket")
async def save_basket(request: Request, session: DbSession, actor: User_) -> Response:
    regulator_of(actor, SUPERVISION_MANAGE)
    form = await request.form()

    async def save() -> None:
        await basket_service.save(
            session,
            actor,
            title=forms.text(form, "title"),
            base_date=forms.calendar_date(forms.text(form, "base_date"), "base_date"),
            items=_entries(forms.text(form, "items")),
        )

    done = await form_action(session, save, on_error=flash_error(CHARTS))
    if isinstance(done, Response):
        return done
    return redirect(CHARTS, text=N_("Basket saved."))
