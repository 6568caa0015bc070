"""Merchant pages for group buying (campaigns: create, publish, follow; deliveries; lists;
refunds of collected goods) and the platform operators' campaign oversight."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from linli import forms
from linli.accounts.models import Organisation
from linli.apitypes import PathId
from linli.authz import GROUPBUY_READ, PLATFORM_REVIEW, Actor, ensure, require_user
from linli.db import DbSession
from linli.errors import DomainError, ValidationFailed
from linli.events import OrderRefunded
from linli.groupbuy import (
    campaigns,
    delivery,
    lists,
    orders,
    policies,
    presenters,
    queries,
    refunds,
    reports,
)
from linli.groupbuy.models import CAMPAIGN_STATUSES, Campaign
from linli.groupbuy.schemas import CampaignIn
from linli.i18n import N_, Message, _
from linli.merchants import certification as merchant_certification
from linli.merchants import licences as merchant_licences
from linli.merchants import queries as merchant_queries
from linli.merchants import reverification as merchant_reverification
from linli.money import format_fen
from linli.web import form_action, form_data, redirect, render, validate_form, verify_csrf

router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
User_ = Annotated[Actor, Depends(require_user)]
ITEM_ROWS = 3
# API field (inside items.N.) -> the form's field prefix (the form adds _N).
_ITEM_FIELDS = {
    "sku_id": "sku",
    "group_price_fen": "price",
    "per_resident_limit": "limit",
    "stock": "stock",
    "min_group_qty": "min_group",
}


# --- parsing the campaign form --------------------------------------------------------------


def _campaign_data(form: dict[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The API's campaign body from the form, and the form row of each item."""
    problems = forms.Problems()
    items: list[dict[str, Any]] = []
    rows: list[int] = []
    for n in range(ITEM_ROWS):
        values = {name: form.get(f"{name}_{n}", "").strip() for name in _ITEM_FIELDS.values()}
        if not any(values.values()):
            continue
        raw_price = values["price"]
        price = problems.check(partial(forms.fen, raw_price, f"price_{n}"), raw_price)
        rows.append(n)
        items.append(
            {
                "sku_id": forms.whole(values["sku"]),
                "group_price_fen": price,
                "per_resident_limit": forms.whole(values["limit"]),
                "stock": forms.whole(values["stock"]),
                "min_group_qty": forms.whole(values["min_group"]),
            }
        )
    if not items:
        problems.fields["items"] = N_("Add at least one item.")

    def moment(field: str) -> str:
        return problems.check(
            lambda: forms.local_datetime(form.get(field, ""), field).isoformat(), ""
        )

    data = {
        "title": form.get("title", "").strip(),
        "opens_at": moment("opens_at"),
        "cutoff_at": moment("cutoff_at"),
        "pickup_date": problems.check(
            lambda: forms.calendar_date(form.get("pickup_date", ""), "pickup_date").isoformat(),
            "",
        ),
        "items": items,
    }
    problems.raise_any()
    return data, rows


def _as_form_fields(error: DomainError, rows: list[int]) -> DomainError:
    """API field names (items.0.group_price_fen) as the form's (price_<row>)."""
    fields: dict[str, Message] = {}
    for name, text in error.fields.items():
        parts = name.split(".")
        if len(parts) >= 3 and parts[0] == "items" and parts[1].isdigit():
            index = int(parts[1])
            row = rows[index] if index < len(rows) else index
            name = f"{_ITEM_FIELDS.get(parts[2], parts[2])}_{row}"
        fields.setdefault(name, text)
    error.fields = fields
    return error


# --- merchant -------------------------------------------------------------------------------


async def _campaigns_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    views = await campaigns.my_campaigns(session, actor, limit=100)
    counts = await queries.order_counts(session, [v.campaign.id for v in views])
    return render(
        request,
        "groupbuy/merchant_campaigns.html",
        {
            "views": views,
            "counts": counts,
            "skus": await queries.sku_choices(session, actor),
            "form": form or {},
            "error": error,
            "rows": range(ITEM_ROWS),
            "campaign_labels": queries.CAMPAIGN_STATUS_LABELS,
            "status_labels": queries.ORDER_STATUS_LABELS,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/groupbuy")
async def merchant_campaigns(request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor)
    return await _campaigns_page(request, session, actor)


@router.post("/merchant/groupbuy")
async def create_campaign(request: Request, session: DbSession, actor: User_) -> Response:
    policies.acting_merchant(actor)
    form = await form_data(request)
    rows: list[int] = []

    async def create() -> Campaign:
        nonlocal rows
        body, rows = _campaign_data(form)
        return await campaigns.create_campaign(session, actor, validate_form(CampaignIn, body))

    campaign = await form_action(
        session,
        create,
        on_error=lambda error: _campaigns_page(
            request,
            session,
            actor,
            form=form,
            error=_as_form_fields(error, rows),
            status_code=error.status_code,
        ),
    )
    if isinstance(campaign, Response):
        return campaign
    return redirect(
        f"/merchant/groupbuy/{campaign.id}",
        text=_("Campaign saved as a draft. Publish it to open it for orders."),
    )


async def _detail_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    campaign_id: int,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    campaign = await queries.access_own_campaign(session, actor, campaign_id)
    view = await campaigns.access_campaign(session, actor, campaign.id)
    deliveries = await delivery.deliveries_for_merchant(session, actor, campaign.id)
    outcomes = await queries.outcomes(session, campaign.id)
    names = await queries.point_names(
        session,
        {d.pickup_point_id for d in deliveries} | {o.outcome.pickup_point_id for o in outcomes},
    )
    placed = await orders.merchant_orders(session, actor, campaign_id=campaign.id, limit=200)
    refundable = [
        (c.order, line, item)
        for c in placed
        for line, item in c.lines
        if line.picked_qty > line.returned_qty
    ]
    counts = (await queries.order_counts(session, [campaign.id]))[campaign.id]
    return render(
        request,
        "groupbuy/merchant_campaign.html",
        {
            "view": view,
            "campaign": view.campaign,
            "counts": counts,
            "outcomes": outcomes,
            "deliveries": deliveries,
            "point_names": names,
            "orders": placed,
            "refundable": refundable,
            "form": form or {},
            "error": error,
            "campaign_labels": queries.CAMPAIGN_STATUS_LABELS,
            "status_labels": queries.ORDER_STATUS_LABELS,
            "delivery_labels": queries.DELIVERY_STATUS_LABELS,
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/groupbuy/{campaign_id}")
async def merchant_campaign(
    campaign_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _detail_page(request, session, actor, campaign_id)


@router.post("/merchant/groupbuy/{campaign_id}/publish")
async def publish(
    campaign_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    failed = await form_action(
        session,
        lambda: campaigns.publish(session, actor, campaign_id),
        on_error=lambda error: _detail_page(
            request, session, actor, campaign_id, error=error, status_code=error.status_code
        ),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/groupbuy/{campaign_id}", text=_("Published: residents can order."))


@router.post("/merchant/groupbuy/{campaign_id}/deliveries/{delivery_id}/ship")
async def ship(
    campaign_id: PathId, delivery_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await queries.access_own_campaign(session, actor, campaign_id)
    await delivery.ship(session, actor, delivery_id)
    return redirect(f"/merchant/groupbuy/{campaign_id}", text=_("Marked as shipped."))


@router.post("/merchant/groupbuy/{campaign_id}/ship-all")
async def ship_all(
    campaign_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await queries.access_own_campaign(session, actor, campaign_id)
    shipped = await delivery.ship_campaign(session, actor, campaign_id)
    return redirect(
        f"/merchant/groupbuy/{campaign_id}",
        text=_("{count} deliveries shipped.").format(count=len(shipped)),
    )


def _refund_target(text: str) -> tuple[int, int]:
    order, sep, line = text.partition(":")
    if sep and all(p.isascii() and p.isdigit() and len(p) < 19 for p in (order, line)):
        return int(order), int(line)
    raise ValidationFailed(
        N_("Check the refund."), fields={"line": N_("Choose collected goods from the list.")}
    )


@router.post("/merchant/groupbuy/{campaign_id}/refund")
async def refund(
    campaign_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    await queries.access_own_campaign(session, actor, campaign_id)
    form = await form_data(request)

    async def refund_line() -> OrderRefunded:
        order_id, line_id = _refund_target(form.get("line", ""))
        quantity = forms.whole(form.get("quantity", ""))
        if not isinstance(quantity, int) or quantity > 10**6:
            raise ValidationFailed(
                N_("Check the refund."), fields={"quantity": N_("Enter a whole number from 1.")}
            )
        return await refunds.refund_collected(
            session, actor, order_id, line_id, quantity, form.get("reason", "")
        )

    event = await form_action(
        session,
        refund_line,
        on_error=lambda error: _detail_page(
            request,
            session,
            actor,
            campaign_id,
            form=form,
            error=error,
            status_code=error.status_code,
        ),
    )
    if isinstance(event, Response):
        return event
    return redirect(
        f"/merchant/groupbuy/{campaign_id}",
        text=_("Refunded {amount} for order #{order}.").format(
            amount=format_fen(event.amount_fen), order=event.order_id
        ),
    )


@router.get("/merchant/groupbuy/{campaign_id}/procurement")
async def procurement(
    campaign_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    sheet = await lists.procurement(session, actor, campaign_id)
    return render(
        request,
        "groupbuy/procurement.html",
        {
            "sheet": sheet,
            "csv_url": f"/api/v1/groupbuy/campaigns/{campaign_id}/procurement.csv",
        },
        actor=actor,
    )


@router.get("/merchant/groupbuy/{campaign_id}/sorting/{point_id}")
async def campaign_sorting(
    campaign_id: PathId, point_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    ensure(actor, GROUPBUY_READ)
    policies.acting_merchant(actor)
    sheet = await lists.sorting_list(session, actor, point_id, campaign_id=campaign_id)
    csv_url = (
        f"/api/v1/groupbuy/pickup-points/{point_id}/sorting-list.csv?campaign_id={campaign_id}"
    )
    return render(
        request,
        "groupbuy/sorting.html",
        {**presenters.sorting_context(sheet, csv_url), "day_form": False, "back": campaign_id},
        actor=actor,
    )


# --- platform -------------------------------------------------------------------------------


@router.get("/ops/groupbuy")
async def oversight(
    request: Request,
    session: DbSession,
    actor: User_,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    ensure(actor, PLATFORM_REVIEW)
    chosen = status if status in CAMPAIGN_STATUSES else None
    return render(
        request,
        "groupbuy/ops_campaigns.html",
        {
            "rows": await queries.ops_campaigns(session, chosen),
            "totals": await queries.campaign_status_totals(session),
            "status": chosen or "",
            "campaign_labels": queries.CAMPAIGN_STATUS_LABELS,
        },
        actor=actor,
    )


# --- the merchant's console -----------------------------------------------------------------
# Its home page shows onboarding (merchants) and group-buying sales together; merchants sits
# below group buying, so the page that composes both lives here.


@router.get("/merchant")
async def merchant_console(request: Request, session: DbSession, actor: User_) -> Response:
    organisation_id = actor.organisation_id
    if organisation_id is None or actor.organisation_kind not in ("merchant", "supplier"):
        return redirect(
            "/account", text=_("Act for your merchant organisation first."), level="error"
        )
    profile = await merchant_queries.profile_or_none(session, organisation_id)
    context: dict[str, Any] = {
        "profile": profile,
        "licences": await merchant_licences.organisation_licences(session, organisation_id),
        "expiring": dict(
            (lic.id, days)
            for lic, days in await merchant_reverification.expiring_licences(
                session, organisation_id
            )
        ),
        "certifications": await merchant_certification.certifications(session, actor),
        "licence_labels": merchant_licences.LICENCE_LABELS,
        "sales": await reports.sales(session, actor)
        if actor.organisation_kind == "merchant" and actor.has(GROUPBUY_READ)
        else None,
        "organisation": await session.get(Organisation, organisation_id),
    }
    return render(request, "merchants/console.html", context, actor=actor)
