"""The community API contract: communities, pickup points, leaders, residences."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linli.apitypes import MAX_ID, RegionCode
from linli.community.models import MAX_COMMISSION_BP
from linli.schemas import OutputModel, StrictInput

Hours = Field(
    pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
    description="Opening hours, e.g. 08:00-20:00",
)


class CommunityIn(StrictInput):
    name: str = Field(min_length=2, max_length=80)
    province_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    city_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    district_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    address: str = Field(min_length=2, max_length=200)
    latitude: float = Field(ge=3.0, le=54.0, description="WGS-84; mainland China's range")
    longitude: float = Field(ge=73.0, le=136.0)


class PickupPointOut(OutputModel):
    id: int
    community_id: int
    name: str
    address: str
    opening_hours: str
    daily_capacity: int
    leader_name: str | None
    active: bool


class CommunityOut(OutputModel):
    id: int
    name: str
    province_code: str
    city_code: str
    district_code: str
    address: str
    latitude: float
    longitude: float
    pickup_points: list[PickupPointOut]


class ResidenceIn(StrictInput):
    community_id: int = Field(ge=1, le=MAX_ID)
    pickup_point_id: int = Field(ge=1, le=MAX_ID)


class ResidenceOut(OutputModel):
    community_id: int
    community_name: str
    pickup_point: PickupPointOut
    joined_at: datetime


class LeaderApplicationIn(StrictInput):
    community_id: int = Field(ge=1, le=MAX_ID)
    point_name: str = Field(min_length=2, max_length=80)
    point_address: str = Field(min_length=2, max_length=200)
    opening_hours: str = Hours
    daily_capacity: int = Field(ge=1, le=10_000)
    motivation: str = Field(default="", max_length=2000)


class LeaderApplicationOut(OutputModel):
    id: int
    user_id: int
    community_id: int
    point_name: str
    point_address: str
    opening_hours: str
    daily_capacity: int
    motivation: str
    status: str
    commission_bp: int | None
    decision_reason: str | None
    pickup_point_id: int | None
    created_at: datetime


class LeaderDecisionIn(StrictInput):
    approve: bool
    commission_bp: int | None = Field(
        default=None,
        ge=0,
        le=MAX_COMMISSION_BP,
        description="Commission in basis points of goods picked up (500 = 5 %)",
    )
    reason: str | None = Field(default=None, max_length=500)
