"""Resident pages: today's group buys, the cart, ordering (then paying), and my orders."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from starlette.responses import Response

from linli import clock, forms
from linli.apitypes import PathId
from linli.authz import Actor, current_actor, require_user
from linli.db import DbSession
from linli.errors import DomainError, ValidationFailed
from linli.groupbuy import batches, checkout, orders, presenters, queries
from linli.groupbuy import cart as carts
from linli.groupbuy import lines as order_lines
from linli.groupbuy.campaigns import open_campaigns
from linli.groupbuy.schemas import OrderIn
from linli.i18n import N_, _
from linli.payments import providers
from linli.payments import service as payments
from linli.payments.reasons import REFUND_REASON_LABELS
from linli.web import ErrorAnswer, form_action, redirect, render, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
CAMPAIGNS_FRESH_SECONDS = 5.0


async def _campaigns_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    views = await open_campaigns(session)
    # The list changes with time alone (a campaign opens, the soonest cutoff passes): a kept
    # page is served for a few seconds at most, and not past the soonest cutoff it shows.
    fresh_for = CAMPAIGNS_FRESH_SECONDS
    if views:
        until_cutoff = (views[0].campaign.cutoff_at - clock.now()).total_seconds()
        fresh_for = max(0.0, min(fresh_for, until_cutoff))
    return render(
        request,
        "groupbuy/campaigns.html",
        {
            "views": views,
            # A fresh key per rendering: submitting the same form twice places one order.
            # Only a logged-in visitor is shown the order button.
            "order_key": secrets.token_urlsafe(18) if actor.is_authenticated else "",
            "error": error,
        },
        status_code=status_code,
        actor=actor,
        public=True,
        fresh_for=fresh_for,
    )


def _campaigns_failed(request: Request, session: DbSession, actor: Actor) -> ErrorAnswer:
    return lambda error: _campaigns_page(
        request, session, actor, error=error, status_code=error.status_code
    )


@router.get("/groupbuy")
async def campaigns(request: Request, session: DbSession, actor: AnyActor) -> Response:
    return await _campaigns_page(request, session, actor)


def _lines(form: Any) -> list[dict[str, str]]:
    lines: list[dict[str, str]] = []
    for name, value in form.items():
        if not (isinstance(name, str) and name.startswith("qty_") and isinstance(value, str)):
            continue
        value = value.strip()
        if value in ("", "0"):
            continue
        lines.append({"item_id": name.removeprefix("qty_"), "quantity": value})
    return lines


@router.post("/groupbuy/order")
async def place_order(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()

    async def order() -> checkout.Checkout:
        lines = _lines(form)
        if not lines:
            raise ValidationFailed(
                N_("Choose how many you want of at least one item."),
                fields={"lines": N_("Nothing chosen.")},
            )
        data = validate_form(
            OrderIn,
            {
                # Form values arrive as text; the API schema wants true integers.
                "campaign_id": forms.whole(forms.text(form, "campaign_id")),
                "lines": [
                    {
                        "item_id": forms.whole(line["item_id"]),
                        "quantity": forms.whole(line["quantity"]),
                    }
                    for line in lines
                ],
                "accept_return_terms": forms.checked(form, "accept_return_terms"),
                "pay_later": forms.checked(form, "pay_later"),
            },
        )
        return await checkout.place_order(session, actor, data, forms.text(form, "order_key"))

    placed = await form_action(session, order, on_error=_campaigns_failed(request, session, actor))
    if isinstance(placed, Response):
        return placed
    intent = placed.intent
    if intent is not None and intent.provider == providers.PAY_LATER:
        return redirect(
            "/groupbuy/orders", text=_("Ordered on credit: it is on your pay-later bill.")
        )
    if intent is None or placed.order.status != "pending_payment":
        return redirect("/groupbuy/orders")
    return redirect(providers.get(intent.provider).checkout_url(intent))


@router.post("/groupbuy/cart/add")
async def add_to_cart(request: Request, session: DbSession, actor: User_) -> Response:
    """The campaign form's other button: its chosen quantities go to the cart."""
    form = await request.form()

    async def add() -> None:
        lines = _lines(form)
        if not lines:
            raise ValidationFailed(
                N_("Choose how many you want of at least one item."),
                fields={"lines": N_("Nothing chosen.")},
            )
        for line in lines:
            await _set_quantity(session, actor, line["item_id"], line["quantity"])

    failed = await form_action(session, add, on_error=_campaigns_failed(request, session, actor))
    if isinstance(failed, Response):
        return failed
    return redirect("/groupbuy", text=_("Added to your cart."))


async def _cart_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "groupbuy/cart.html",
        {
            "cart": await carts.view(session, actor),
            "checkout_key": secrets.token_urlsafe(18),
            "error": error,
        },
        status_code=status_code,
        actor=actor,
    )


def _cart_failed(request: Request, session: DbSession, actor: Actor) -> ErrorAnswer:
    return lambda error: _cart_page(
        request, session, actor, error=error, status_code=error.status_code
    )


async def _set_quantity(session: DbSession, actor: Actor, item_raw: str, quantity_raw: str) -> None:
    """One cart line as typed on a form: whole numbers, or the form's field message."""
    item_id, quantity = forms.whole(item_raw), forms.whole(quantity_raw)
    if not isinstance(item_id, int) or not isinstance(quantity, int):
        raise ValidationFailed(
            N_("Check the quantity."), fields={"quantity": N_("Enter a whole number.")}
        )
    await carts.set_quantity(session, actor, item_id, quantity)


@router.get("/groupbuy/cart")
async def cart_page(request: Request, session: DbSession, actor: User_) -> Response:
    return await _cart_page(request, session, actor)


@router.post("/groupbuy/cart/update")
async def update_cart(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()

    async def update() -> None:
        for name, value in form.items():
            if not (isinstance(name, str) and name.startswith("qty_") and isinstance(value, str)):
                continue
            await _set_quantity(session, actor, name.removeprefix("qty_"), value.strip() or "0")

    failed = await form_action(session, update, on_error=_cart_failed(request, session, actor))
    if isinstance(failed, Response):
        return failed
    return redirect("/groupbuy/cart", text=_("Cart updated."))


@router.post("/groupbuy/cart/checkout")
async def checkout_cart(request: Request, session: DbSession, actor: User_) -> Response:
    form = await request.form()
    result = await form_action(
        session,
        lambda: carts.checkout(
            session,
            actor,
            accept_return_terms=forms.checked(form, "accept_return_terms"),
            key=forms.text(form, "checkout_key"),
        ),
        on_error=_cart_failed(request, session, actor),
    )
    if isinstance(result, Response):
        return result
    if result.failed:
        reasons = "; ".join(f"{c.title}: {m.render()}" for c, m in result.failed)
        return redirect(
            "/groupbuy/orders",
            text=_("Ordered {placed}; not ordered, still in your cart: {reasons}").format(
                placed=len(result.placed), reasons=reasons
            ),
            level="error",
        )
    return redirect(
        "/groupbuy/orders",
        text=_("{count} orders placed: pay each of them below.").format(count=len(result.placed)),
    )


@router.get("/groupbuy/orders")
async def my_orders(request: Request, session: DbSession, actor: User_) -> Response:
    checkouts = await orders.my_orders(session, actor)
    pay_urls = {
        c.order.id: providers.get(c.intent.provider).checkout_url(c.intent)
        for c in checkouts
        if c.intent is not None and c.order.status == "pending_payment"
    }
    refund_reasons = await payments.refund_reasons_of(
        session, [c.intent.id for c in checkouts if c.intent is not None and c.order.refunded_fen]
    )
    return render(
        request,
        "groupbuy/orders.html",
        {
            "checkouts": checkouts,
            "pay_urls": pay_urls,
            "refund_reasons": refund_reasons,
            "refund_labels": REFUND_REASON_LABELS,
            "status_labels": queries.ORDER_STATUS_LABELS,
            "cancel_reasons": queries.CANCEL_REASON_LABELS,
        },
        actor=actor,
    )


@router.get("/groupbuy/orders/{order_id}")
async def order_detail(
    order_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    page = await queries.resident_order(session, actor, order_id)
    # segno's SVG of six digits we generated: no user text reaches the markup.
    qr = Markup(presenters.qr_svg(page.pickup_code).decode()) if page.pickup_code else None  # noqa: S704
    trace_codes = await batches.source.line_codes(session, [line.id for line, _item in page.lines])
    reviewed = await order_lines.reviewed_lines(
        session, actor.require_user_id(), [line.id for line, _item in page.lines]
    )
    return render(
        request,
        "groupbuy/order.html",
        {
            "page": page,
            "qr": qr,
            "trace_codes": trace_codes,
            "reviewed": reviewed,
            "status_labels": queries.ORDER_STATUS_LABELS,
            "cancel_reasons": queries.CANCEL_REASON_LABELS,
        },
        actor=actor,
    )
