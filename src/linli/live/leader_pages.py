"""The pages of rooms of group leaders (docs/live.md "Leader rooms"): the leader's studio
(`/leader/live`: register as a streamer, schedule a room for a point they lead, and each room's
studio page, the merchant studio's template, to go live, pause, end, pin and moderate), and the
merchant's list of the leader rooms it supplies with the form to add its goods
(`/merchant/live-supplied`). Every page and action is scoped to the actor through the same
services as the API (a room of anyone else: 404)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import LIVE_MANAGE, LIVE_READ, Actor, require_user
from linli.catalog import offers
from linli.community import points
from linli.db import DbSession
from linli.errors import DomainError, NotFound
from linli.i18n import N_, _
from linli.live import policies, presenters, service, streamers, studios
from linli.live.presenters import ROOM_STATUS_LABELS
from linli.live.schemas import GoodsIn, LeaderRoomIn, LeaderStreamerIn
from linli.merchants.queries import public_identity
from linli.web import form_action, form_data, redirect, render, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]

LEADER_STUDIO = "/leader/live"
SUPPLIED = "/merchant/live-supplied"


async def _led_points(session: DbSession, actor: Actor) -> list[points.Point]:
    """The points the actor leads; none: 404 (the leader's studio is no one else's page)."""
    led = await points.points_led_by(session, actor.require_user_id())
    if not led:
        raise NotFound(N_("No such page."))
    return led


# --- the leader's studio --------------------------------------------------------------------


async def _studio_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    led = await _led_points(session, actor)
    rooms = await presenters.rooms_out(
        session, await service.leader_rooms_of(session, actor, limit=100)
    )
    return render(
        request,
        "live/leader_studio.html",
        {
            "points": led,
            "point_names": {p.id: p.name for p in led},
            "rooms": rooms,
            "streamer": await streamers.leader_streamer(session, actor),
            "labels": ROOM_STATUS_LABELS,
            "form": form or {},
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(LEADER_STUDIO)
async def leader_studio(request: Request, session: DbSession, actor: User_) -> Response:
    """The leader's rooms, the form to schedule one, their streamer record (or its form)."""
    return await _studio_page(request, session, actor)


@router.post(LEADER_STUDIO + "/streamer")
async def register_streamer(request: Request, session: DbSession, actor: User_) -> Response:
    await _led_points(session, actor)
    form = await form_data(request)
    key = request.app.state.settings.resolved_secret_key()

    async def register() -> Any:
        data = validate_form(LeaderStreamerIn, studios.streamer_fields(form))
        return await streamers.register_leader(session, actor, data, identity_key=key)

    studio_page = partial(_studio_page, request, session, actor)
    done = await form_action(session, register, on_error=studios.redisplay(studio_page, form))
    if isinstance(done, Response):
        return done
    return redirect(LEADER_STUDIO, text=_("Streamer registered."))


@router.post(LEADER_STUDIO)
async def create_room(request: Request, session: DbSession, actor: User_) -> Response:
    await _led_points(session, actor)
    form = await form_data(request)

    async def create() -> Any:
        point_id = forms.whole(form.get("pickup_point_id", ""))
        body = {"pickup_point_id": point_id, **studios.room_fields(form)}
        return await service.create_leader_room(session, actor, validate_form(LeaderRoomIn, body))

    studio_page = partial(_studio_page, request, session, actor)
    room = await form_action(session, create, on_error=studios.redisplay(studio_page, form))
    if isinstance(room, Response):
        return room
    return redirect(
        f"{LEADER_STUDIO}/{room.id}",
        text=_("Room scheduled. Merchants with an accepted agreement can add their goods."),
    )


async def _suppliers(session: DbSession, organisation_ids: set[int]) -> dict[int, str]:
    names: dict[int, str] = {}
    for organisation_id in sorted(organisation_ids):
        identity = await public_identity(session, organisation_id)
        names[organisation_id] = identity.name if identity else ""
    return names


async def _room_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    room_id: int,
    *,
    stream_key: str | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    own = await policies.access_leader_room(session, actor, room_id)
    room = await presenters.room_out(session, own)
    return render(
        request,
        "live/studio_room.html",
        {
            **await studios.room_context(request, session, actor, own, leader=True),
            "room": room,
            "skus": [],
            "stream_key": stream_key,
            "needs_review": False,
            "base": LEADER_STUDIO,
            "may_add_goods": False,
            "suppliers": await _suppliers(
                session, {g.organisation_id for g in room.goods if g.organisation_id}
            ),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(LEADER_STUDIO + "/{room_id}")
async def studio_room(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """One of the leader's rooms: broadcast, goods (each with its merchant), pins, chat."""
    return await _room_page(request, session, actor, room_id)


@router.post(LEADER_STUDIO + "/{room_id}/start")
async def start(room_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    await policies.access_leader_room(session, actor, room_id)
    started = await form_action(
        session,
        lambda: service.start(session, actor, room_id, leader=True),
        on_error=lambda error: _room_page(
            request, session, actor, room_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(started, Response):
        return started
    # The key is shown once, on this page (never in a redirect or a cookie).
    return await _room_page(request, session, actor, room_id, stream_key=started.stream_key)


@router.post(LEADER_STUDIO + "/{room_id}/{action}")
async def room_action(
    room_id: PathId,
    action: Annotated[str, Path(pattern=r"^(pause|resume|end|unpin|pin|remove)$")],
    request: Request,
    session: DbSession,
    actor: User_,
) -> Response:
    await policies.access_leader_room(session, actor, room_id)
    form = await form_data(request)
    do, done = studios.room_actions(session, actor, room_id, form, leader=True)[action]
    outcome = await form_action(
        session,
        do,
        on_error=lambda error: _room_page(
            request, session, actor, room_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(outcome, Response):
        return outcome
    return redirect(f"{LEADER_STUDIO}/{room_id}", text=done)


# --- the supplying merchant -----------------------------------------------------------------


async def _supplied_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    organisation_id = policies.acting_merchant(actor, LIVE_READ)
    rooms = await presenters.rooms_out(
        session, await service.supplied_rooms(session, actor, limit=100)
    )
    found = await points.points(session, [r.pickup_point_id for r in rooms if r.pickup_point_id])
    return render(
        request,
        "live/merchant_supplied.html",
        {
            "rooms": rooms,
            "point_names": {p.id: p.name for p in found.values()},
            "organisation_id": organisation_id,
            "skus": list((await offers.listed_skus(session, organisation_id, limit=200)).values()),
            "may_manage": actor.has(LIVE_MANAGE),
            "labels": ROOM_STATUS_LABELS,
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(SUPPLIED)
async def supplied(request: Request, session: DbSession, actor: User_) -> Response:
    """The open rooms of the leaders the organisation has an accepted agreement with."""
    return await _supplied_page(request, session, actor)


@router.post(SUPPLIED + "/{room_id}/goods")
async def supply_goods(
    room_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    policies.acting_merchant(actor, LIVE_MANAGE)
    form = await form_data(request)

    async def add() -> Any:
        body = validate_form(GoodsIn, studios.goods_fields(form))
        return await service.supply_goods(session, actor, room_id, body)

    done = await form_action(
        session,
        add,
        on_error=lambda error: _supplied_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect(SUPPLIED, text=_("Goods added; stock reserved."))
