"""Live-order delivery pages, phone-first (docs/live.md "Delivery"): the resident gives the
address and confirms receipt from "My live orders"; the merchant lists its paid orders to
ship, shipped and received, and records each shipment (carrier, tracking number); the leader
of a pickup point records live orders arriving and hands them over against the code.

Under `/merchant/live-orders` rather than `/merchant/live/orders`: the studio's
`/merchant/live/{room_id}` routes take every second segment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import LIVE_MANAGE, LIVE_READ, Actor, require_user
from linli.community import points
from linli.db import DbSession
from linli.errors import DomainError
from linli.i18n import N_, _
from linli.live import agreements, cancellation, fulfilment, settlement
from linli.live.models import MAX_AGREEMENT_BP
from linli.live.policies import acting_merchant
from linli.live.schemas import AgreementIn, DeliveryIn, ReasonIn, ShipmentIn
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
User_ = Annotated[Actor, Depends(require_user)]
State = Annotated[
    str, Query(pattern=r"^(to_ship|shipped|at_point|received|uncollected|cancelled|all)$")
]

FULFILMENT_LABELS = fulfilment.FULFILMENT_LABELS
STATE_LABELS: dict[str, str] = {**FULFILMENT_LABELS, "cancelled": N_("Cancelled"), "all": N_("All")}
assert set(STATE_LABELS) == set(fulfilment.STATE_FILTERS)
MY_ORDERS = "/live/orders"


async def _flashed(
    session: DbSession, do: Callable[[], Awaitable[Any]], url: str, done: str
) -> Response:
    """Run a form's work; back to `url` with `done`, or with the error, as a flash."""
    outcome = await form_action(session, do, on_error=flash_error(url))
    return outcome if isinstance(outcome, Response) else redirect(url, text=done)


# --- the resident ---------------------------------------------------------------------------


@router.post("/live/orders/{order_id}/address")
async def set_address(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await fulfilment.my_order(session, actor, order_id)  # 404 for anyone else's
    form = await form_data(request)

    async def save() -> Any:
        body = validate_form(DeliveryIn, fulfilment.delivery_fields(form) or {})
        return await fulfilment.set_address(session, actor, order_id, body)

    return await _flashed(session, save, MY_ORDERS, _("The delivery address is saved."))


@router.post("/live/orders/{order_id}/receive")
async def confirm_receipt(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await fulfilment.my_order(session, actor, order_id)  # 404 for anyone else's
    return await _flashed(
        session,
        lambda: fulfilment.confirm_receipt(session, actor, order_id),
        MY_ORDERS,
        _("Thank you: the order is received."),
    )


@router.post("/live/orders/{order_id}/cancel")
async def cancel_mine(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await fulfilment.my_order(session, actor, order_id)  # 404 for anyone else's
    return await _flashed(
        session,
        lambda: cancellation.cancel_by_buyer(session, actor, order_id),
        MY_ORDERS,
        _("The order is cancelled; the full amount is refunded."),
    )


# --- the merchant ---------------------------------------------------------------------------


async def _merchant_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    state: str,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "live/merchant_orders.html",
        {
            "orders": await fulfilment.merchant_orders(session, actor, state=state, limit=200),
            "state": state,
            "state_labels": STATE_LABELS,
            "fulfilment_labels": FULFILMENT_LABELS,
            "carriers": fulfilment.CARRIERS,
            "may_ship": actor.has(LIVE_MANAGE),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


def _merchant_failed(
    request: Request, session: DbSession, actor: Actor
) -> Callable[[DomainError], Awaitable[Response]]:
    """`on_error` for the merchant's order forms: its orders to ship again, with the error."""
    return lambda error: _merchant_page(
        request, session, actor, "to_ship", error=error, status_code=error.status_code
    )


@router.get("/merchant/live-orders")
async def merchant_orders(
    request: Request, session: DbSession, actor: User_, state: State = "to_ship"
) -> Response:
    acting_merchant(actor, LIVE_READ)
    return await _merchant_page(request, session, actor, state)


@router.post("/merchant/live-orders/{order_id}/ship")
async def ship(order_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    acting_merchant(actor, LIVE_MANAGE)
    await fulfilment.merchant_order(session, actor, order_id)  # 404 for another's
    form = await form_data(request)

    async def record() -> Any:
        body = validate_form(
            ShipmentIn,
            {
                "carrier": form.get("carrier", ""),
                "tracking_number": form.get("tracking_number", "").replace(" ", ""),
            },
        )
        return await fulfilment.ship(session, actor, order_id, body)

    done = await form_action(session, record, on_error=_merchant_failed(request, session, actor))
    if isinstance(done, Response):
        return done
    return redirect("/merchant/live-orders", text=_("Shipment recorded."))


@router.post("/merchant/live-orders/{order_id}/cancel")
async def cancel(order_id: PathId, request: Request, session: DbSession, actor: User_) -> Response:
    acting_merchant(actor, LIVE_MANAGE)
    await fulfilment.merchant_order(session, actor, order_id)  # 404 for another's
    form = await form_data(request)

    async def record() -> Any:
        body = validate_form(ReasonIn, {"reason": form.get("reason", "")})
        return await cancellation.cancel_by_merchant(session, actor, order_id, body.reason)

    done = await form_action(session, record, on_error=_merchant_failed(request, session, actor))
    if isinstance(done, Response):
        return done
    return redirect(
        "/merchant/live-orders", text=_("Order cancelled: the buyer is refunded and told.")
    )


# --- the leader of the pickup point ---------------------------------------------------------

LEADER_PAGE = "/leader/live-orders"


async def _leader_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    led = await points.points_led_by(session, actor.require_user_id())
    return render(
        request,
        "live/leader_orders.html",
        {
            "points": [
                (
                    point,
                    await fulfilment.point_orders(session, actor, point.id),
                    await fulfilment.point_uncollected(session, actor, point.id),
                )
                for point in led
            ],
            "fulfilment_labels": FULFILMENT_LABELS,
            "commissions": await settlement.my_commissions(session, actor, limit=50),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/leader/live-orders")
async def leader_orders(request: Request, session: DbSession, actor: User_) -> Response:
    """Live orders coming to and waiting at the points I lead (none: an empty page)."""
    return await _leader_page(request, session, actor)


@router.post("/leader/live-orders/{point_id}/orders/{order_id}/arrive")
async def arrived(
    point_id: PathId, order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await fulfilment.point_order(session, actor, point_id, order_id)  # 404 elsewhere
    return await _flashed(
        session,
        lambda: fulfilment.arrived(session, actor, point_id, order_id),
        LEADER_PAGE,
        _("Arrived: the buyer is told to collect it."),
    )


@router.post("/leader/live-orders/{point_id}/handover")
async def hand_over(
    point_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)
    done = await form_action(
        session,
        lambda: fulfilment.hand_over(session, actor, point_id, form.get("code", "")),
        on_error=lambda error: _leader_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect(LEADER_PAGE, text=_("Handed over."))


# --- supply agreements (merchant <-> group leader) --------------------------------------------

MERCHANT_AGREEMENTS = "/merchant/live-agreements"
LEADER_AGREEMENTS = "/leader/live-agreements"


async def _merchant_agreements_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "live/merchant_agreements.html",
        {
            "agreements": await agreements.merchant_agreements(session, actor),
            "status_labels": agreements.STATUS_LABELS,
            "may_manage": actor.has(LIVE_MANAGE),
            "max_percent": MAX_AGREEMENT_BP / 100,
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get(MERCHANT_AGREEMENTS)
async def merchant_agreements(request: Request, session: DbSession, actor: User_) -> Response:
    """The organisation's supply offers and agreements with group leaders; the offer form."""
    acting_merchant(actor, LIVE_READ)
    return await _merchant_agreements_page(request, session, actor)


def _percent_to_bp(raw: str) -> int | str:
    """A percentage as typed ("8", "7.5") in basis points; the raw text when it is none (the
    schema then refuses it with a field error)."""
    try:
        value = Decimal(raw.strip().rstrip("%").strip() or "x")
    except InvalidOperation:
        return raw
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        return raw
    return int(value * 100)


@router.post(MERCHANT_AGREEMENTS)
async def offer_agreement(request: Request, session: DbSession, actor: User_) -> Response:
    acting_merchant(actor, LIVE_MANAGE)
    form = await form_data(request)

    async def make() -> Any:
        body = validate_form(
            AgreementIn,
            {
                "pickup_point_id": form.get("pickup_point_id", ""),
                "commission_bp": _percent_to_bp(form.get("commission_percent", "")),
                "note": form.get("note", ""),
            },
        )
        return await agreements.offer(session, actor, body)

    done = await form_action(
        session,
        make,
        on_error=lambda error: _merchant_agreements_page(
            request, session, actor, error=error, status_code=error.status_code
        ),
    )
    if isinstance(done, Response):
        return done
    return redirect(MERCHANT_AGREEMENTS, text=_("Offer sent to the leader."))


@router.post(MERCHANT_AGREEMENTS + "/{agreement_id}/end")
async def end_agreement_merchant(
    agreement_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    acting_merchant(actor, LIVE_MANAGE)
    await agreements.merchant_agreement(session, actor, agreement_id)  # 404 for another's
    return await _flashed(
        session,
        lambda: agreements.end_by_merchant(session, actor, agreement_id),
        MERCHANT_AGREEMENTS,
        _("Agreement ended."),
    )


async def _leader_agreements_page(request: Request, session: DbSession, actor: Actor) -> Response:
    return render(
        request,
        "live/leader_agreements.html",
        {
            "agreements": await agreements.leader_agreements(session, actor),
            "status_labels": agreements.STATUS_LABELS,
        },
        actor=actor,
    )


@router.get(LEADER_AGREEMENTS)
async def leader_agreements(request: Request, session: DbSession, actor: User_) -> Response:
    """Supply offers and agreements made to me as a leader (none: an empty page)."""
    return await _leader_agreements_page(request, session, actor)


LEADER_ACTIONS = {
    "accept": (agreements.accept, N_("Agreement accepted.")),
    "decline": (agreements.decline, N_("Offer declined.")),
    "end": (agreements.end_by_leader, N_("Agreement ended.")),
}


@router.post(LEADER_AGREEMENTS + "/{agreement_id}/{action}")
async def answer_agreement(
    agreement_id: PathId,
    action: Annotated[str, Path(pattern=r"^(accept|decline|end)$")],
    request: Request,
    session: DbSession,
    actor: User_,
) -> Response:
    await agreements.leader_agreement(session, actor, agreement_id)  # 404 for anyone else's
    move, text = LEADER_ACTIONS[action]
    return await _flashed(
        session, lambda: move(session, actor, agreement_id), LEADER_AGREEMENTS, _(text)
    )
