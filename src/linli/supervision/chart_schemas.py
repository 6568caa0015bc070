"""Bodies of the chart API (/api/v1/supervision/charts/...): the figures behind the
regulator's charts, and the basket of necessities behind the price index."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from linli.apitypes import MAX_ID
from linli.schemas import OutputModel, StrictInput
from linli.supervision.basket_service import MAX_ITEMS, MAX_QUANTITY


class AlertSeriesOut(OutputModel):
    rule_id: str
    title: str
    counts: list[int]


class AlertsByDayOut(OutputModel):
    days: list[date]
    series: list[AlertSeriesOut]


class ComplaintTrendOut(OutputModel):
    days: list[date]
    complaints: list[int]
    orders: list[int]
    rates_pct: list[Decimal | None]
    window_days: int
    threshold_pct: Decimal


class EmergencyWindowOut(OutputModel):
    id: int
    title: str
    starts_at: datetime
    ends_at: datetime


class BasketLineOut(OutputModel):
    sku_id: int
    product: str
    sku_code: str
    merchant: str
    quantity: int
    base_price_fen: int | None
    last_price_fen: int | None


class PriceIndexOut(OutputModel):
    title: str
    base_date: date | None
    days: list[date]
    index: list[Decimal | None]
    in_emergency: list[bool]
    emergencies: list[EmergencyWindowOut]
    basket: list[BasketLineOut]


class BasketItemIn(StrictInput):
    sku_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class BasketIn(StrictInput):
    title: str = Field(min_length=1, max_length=120)
    base_date: date
    items: list[BasketItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class BasketItemOut(OutputModel):
    sku_id: int
    quantity: int


class BasketOut(OutputModel):
    """The basket; before a supervisor sets the first, an empty one (no base date)."""

    title: str
    base_date: date | None
    updated_at: datetime | None
    items: list[BasketItemOut]
