"""HTML pages: find and join a community, apply to lead a pickup point, review leaders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import (
    COMMUNITY_MANAGE,
    PLATFORM_REVIEW,
    Actor,
    current_actor,
    ensure,
    require,
    require_user,
)
from linli.community import service
from linli.community.schemas import (
    CommunityIn,
    LeaderApplicationIn,
    LeaderDecisionIn,
    ResidenceIn,
)
from linli.db import DbSession
from linli.errors import DomainError
from linli.i18n import _
from linli.web import form_data, redirect, render, settle_failed_form, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]


async def _communities_context(session: DbSession, q: str) -> dict[str, Any]:
    rows = await service.search_communities(session, q=q)
    return {"communities": [(c, await service.pickup_points(session, c.id)) for c in rows], "q": q}


@router.get("/communities")
async def communities_page(
    request: Request,
    session: DbSession,
    actor: AnyActor,
    q: Annotated[str, Query(max_length=80)] = "",
) -> Response:
    context = await _communities_context(session, q.strip())
    if actor.user is not None:
        context["residence"] = await service.my_residence(session, actor)
    return render(request, "community/communities.html", context, actor=actor)


@router.post("/communities/join")
async def join_submit(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    try:
        data = validate_form(
            ResidenceIn,
            {
                "community_id": form.get("community_id", ""),
                "pickup_point_id": form.get("pickup_point_id", ""),
            },
        )
        await service.join(
            session, actor, community_id=data.community_id, pickup_point_id=data.pickup_point_id
        )
    except DomainError as error:
        await settle_failed_form(session, error)
        return redirect("/communities", text=error.message.render(), level="error")
    return redirect("/communities", text=_("You pick up your orders here from now on."))


@router.get("/leaders/apply")
async def leader_form(request: Request, session: DbSession, actor: User_) -> Response:
    mine = await service.leader_applications(session, actor, mine_only=True)
    communities = await service.search_communities(session, limit=200)
    return render(
        request,
        "community/leader_apply.html",
        {"form": {}, "applications": mine, "communities": communities},
        actor=actor,
    )


@router.post("/leaders/apply")
async def leader_submit(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    try:
        data = validate_form(LeaderApplicationIn, form)
        await service.apply_as_leader(session, actor, data)
    except DomainError as error:
        await settle_failed_form(session, error)
        mine = await service.leader_applications(session, actor, mine_only=True)
        communities = await service.search_communities(session, limit=200)
        return render(
            request,
            "community/leader_apply.html",
            {"form": form, "error": error, "applications": mine, "communities": communities},
            status_code=error.status_code,
            actor=actor,
        )
    return redirect("/leaders/apply", text=_("Application submitted; we will reply in your inbox."))


@router.get("/leader")
async def leader_home(request: Request, session: DbSession, actor: User_) -> Response:
    points = await service.leader_points(session, actor)
    return render(request, "community/leader_home.html", {"points": points}, actor=actor)


@router.get("/ops/leaders")
async def leader_queue(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, PLATFORM_REVIEW)
    rows = await service.leader_applications(session, actor)
    communities = {c.id: c for c in await service.search_communities(session, limit=500)}
    return render(
        request,
        "community/leader_queue.html",
        {"applications": rows, "communities": communities},
        actor=actor,
    )


@router.post(
    "/ops/leaders/{application_id}/decision", dependencies=[Depends(require(PLATFORM_REVIEW))]
)
async def leader_decide(
    application_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)
    approve = form.get("decision") == "approve"
    try:
        percent = form.get("commission_percent", "").strip()
        data = validate_form(
            LeaderDecisionIn,
            {
                "approve": approve,
                "commission_bp": _percent_to_bp(percent) if approve and percent else None,
                "reason": form.get("reason") or None,
            },
        )
        await service.decide_leader(
            session,
            actor,
            application_id,
            approve=data.approve,
            commission_bp=data.commission_bp,
            reason=data.reason,
        )
    except DomainError as error:
        await settle_failed_form(session, error)
        return redirect("/ops/leaders", text=error.message.render(), level="error")
    return redirect("/ops/leaders", text=_("Approved.") if approve else _("Rejected."))


def _percent_to_bp(text: str) -> int | str:
    """'5' or '5.5' percent -> basis points; anything else is passed on for validation."""
    try:
        value = round(float(text) * 100)
    except ValueError:
        return text
    return value if abs(value) < 10**9 else text


@router.get("/ops/communities")
async def communities_admin(request: Request, session: DbSession, actor: User_) -> Response:
    ensure(actor, COMMUNITY_MANAGE)
    context = await _communities_context(session, "")
    return render(request, "community/admin.html", {**context, "form": {}}, actor=actor)


@router.post("/ops/communities", dependencies=[Depends(require(COMMUNITY_MANAGE))])
async def community_create(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    try:
        data = validate_form(CommunityIn, form)
        await service.create_community(session, actor, data)
    except DomainError as error:
        await settle_failed_form(session, error)
        context = await _communities_context(session, "")
        return render(
            request,
            "community/admin.html",
            {**context, "form": form, "error": error},
            status_code=error.status_code,
            actor=actor,
        )
    return redirect("/ops/communities", text=_("Community created."))
