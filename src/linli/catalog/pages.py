"""HTML pages: the public catalogue and product pages, and the merchant's product console."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.responses import Response

from linli import forms
from linli.apitypes import PathId
from linli.authz import Actor, current_actor, require_user
from linli.catalog import images, prices, products, reading, search, stock_admin
from linli.catalog.schemas import (
    BADGE_LABELS,
    CONSUMPTION_LABELS,
    MAX_QUERY_LENGTH,
    PRICE_SOURCE_LABELS,
    STATUS_LABELS,
    STORAGE_LABELS,
    PriceIn,
    ProductCreateIn,
    ProductUpdateIn,
    SkuIn,
    StockAdjustIn,
)
from linli.categories import tree as categories
from linli.categories.tree import CategoryNode
from linli.db import DbSession
from linli.errors import DomainError, ValidationFailed
from linli.files import service as files
from linli.i18n import N_, Message, _
from linli.web import (
    ErrorAnswer,
    form_action,
    form_data,
    page_sections,
    redirect,
    render,
    validate_form,
    verify_csrf,
)

M = TypeVar("M", bound=BaseModel)
router = APIRouter(include_in_schema=False, dependencies=[Depends(verify_csrf)])
AnyActor = Annotated[Actor, Depends(current_actor)]
User_ = Annotated[Actor, Depends(require_user)]
FilterText = Annotated[str, Query(max_length=MAX_QUERY_LENGTH)]
PAGE_SIZE = 20
MAX_PAGE = 10_000

# Form field names where they differ from the API's (prices are typed in yuan on pages).
_FORM_FIELDS = {"price_fen": "price", "min_price_fen": "min_price", "max_price_fen": "max_price"}


def _form_field(name: str) -> str:
    """The form field an API field error belongs to ("sku.specs.重量" -> "specs")."""
    top = name.removeprefix("sku.").split(".", 1)[0]
    return _FORM_FIELDS.get(top, top)


def _as_form_fields(error: DomainError) -> DomainError:
    fields: dict[str, Message] = {}
    for name, text in error.fields.items():
        fields.setdefault(_form_field(name), text)
    error.fields = fields
    return error


def parse_specs(raw: str) -> dict[str, str]:
    """'weight: 5 kg' per line (':', '：' or '=') into {'weight': '5 kg'}."""
    specs: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        normalised = line.replace("：", ":").replace("=", ":")
        name, sep, value = normalised.partition(":")
        if not sep or not name.strip():
            raise ValidationFailed(
                N_("Some fields need attention."),
                fields={"specs": N_("Write one attribute per line, e.g. weight: 5 kg")},
            )
        specs[name.strip()] = value.strip()
    return specs


def _category_choices(tree: categories.CategoryTree) -> list[dict[str, Any]]:
    """Categories for <select>s: roots as groups, with a localised name each."""

    def entry(c: CategoryNode) -> dict[str, Any]:
        return {"code": c.code, "name": categories.category_name(c)}

    return [
        {**entry(root), "children": [entry(c) for c in tree.children(root)]}
        for root in tree.rows
        if root.parent_id is None
    ]


def _labels() -> dict[str, Any]:
    return {
        "consumption_labels": CONSUMPTION_LABELS,
        "storage_labels": STORAGE_LABELS,
        "status_labels": STATUS_LABELS,
        "badge_labels": BADGE_LABELS,
        "source_labels": PRICE_SOURCE_LABELS,
    }


# --- public -------------------------------------------------------------------------------


async def search_form(
    q: FilterText = "",
    category: FilterText = "",
    type: FilterText = "",
    min_price: FilterText = "",
    max_price: FilterText = "",
    badge: FilterText = "",
    merchant: FilterText = "",
    page: FilterText = "1",
) -> dict[str, str]:
    """The catalogue's search form as typed (validated when the search runs)."""
    return {
        "q": q,
        "category": category,
        "type": type,
        "min_price": min_price,
        "max_price": max_price,
        "badge": badge,
        "merchant": merchant,
        "page": page,
    }


SearchForm = Annotated[dict[str, str], Depends(search_form)]


@router.get("/catalog")
async def catalogue(
    request: Request, session: DbSession, actor: AnyActor, form: SearchForm
) -> Response:
    page = form.pop("page")
    return await _search_page(request, session, actor, form, page, channel=False)


@router.get("/export")
async def export_channel(
    request: Request, session: DbSession, actor: AnyActor, form: SearchForm
) -> Response:
    """The export-to-domestic channel: products of enterprises certified 'three same'."""
    page = form.pop("page")
    return await _search_page(
        request, session, actor, form | {"badge": "export_quality"}, page, channel=True
    )


async def _search_page(
    request: Request,
    session: DbSession,
    actor: Actor,
    form: dict[str, str],
    page: str,
    *,
    channel: bool,
) -> Response:
    tree = await categories.category_tree(session)
    q, category, type = form["q"], form["category"], form["type"]
    min_price, max_price = form["min_price"], form["max_price"]
    badge, merchant = form["badge"], form["merchant"]
    number = int(page) if page.isdigit() and 1 <= int(page) <= MAX_PAGE else 1
    error: DomainError | None = None
    result = reading.ProductPage([], 0, PAGE_SIZE, 0)
    try:
        if category and category not in tree.by_code:
            raise ValidationFailed(
                N_("Some fields need attention."),
                fields={"category": N_("Choose a category from the list.")},
            )
        filters = reading.SearchFilters(
            q=search.clean_query(q),
            category=category or None,
            consumption_type=type if type in CONSUMPTION_LABELS else None,
            min_price_fen=forms.optional_fen(min_price, "min_price"),
            max_price_fen=forms.optional_fen(max_price, "max_price"),
            badge=badge if badge in BADGE_LABELS else None,
            organisation_id=forms.optional_id(merchant),
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
        result = await reading.search_products(session, filters)
    except DomainError as failure:
        error = _as_form_fields(failure)
    base = "/export" if channel else "/catalog"
    kept = {k: v for k, v in form.items() if v and not (channel and k == "badge")}
    pages = {
        "previous": f"{base}?{urlencode({**kept, 'page': number - 1})}" if number > 1 else None,
        "next": (
            f"{base}?{urlencode({**kept, 'page': number + 1})}"
            if result.offset + len(result.items) < result.total
            else None
        ),
    }
    return render(
        request,
        "catalog/search.html",
        {
            "form": form,
            "error": error,
            "result": result,
            "pages": pages,
            "channel": channel,
            "action": base,
            "categories": _category_choices(tree),
            "category_name": categories.category_name,
            **_labels(),
        },
        status_code=error.status_code if error else 200,
        actor=actor,
        public=True,
    )


@router.get("/p/{product_id}")
async def product_page(
    product_id: PathId, request: Request, session: DbSession, actor: AnyActor
) -> Response:
    view = await reading.public_product(session, product_id)
    sections = await page_sections("product", request, session, product_id)
    return render(
        request,
        "catalog/product.html",
        {
            "view": view,
            "sections": sections,
            "category_name": categories.category_name,
            **_labels(),
        },
        actor=actor,
        public=True,
    )


# --- the merchant's console ---------------------------------------------------------------


async def _list_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    *,
    q: str = "",
    status: str = "",
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Response:
    tree = await categories.category_tree(session)
    result = await reading.my_products(
        session,
        actor,
        q=search.clean_query(q),
        status=status if status in STATUS_LABELS else None,
        limit=200,
    )
    return render(
        request,
        "catalog/merchant_list.html",
        {
            "result": result,
            "q": q,
            "status": status,
            "form": form or {},
            "error": error,
            "categories": _category_choices(tree),
            "category_name": categories.category_name,
            **_labels(),
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/products")
async def merchant_products(
    request: Request,
    session: DbSession,
    actor: User_,
    q: FilterText = "",
    status: FilterText = "",
) -> Response:
    return await _list_page(request, session, actor, q=q, status=status)


class _Problems(forms.Problems):
    """The form's problems, the schema's field messages under the form's field names."""

    def validate(self, model: type[M], data: dict[str, Any]) -> M | None:
        try:
            result = validate_form(model, data)
        except ValidationFailed as error:
            for name, text in _as_form_fields(error).fields.items():
                self.fields.setdefault(name, text)
            return None
        return None if self.fields else result


def _sku_data(form: dict[str, str], problems: _Problems) -> dict[str, Any]:
    specs: dict[str, str] = problems.check(lambda: parse_specs(form.get("specs", "")), {})
    # 1 fen in place of an unreadable price, so the schema still checks the other fields
    price = problems.check(lambda: forms.fen(form.get("price", ""), "price"), 1)
    return {
        "code": form.get("code", ""),
        "specs": specs,
        "price_fen": price,
        "stock": form.get("stock", "").strip() or 0,
    }


def _create_input(form: dict[str, str]) -> ProductCreateIn:
    fields = forms.blank_to_none(form, "shelf_life_days", "gtin")
    names = ("category", "name", "description", "unit", "shelf_life_days", "storage_class")
    data: dict[str, Any] = {k: fields.get(k) for k in (*names, "origin", "gtin") if k in fields}
    problems = _Problems()
    data["sku"] = _sku_data(form, problems)
    result = problems.validate(ProductCreateIn, data)
    problems.raise_any()
    assert result is not None
    return result


@router.post("/merchant/products")
async def merchant_create(request: Request, session: DbSession, actor: User_) -> Response:
    form = await form_data(request)
    product = await form_action(
        session,
        lambda: products.create_product(session, actor, _create_input(form)),
        on_error=lambda error: _list_page(
            request,
            session,
            actor,
            form=form,
            error=_as_form_fields(error),
            status_code=error.status_code,
        ),
    )
    if isinstance(product, Response):
        return product
    return redirect(
        f"/merchant/products/{product.id}",
        text=_("Saved as a draft. List it when it is ready to sell."),
    )


async def _product_page(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    product_id: int,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    error_for: str | None = None,
    status_code: int = 200,
) -> Response:
    view = await reading.my_product(session, actor, product_id)
    tree = await categories.category_tree(session)
    product = view.product
    values = {
        "category": view.category.code,
        "name": product.name,
        "description": product.description,
        "unit": product.unit,
        "shelf_life_days": str(product.shelf_life_days or ""),
        "storage_class": product.storage_class,
        "origin": product.origin,
        "gtin": product.gtin or "",
    }
    if form is not None and error_for == "product":
        values.update(form)
    return render(
        request,
        "catalog/merchant_product.html",
        {
            "view": view,
            "values": values,
            "form": form or {},
            "error": error,
            "error_for": error_for,
            "history": await prices.product_price_history(session, actor, product_id),
            "categories": _category_choices(tree),
            "category_name": categories.category_name,
            **_labels(),
        },
        status_code=status_code,
        actor=actor,
    )


@router.get("/merchant/products/{product_id}")
async def merchant_product(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    return await _product_page(request, session, actor, product_id)


def _failed(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    product_id: int,
    form: dict[str, str],
    error_for: str,
) -> ErrorAnswer:
    """The product page again, the error shown next to the form it belongs to."""
    return lambda error: _product_page(
        request,
        session,
        actor,
        product_id,
        form=form,
        error=_as_form_fields(error),
        error_for=error_for,
        status_code=error.status_code,
    )


@router.post("/merchant/products/{product_id}")
async def merchant_update(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def save() -> None:
        data = validate_form(
            ProductUpdateIn, forms.blank_to_none(form, "shelf_life_days", "gtin", "category")
        )
        await products.update_product(session, actor, product_id, data)

    failed = await form_action(
        session, save, on_error=_failed(request, session, actor, product_id, form, "product")
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("Saved."))


@router.post("/merchant/products/{product_id}/skus")
async def merchant_add_sku(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def add() -> None:
        problems = _Problems()
        data = problems.validate(SkuIn, _sku_data(form, problems))
        problems.raise_any()
        assert data is not None
        await products.add_sku(session, actor, product_id, data)

    failed = await form_action(
        session, add, on_error=_failed(request, session, actor, product_id, form, "sku")
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("SKU added."))


@router.post("/merchant/products/{product_id}/skus/{sku_id}/price")
async def merchant_change_price(
    product_id: PathId, sku_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def change() -> None:
        data = validate_form(PriceIn, {"price_fen": forms.fen(form.get("price", ""), "price")})
        await prices.change_price(session, actor, sku_id, data.price_fen, source="edit")

    failed = await form_action(
        session,
        change,
        on_error=_failed(request, session, actor, product_id, form, f"price-{sku_id}"),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("Price changed."))


@router.post("/merchant/products/{product_id}/skus/{sku_id}/stock")
async def merchant_adjust_stock(
    product_id: PathId, sku_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await form_data(request)

    async def adjust() -> int:
        data = validate_form(StockAdjustIn, {"delta": form.get("delta", "").strip()})
        return await stock_admin.adjust_stock(session, actor, sku_id, data.delta)

    stock = await form_action(
        session,
        adjust,
        on_error=_failed(request, session, actor, product_id, form, f"stock-{sku_id}"),
    )
    if isinstance(stock, Response):
        return stock
    return redirect(
        f"/merchant/products/{product_id}",
        text=_("Stock is now {stock}.").format(stock=stock),
    )


@router.post("/merchant/products/{product_id}/list")
async def merchant_list(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    failed = await form_action(
        session,
        lambda: products.list_product(session, actor, product_id),
        on_error=_failed(request, session, actor, product_id, {}, "status"),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("Listed: it is on sale now."))


@router.post("/merchant/products/{product_id}/delist")
async def merchant_delist(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    failed = await form_action(
        session,
        lambda: products.delist_product(session, actor, product_id),
        on_error=_failed(request, session, actor, product_id, {}, "status"),
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("Delisted: it is off sale."))


@router.post("/merchant/products/{product_id}/images")
async def merchant_upload_image(
    product_id: PathId, request: Request, session: DbSession, actor: User_
) -> Response:
    form = await request.form()
    upload = form.get("file")

    async def add() -> None:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed(
                N_("Choose an image file."), fields={"file": N_("Choose an image file.")}
            )
        data = await files.read_upload(upload)
        await images.add_image(
            session,
            actor,
            request.app.state.file_store,
            product_id,
            data,
            filename=upload.filename,
        )

    failed = await form_action(
        session, add, on_error=_failed(request, session, actor, product_id, {}, "image")
    )
    if isinstance(failed, Response):
        return failed
    return redirect(f"/merchant/products/{product_id}", text=_("Image added."))
