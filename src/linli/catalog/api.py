"""JSON routes for the catalogue under /api/v1/catalog: public search, and the merchant's
console for integrations (ERPs): products, SKUs, prices, stock, listing, images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from linli.apitypes import OptionalQueryId, PageSize, PathId
from linli.authz import CATALOG_MANAGE, CATALOG_READ, Actor, require, require_scope
from linli.catalog import images, prices, products, reading, search, stock_admin
from linli.catalog.schemas import (
    MAX_PRICE_FEN,
    MAX_QUERY_LENGTH,
    Badge,
    CategoryBrief,
    CategoryOut,
    ConsumptionType,
    ImageOut,
    MerchantBrief,
    MerchantProductOut,
    MerchantProductPage,
    MerchantSkuOut,
    PriceChangeOut,
    PriceIn,
    ProductCard,
    ProductCreateIn,
    ProductOut,
    ProductPage,
    ProductStatus,
    ProductUpdateIn,
    SkuIn,
    StockAdjustIn,
    StockOut,
    StockSetIn,
)
from linli.categories import tree as category_data
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.files import service as files

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"], responses=ERROR_RESPONSES)

Reader = Annotated[Actor, Depends(require(CATALOG_READ))]
Manager = Annotated[Actor, Depends(require(CATALOG_MANAGE))]
Delister = Annotated[Actor, Depends(require_scope("org:write", "platform"))]
SearchText = Annotated[
    str, Query(max_length=MAX_QUERY_LENGTH, description="Words to find (all must match)")
]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
PriceFilter = Annotated[int | None, Query(ge=0, le=MAX_PRICE_FEN)]
CategoryCode = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^[a-z_]+$", description="Category code (with subcategories)"),
]


def file_url(file_id: int) -> str:
    return f"/files/{file_id}"


def merchant_url(organisation_id: int) -> str:
    return f"/m/{organisation_id}"


def _beyond_the_row(view: reading.ProductView) -> dict[str, object]:
    """What a product body shows that its row does not hold."""
    product = view.product
    thumb = view.thumbnail_file_id
    return {
        "category": CategoryBrief(
            code=view.category.code,
            name=category_data.category_name(view.category),
            consumption_type=view.category.consumption_type,
        ),
        "merchant": MerchantBrief(
            id=product.organisation_id,
            name=view.merchant_name,
            url=merchant_url(product.organisation_id),
        ),
        "price_min_fen": view.price_min_fen,
        "price_max_fen": view.price_max_fen,
        "thumbnail_url": file_url(thumb) if thumb else None,
        "badges": view.badges,
        "skus": view.skus,
    }


def _images(view: reading.ProductView) -> list[ImageOut]:
    return [
        ImageOut(
            id=i.id,
            url=file_url(i.file_id),
            thumbnail_url=file_url(i.thumbnail_file_id),
            position=i.position,
        )
        for i in view.images
    ]


def present_card(view: reading.ProductView) -> ProductCard:
    """The product, its category's name in the reader's language, its merchant and URLs."""
    return ProductCard.from_row(view.product, **_beyond_the_row(view))


def present_product(view: reading.ProductView) -> ProductOut:
    """`present_card` and the product's details and images (URLs of their files)."""
    return ProductOut.from_row(view.product, **_beyond_the_row(view), images=_images(view))


def present_merchant_product(view: reading.ProductView) -> MerchantProductOut:
    """`present_product` with the status, times and stock only the merchant sees."""
    return MerchantProductOut.from_row(view.product, **_beyond_the_row(view), images=_images(view))


# --- public -------------------------------------------------------------------------------


@router.get("/categories", summary="The category tree (flat, parents first)")
async def categories(session: DbSession) -> list[CategoryOut]:
    tree = await category_data.category_tree(session)
    return [
        CategoryOut.from_row(
            c, parent_code=tree.parent_code(c), name=category_data.category_name(c)
        )
        for c in tree.rows
    ]


@router.get("/products", summary="Search products on sale (works for Chinese: q=苹果)")
async def search_products(
    session: DbSession,
    q: SearchText = "",
    category: CategoryCode = None,
    consumption_type: Annotated[ConsumptionType | None, Query()] = None,
    min_price_fen: PriceFilter = None,
    max_price_fen: PriceFilter = None,
    badge: Annotated[Badge | None, Query()] = None,
    merchant: OptionalQueryId = None,
    limit: PageSize = 20,
    offset: Offset = 0,
) -> ProductPage:
    page = await reading.search_products(
        session,
        reading.SearchFilters(
            q=search.clean_query(q),
            category=category,
            consumption_type=consumption_type,
            min_price_fen=min_price_fen,
            max_price_fen=max_price_fen,
            badge=badge,
            organisation_id=merchant,
            limit=limit,
            offset=offset,
        ),
    )
    return ProductPage(
        items=[present_card(v) for v in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/products/{product_id}", summary="A product on sale")
async def public_product(product_id: PathId, session: DbSession) -> ProductOut:
    return present_product(await reading.public_product(session, product_id))


# --- the merchant's catalogue ---------------------------------------------------------------


@router.get(
    "/merchant/products", summary="My organisation's products, drafts included (with stock)"
)
async def my_products(
    session: DbSession,
    actor: Reader,
    q: SearchText = "",
    status: Annotated[ProductStatus | None, Query()] = None,
    limit: PageSize = 50,
    offset: Offset = 0,
) -> MerchantProductPage:
    page = await reading.my_products(
        session, actor, q=search.clean_query(q), status=status, limit=limit, offset=offset
    )
    return MerchantProductPage(
        items=[present_merchant_product(v) for v in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/merchant/products", status_code=201, summary="Create a draft product with its first SKU"
)
async def create_product(
    body: ProductCreateIn, session: DbSession, actor: Manager
) -> MerchantProductOut:
    product = await products.create_product(session, actor, body)
    return present_merchant_product(await reading.view_of(session, product))


@router.get("/merchant/products/{product_id}", summary="One of my products")
async def my_product(product_id: PathId, session: DbSession, actor: Reader) -> MerchantProductOut:
    return present_merchant_product(await reading.my_product(session, actor, product_id))


@router.patch("/merchant/products/{product_id}", summary="Change a product (the fields sent)")
async def update_product(
    product_id: PathId, body: ProductUpdateIn, session: DbSession, actor: Manager
) -> MerchantProductOut:
    product = await products.update_product(session, actor, product_id, body)
    return present_merchant_product(await reading.view_of(session, product))


@router.post(
    "/merchant/products/{product_id}/skus", status_code=201, summary="Add a SKU to a product"
)
async def add_sku(
    product_id: PathId, body: SkuIn, session: DbSession, actor: Manager
) -> MerchantSkuOut:
    return MerchantSkuOut.model_validate(await products.add_sku(session, actor, product_id, body))


@router.put("/merchant/skus/{sku_id}/price", summary="Change a SKU's price (kept in its history)")
async def change_price(
    sku_id: PathId, body: PriceIn, session: DbSession, actor: Manager
) -> MerchantSkuOut:
    sku = await prices.change_price(session, actor, sku_id, body.price_fen, source="api")
    return MerchantSkuOut.model_validate(sku)


@router.get("/merchant/skus/{sku_id}/prices", summary="Every price a SKU has had")
async def price_history(sku_id: PathId, session: DbSession, actor: Reader) -> list[PriceChangeOut]:
    return [
        PriceChangeOut.model_validate(r) for r in await prices.price_history(session, actor, sku_id)
    ]


@router.post(
    "/merchant/skus/{sku_id}/stock-adjustments",
    summary="Add to or take from the stock (refused if it would go below zero)",
)
async def adjust_stock(
    sku_id: PathId, body: StockAdjustIn, session: DbSession, actor: Manager
) -> StockOut:
    stock = await stock_admin.adjust_stock(session, actor, sku_id, body.delta)
    return StockOut(sku_id=sku_id, stock=stock)


@router.put("/merchant/skus/{sku_id}/stock", summary="Set the stock to a counted number")
async def set_stock(
    sku_id: PathId, body: StockSetIn, session: DbSession, actor: Manager
) -> StockOut:
    stock = await stock_admin.set_stock(session, actor, sku_id, body.stock)
    return StockOut(sku_id=sku_id, stock=stock)


@router.post(
    "/merchant/products/{product_id}/list",
    summary="Put a product on sale (checks the merchant and the negative list)",
)
async def list_product(
    product_id: PathId, session: DbSession, actor: Manager
) -> MerchantProductOut:
    product = await products.list_product(session, actor, product_id)
    return present_merchant_product(await reading.view_of(session, product))


@router.post(
    "/merchant/products/{product_id}/delist",
    summary="Take a product off sale (its merchant, or a platform reviewer)",
)
async def delist_product(
    product_id: PathId, session: DbSession, actor: Delister
) -> MerchantProductOut:
    product = await products.delist_product(session, actor, product_id)
    return present_merchant_product(await reading.view_of(session, product))


@router.post(
    "/merchant/products/{product_id}/images",
    status_code=201,
    summary="Upload a JPEG, PNG or WebP image (at most 5 MB); a 320 px thumbnail is made",
)
async def upload_image(
    product_id: PathId,
    request: Request,
    session: DbSession,
    actor: Manager,
    file: Annotated[UploadFile, File(description="The image")],
) -> ImageOut:
    data = await files.read_upload(file)
    image = await images.add_image(
        session,
        actor,
        request.app.state.file_store,
        product_id,
        data,
        filename=file.filename or "image",
    )
    return ImageOut(
        id=image.id,
        url=file_url(image.file_id),
        thumbnail_url=file_url(image.thumbnail_file_id),
        position=image.position,
    )
