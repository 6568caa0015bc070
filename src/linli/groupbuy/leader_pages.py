"""Group leader pages: the pickup desk (deliveries arriving, codes verified, goods handed
over), the printable sorting list, uncollected orders and earnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli import clock, forms
from linli.apitypes import MAX_ID, PathId
from linli.authz import Actor, require_user
from linli.community import pickup_codes
from linli.community.points import Point
from linli.db import DbSession
from linli.errors import DomainError, NotFound, ValidationFailed
from linli.groupbuy import commission, lists, pickup, policies, presenters, queries
from linli.groupbuy.delivery import confirm_arrival, deliveries_for_leader
from linli.groupbuy.models import ARRIVED, Delivery
from linli.groupbuy.uncollected import uncollected_orders
from linli.i18n import N_, Message, _
from linli.money import format_fen
from linli.web import form_action, form_data, redirect, render, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
LOCAL = commission.LOCAL


def _current(delivery: Delivery) -> bool:
    """Still worth showing at the desk: not arrived yet, or arrived and still collecting."""
    if delivery.status != ARRIVED:
        return True
    return delivery.collect_by is None or delivery.collect_by > clock.now()


async def _desk(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    point_id: int | None = None,
    found: pickup.AwaitingOrder | None = None,
    elsewhere: list[pickup_codes.WaitingElsewhere] | None = None,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    points = list(await policies.led_points(session, actor))
    chosen: Point | None = next((p for p in points if p.id == point_id), None)
    if chosen is None and points:
        chosen = points[0]
    led = [p.id for p in points]
    deliveries = [
        (d, c) for d, c in await deliveries_for_leader(session, actor, led=led) if _current(d)
    ]
    names = {p.id: p.name for p in points}
    waiting = await pickup.waiting_counts(session, led)
    return render(
        request,
        "groupbuy/leader_pickup.html",
        {
            "points": points,
            "point": chosen,
            "point_names": names,
            "deliveries": deliveries,
            "waiting": waiting,
            "found": found,
            "elsewhere": elsewhere or [],
            # What each other domain's order is called (its desk's N_ label), by kind.
            "elsewhere_labels": {w.kind: w.label for w in elsewhere or []},
            "form": form or {},
            "error": error,
            "delivery_labels": queries.DELIVERY_STATUS_LABELS,
            "status_labels": queries.ORDER_STATUS_LABELS,
            "today": clock.now().astimezone(LOCAL).date(),
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/leader/pickup")
async def pickup_desk(
    request: Request,
    session: DbSession,
    actor: User_,
    point: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    return await _desk(request, session, actor, point_id=point)


@router.post("/leader/deliveries/{delivery_id}/arrive")
async def arrive(
    delivery_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    delivery = await form_action(
        session,
        lambda: confirm_arrival(session, actor, delivery_id),
        on_error=lambda error: _desk(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(delivery, Response):
        return delivery
    return redirect(
        f"/leader/pickup?point={delivery.pickup_point_id}",
        text=_("Arrival confirmed: residents now see their pickup codes."),
    )


def _how(form: dict[str, str]) -> str:
    return "scanned" if form.get("how") == "scanned" else "typed"


@dataclass(frozen=True)
class Found:
    """What waits under a code at the point: a group-buy order, and whatever the other
    domains (live selling) have under the same code (normally one of the two)."""

    order: pickup.AwaitingOrder | None
    elsewhere: list[pickup_codes.WaitingElsewhere]


@router.post("/leader/pickup/find")
async def find(request: Request, session: DbSession, actor: User_) -> Response:
    """One desk for every hand-over by code: a group-buy order (handed over line by line
    here), or a live order waiting at the point (handed over by live's own service through
    community.pickup_codes; groupbuy does not import live)."""
    form = await form_data(request)
    point_id: int | None = None

    async def find_order() -> Found:
        nonlocal point_id
        point_id = forms.required_id(form.get("point_id", ""), "point_id")
        code = form.get("code", "")
        try:
            order = await pickup.find_by_code(session, actor, point_id, code)
        except NotFound as missing:
            if missing.code != "pickup_code_not_found":
                raise  # not the leader's point: nothing is looked up elsewhere
            elsewhere = await pickup_codes.find_elsewhere(
                session, actor, point_id, code, besides="groupbuy"
            )
            if not elsewhere:
                raise
            return Found(None, elsewhere)
        # Codes are drawn apart across domains; two drawn at the same instant could still
        # meet: then both are shown and the leader asks which.
        return Found(
            order,
            await pickup_codes.find_elsewhere(session, actor, point_id, code, besides="groupbuy"),
        )

    found = await form_action(
        session,
        find_order,
        on_error=lambda error: _desk(
            request,
            session,
            actor,
            point_id=point_id,
            form=form,
            error=error,
            status_code=error.status_code,
        ),
    )
    if isinstance(found, Response):
        return found
    form["code"] = pickup_codes.normalise_code(form.get("code", ""))
    return await _desk(
        request,
        session,
        actor,
        point_id=point_id,
        found=found.order,
        elsewhere=found.elsewhere,
        form=form,
    )


@router.post("/leader/pickup/handover-elsewhere")
async def hand_over_elsewhere(request: Request, session: DbSession, actor: User_) -> Response:
    """Hand over another domain's order found at this desk by its code (a live order: live
    selling's `fulfilment.hand_over`, at a point the leader leads, once, audited there)."""
    form = await form_data(request)
    point_id: int | None = None

    async def hand() -> int:
        nonlocal point_id
        point_id = forms.required_id(form.get("point_id", ""), "point_id")
        return await pickup_codes.hand_over_elsewhere(
            session, actor, form.get("kind", ""), point_id, form.get("code", "")
        )

    handed = await form_action(
        session,
        hand,
        on_error=lambda error: _desk(
            request,
            session,
            actor,
            point_id=point_id,
            form=form,
            error=error,
            status_code=error.status_code,
        ),
    )
    if isinstance(handed, Response):
        return handed
    return redirect(
        f"/leader/pickup?point={point_id}",
        text=_("Order #{order} handed over.").format(order=handed),
    )


def _quantities(form: dict[str, str]) -> dict[int, int]:
    quantities: dict[int, int] = {}
    fields: dict[str, str | Message] = {}
    for name, value in form.items():
        if not name.startswith("qty_"):
            continue
        raw_id, text = name.removeprefix("qty_"), value.strip()
        if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 20):
            fields["lines"] = N_("Not a line of this order.")
            continue
        if not (text.isascii() and text.isdigit() and len(text) < 10):
            fields[f"lines.{raw_id}"] = N_("Enter a whole number from 0.")
            continue
        quantities[int(raw_id)] = int(text)
    if fields:
        raise ValidationFailed(N_("Check the quantities."), fields=fields)
    if not quantities:
        raise ValidationFailed(
            N_("Check the quantities."), fields={"lines": N_("Hand over at least one item.")}
        )
    return quantities


@router.post("/leader/pickup/handover")
async def hand_over(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    point_id: int | None = None
    code = form.get("code", "")

    async def hand() -> pickup.PickupResult:
        nonlocal point_id
        point_id = forms.required_id(form.get("point_id", ""), "point_id")
        quantities = _quantities(form)
        return await pickup.verify_pickup(
            session, actor, point_id, code, quantities, how=_how(form)
        )

    async def failed(error: DomainError) -> Response:
        found = None
        if point_id is not None:
            try:  # show the order again with the messages next to its lines
                found = await pickup.find_by_code(session, actor, point_id, code)
            except DomainError:
                found = None
        return await _desk(
            request,
            session,
            actor,
            point_id=point_id,
            found=found,
            form=form,
            error=error,
            status_code=error.status_code,
        )

    result = await form_action(session, hand, on_error=failed)
    if isinstance(result, Response):
        return result
    text = (
        _("Order #{order} handed over completely.")
        if result.complete
        else _("Part of order #{order} handed over; the rest waits here.")
    ).format(order=result.order.id)
    return redirect(
        f"/leader/pickup?point={point_id}",
        text=text
        + " "
        + _("Commission: {amount}").format(amount=format_fen(result.commission_fen)),
    )


@router.post("/leader/pickup/{point_id}/orders/{order_id}/without-code")
async def hand_over_without_code(
    point_id: PathId, order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    """The recorded exception: everything left of the order, without the resident's code."""
    form = await form_data(request)
    result = await form_action(
        session,
        lambda: pickup.hand_over_without_code(
            session, actor, point_id, order_id, form.get("reason", "")
        ),
        on_error=lambda error: _desk(
            request, session, actor, point_id=point_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(result, Response):
        return result
    return redirect(
        f"/leader/pickup?point={point_id}",
        text=_("Order #{order} handed over without a code; the resident has been told.").format(
            order=result.order.id
        ),
    )


@router.get("/leader/pickup/{point_id}/sorting")
async def sorting(
    point_id: PathId,
    request: Request,
    session: DbSession,
    actor: User_,
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    pickup_date = day or clock.now().astimezone(LOCAL).date()
    sheet = await lists.sorting_list(session, actor, point_id, pickup_date=pickup_date)
    csv_url = (
        f"/api/v1/groupbuy/pickup-points/{point_id}/sorting-list.csv"
        f"?pickup_date={pickup_date.isoformat()}"
    )
    return render(
        request,
        "groupbuy/sorting.html",
        {**presenters.sorting_context(sheet, csv_url), "day_form": True},
        actor=actor,
    )


@router.get("/leader/uncollected")
async def uncollected(request: Request, session: DbSession, actor: User_) -> Response:
    points = await policies.led_points(session, actor)
    rows = [(p, await uncollected_orders(session, actor, p.id)) for p in points]
    return render(request, "groupbuy/leader_uncollected.html", {"rows": rows}, actor=actor)


@router.get("/leader/earnings")
async def earnings(request: Request, session: DbSession, actor: User_) -> Response:
    month = commission.month_of(clock.now())
    start, end = commission.month_bounds(month)
    earned = await commission.earnings(session, actor.require_user_id(), start, end)
    return render(
        request,
        "groupbuy/leader_earnings.html",
        {
            "month": month,
            "earned": earned,
            "recent": await commission.my_commissions(session, actor, limit=50),
            "statements": await commission.my_statements(session, actor),
        },
        actor=actor,
    )
