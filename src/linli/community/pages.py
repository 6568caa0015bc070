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
from linli.web import (
    flash_error,
    form_action,
    form_data,
    redirect,
    render,
    validate_form,
    verify_csrf,
)

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

    async def join() -> None:
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

    failed = await form_action(session, join, on_error=flash_error("/communities"))
    if isinstance(failed, Response):
        return failed
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

    async def failed(error: DomainError) -> Response:
        mine = await service.leader_applications(session, actor, mine_only=True)
        communities = await service.search_communities(session, limit=200)
        return render(
            request,
            "community/leader_apply.html",
            {"form": form, "error": error, "applications": mine, "communities": communities},
            status_code=error.status_code,
            actor=actor,
        )

    outcome = await form_action(
        session,
        lambda: service.apply_as_leader(session, actor, validate_form(LeaderApplicationIn, form)),
        on_error=failed,
    )
    if isinstance(outcome, Response):
        return outcome
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

    async def decide() -> None:
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

    failed = await form_action(session, decide, on_error=flash_error("/ops/leaders"))
    if isinstance(failed, Response):
        return failed
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

    async def failed(error: DomainError) -> Response:
        context = await _communities_context(session, "")
        return render(
            request,
            "community/admin.html",
            {**context, "form": form, "error": error},
            status_code=error.status_code,
            actor=actor,
        )

    outcome = await form_action(
        session,
        lambda: service.create_community(session, actor, validate_form(CommunityIn, form)),
        on_error=failed,
    )
    if isinstance(outcome, Response):
        return outcome
    return redirect("/ops/communities", text=_("Community created."))
