"""The catalogue API contract: products, SKUs, prices in fen, stock, images, search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from linli.i18n import N_
from linli.schemas import OutputModel, StrictInput, reject_control_characters

# Bounds keep every number inside a 32-bit INTEGER column, even after an adjustment.
MAX_PRICE_FEN = 1_000_000_000  # ¥10,000,000.00
MAX_STOCK = 1_000_000_000
MAX_SHELF_LIFE_DAYS = 36_500
MAX_QUERY_LENGTH = 100

StorageClass = Literal["ambient", "chilled", "frozen"]
ConsumptionType = Literal[
    "information", "smart", "health", "essentials", "culture_tourism", "education", "medical"
]
ProductStatus = Literal["draft", "listed", "delisted"]
Badge = Literal["export_quality"]
PriceSource = Literal["create", "edit", "api", "import"]


def _not_a_boolean(value: Any) -> Any:
    """true is not 1: a count sent as a boolean is a bug in the sender, not a quantity."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


# Prices are strict integers (no "12", 12.0 or true): fen only, never a guess.
Fen = Annotated[int, Field(strict=True, ge=1, le=MAX_PRICE_FEN, description="Fen (1/100 yuan)")]
Count = Annotated[int, BeforeValidator(_not_a_boolean)]

SpecName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
SpecValue = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]

# Labels shown for the fixed vocabularies (translated where they are shown).
CONSUMPTION_LABELS: dict[str, str] = {
    "information": N_("Information consumption"),
    "smart": N_("Smart consumption"),
    "health": N_("Health consumption"),
    "essentials": N_("Daily essentials"),
    "culture_tourism": N_("Culture and tourism"),
    "education": N_("Education services"),
    "medical": N_("Medical services"),
}
STORAGE_LABELS: dict[str, str] = {
    "ambient": N_("Ambient"),
    "chilled": N_("Chilled"),
    "frozen": N_("Frozen"),
}
STATUS_LABELS: dict[str, str] = {
    "draft": N_("Draft"),
    "listed": N_("Listed"),
    "delisted": N_("Delisted"),
}
PRICE_SOURCE_LABELS: dict[str, str] = {
    "create": N_("set when created"),
    "edit": N_("changed in the console"),
    "api": N_("changed through the API"),
    "import": N_("imported"),
}
BADGE_LABELS: dict[str, str] = {
    "export_quality": N_("Export quality (three same)"),
}


class Strict(StrictInput):
    pass


# --- input --------------------------------------------------------------------------------


class SkuIn(Strict):
    code: str = Field(min_length=1, max_length=40, description="Your code for this variant")
    specs: dict[SpecName, SpecValue] = Field(
        default_factory=dict,
        max_length=20,
        description="Spec attributes, e.g. {'weight': '5 kg', 'size': '80 mm'}",
    )
    price_fen: Fen
    stock: Count = Field(default=0, ge=0, le=MAX_STOCK)

    @field_validator("specs", mode="after")
    @classmethod
    def _specs_are_plain_text(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            reject_control_characters(name)
            reject_control_characters(text)
        return value


class ProductFields(Strict):
    category: str = Field(min_length=1, max_length=40, description="Category code")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=5000)
    unit: str = Field(min_length=1, max_length=20, description="Sales unit, e.g. 箱, kg, 件")
    shelf_life_days: Count | None = Field(default=None, ge=1, le=MAX_SHELF_LIFE_DAYS)
    storage_class: StorageClass = "ambient"
    origin: str = Field(default="", max_length=120, description="Place of origin")
    gtin: str | None = Field(
        default=None, max_length=14, description="GTIN-8/12/13/14 barcode with its check digit"
    )


class ProductCreateIn(ProductFields):
    sku: SkuIn = Field(description="The first SKU (more can be added later)")


class ProductUpdateIn(Strict):
    """Only the fields sent are changed; send null to clear shelf life or GTIN."""

    category: str | None = Field(default=None, min_length=1, max_length=40)
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    shelf_life_days: Count | None = Field(default=None, ge=1, le=MAX_SHELF_LIFE_DAYS)
    storage_class: StorageClass | None = None
    origin: str | None = Field(default=None, max_length=120)
    gtin: str | None = Field(default=None, max_length=14)

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class PriceIn(Strict):
    price_fen: Fen


class StockAdjustIn(Strict):
    delta: Count = Field(
        ge=-MAX_STOCK, le=MAX_STOCK, description="Added to the stock; negative to take away"
    )


class StockSetIn(Strict):
    stock: Count = Field(ge=0, le=MAX_STOCK)


# --- output -------------------------------------------------------------------------------


class CategoryOut(OutputModel):
    id: int
    code: str
    parent_code: str | None
    consumption_type: ConsumptionType
    name_en: str
    name_zh: str
    name: str = Field(description="In the requested language")


class CategoryBrief(BaseModel):
    code: str
    name: str
    consumption_type: ConsumptionType


class MerchantBrief(BaseModel):
    id: int
    name: str
    url: str = Field(description="The merchant's public page")


class SkuOut(OutputModel):
    id: int
    code: str
    specs: dict[str, str]
    price_fen: int
    # From a SKU row: its stock count, which only its merchant sees, read as a yes or no.
    in_stock: bool = Field(validation_alias=AliasChoices("in_stock", "stock"))

    @field_validator("in_stock", mode="before")
    @classmethod
    def _count_to_flag(cls, value: object) -> object:
        return value > 0 if type(value) is int else value


class MerchantSkuOut(SkuOut):
    stock: int
    created_at: datetime


class ImageOut(BaseModel):
    id: int
    url: str
    thumbnail_url: str
    position: int


class _ProductCore(OutputModel):
    id: int
    name: str
    unit: str
    origin: str
    storage_class: StorageClass
    category: CategoryBrief
    merchant: MerchantBrief
    price_min_fen: int | None
    price_max_fen: int | None
    thumbnail_url: str | None
    badges: list[Badge]


class _ProductDetail(_ProductCore):
    description: str
    shelf_life_days: int | None
    gtin: str | None
    images: list[ImageOut]


class ProductCard(_ProductCore):
    """A product as search lists it."""

    skus: list[SkuOut]


class ProductOut(_ProductDetail):
    """A listed product as anyone may see it."""

    skus: list[SkuOut]


class MerchantProductOut(_ProductDetail):
    """One of your organisation's products, drafts included, with stock."""

    status: ProductStatus
    created_at: datetime
    updated_at: datetime
    skus: list[MerchantSkuOut]


class ProductPage(BaseModel):
    items: list[ProductCard]
    total: int
    limit: int
    offset: int


class MerchantProductPage(BaseModel):
    items: list[MerchantProductOut]
    total: int
    limit: int
    offset: int


class StockOut(BaseModel):
    sku_id: int
    stock: int


class PriceChangeOut(OutputModel):
    id: int
    sku_id: int
    old_price_fen: int | None
    new_price_fen: int
    changed_at: datetime
    user_id: int | None
    organisation_id: int | None
    source: PriceSource
