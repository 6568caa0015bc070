"""Credit pages in both languages: my credit (resident, group leader, merchant) with the
explanation; the regulator's credit desk with risk classes; the public credit query; the
public grade on the merchant page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import SUPERVISION_READ, Actor, current_actor, require_user
from linli.credit import grades, lists, risk, views
from linli.credit.list_presenters import present_penalties
from linli.credit.presenters import KIND_LABELS, SUBJECT_LABELS
from linli.credit.risk import DeskSort
from linli.credit.schemas import PageSearchText
from linli.db import DbSession
from linli.i18n import N_, _
from linli.merchants.licences import LICENCE_LABELS
from linli.web import provide_section, render, render_fragment, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]

LABELS = {"kind_labels": KIND_LABELS, "subject_labels": SUBJECT_LABELS}
SORT_LABELS = {
    DeskSort.RISK: N_("risk class"),
    DeskSort.SCORE: N_("score"),
    DeskSort.NAME: N_("name"),
}


def _mine(request: Request, actor: Actor, view: views.CreditView, title: str) -> Response:
    return render(
        request, "credit/mine.html", {"view": view, "title": title, **LABELS}, actor=actor
    )


@router.get("/credit")
async def resident_credit(request: Request, session: DbSession, actor: User_) -> Response:
    return _mine(request, actor, await views.resident_credit(session, actor), _("My credit"))


@router.get("/leader/credit")
async def leader_credit(request: Request, session: DbSession, actor: User_) -> Response:
    view = await views.leader_credit(session, actor)
    return _mine(request, actor, view, _("My credit as a group leader"))


@router.get("/merchant/credit")
async def merchant_credit(request: Request, session: DbSession, actor: User_) -> Response:
    view = await views.merchant_credit(session, actor)
    return _mine(request, actor, view, _("Our credit"))


@router.get("/regulator/credit")
async def credit_desk(
    request: Request, session: DbSession, actor: User_, sort: DeskSort = DeskSort.RISK
) -> Response:
    rows = await risk.credit_desk(session, actor, sort)
    return render(
        request,
        "credit/desk.html",
        {
            "rows": rows,
            "sort": sort,
            "sort_labels": SORT_LABELS,
            # the supervision risk profile explains a row further (same jurisdiction)
            "risk_profiles": actor.has(SUPERVISION_READ),
        },
        actor=actor,
    )


@router.get("/credit/query")
async def public_query(
    request: Request, session: DbSession, actor: AnyActor, q: PageSearchText = ""
) -> Response:
    found = await views.public_search(session, q) if q.strip() else []
    return render(request, "credit/query.html", {"q": q, "found": found}, actor=actor)


@router.get("/credit/query/{organisation_id}")
async def public_credit(
    organisation_id: PathId, request: Request, session: DbSession, actor: AnyActor
) -> Response:
    credit = await views.public_credit(session, organisation_id)
    penalties = await present_penalties(
        session, await lists.published_penalties(session, organisation_id)
    )
    return render(
        request,
        "credit/public.html",
        {"credit": credit, "licence_labels": LICENCE_LABELS, "penalties": penalties},
        actor=actor,
    )


async def _merchant_section(
    request: Request, session: AsyncSession, organisation_id: int
) -> Markup:
    grade = await grades.public_grade(session, organisation_id)
    return render_fragment(
        request, "credit/_section.html", {"grade": grade, "organisation_id": organisation_id}
    )


provide_section("merchant", "credit", _merchant_section)
