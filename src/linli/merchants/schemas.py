"""The merchants API contract: onboarding, licences, profiles, export certification."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from linli.apitypes import MAX_ID, RegionCode
from linli.schemas import OutputModel, StrictInput

LicenceType = Literal[
    "business_licence",
    "food_business",
    "medical_device_business",
    "medical_institution",
    "training_school",
]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]
ShortText = Annotated[str, Field(min_length=1, max_length=100)]
FileId = Annotated[int, Field(ge=1, le=MAX_ID)]


class CreditCodeError(BaseModel):
    code: Literal["length", "character", "organisation_check", "check"]
    position: int | None = Field(description="1-based position; null for the length")
    message: str


class CreditCodeCheckOut(BaseModel):
    valid: bool
    normalized: str
    errors: list[CreditCodeError]


class UploadedFileOut(OutputModel):
    id: int
    content_type: str
    size: int
    original_name: str


class LicenceIn(StrictInput):
    licence_type: LicenceType
    number: str = Field(min_length=1, max_length=60)
    valid_from: date
    valid_to: date
    file_id: int = Field(ge=1, le=MAX_ID, description="From POST /api/v1/merchants/files")


class LicenceOut(OutputModel):
    id: int
    licence_type: str
    number: str
    valid_from: date
    valid_to: date
    file_id: int


class ApplicationIn(StrictInput):
    kind: Literal["merchant", "supplier"] = "merchant"
    foreign_trade: bool = False
    company_name: str = Field(min_length=2, max_length=120)
    credit_code: str = Field(min_length=1, max_length=40)
    legal_representative: str = Field(min_length=1, max_length=60)
    address: str = Field(min_length=2, max_length=200)
    province_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    city_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    district_code: RegionCode = Field(description="6-digit GB/T 2260 code")
    business_scope: list[Code] = Field(min_length=1, max_length=30)
    contact_name: str = Field(min_length=1, max_length=60)
    contact_phone: str = Field(min_length=1, max_length=32)
    licences: list[LicenceIn] = Field(min_length=1, max_length=10)


class ApplicationOut(OutputModel):
    id: int
    status: Literal["submitted", "approved", "rejected"]
    kind: str
    foreign_trade: bool
    company_name: str
    credit_code: str
    legal_representative: str
    address: str
    province_code: str
    city_code: str
    district_code: str
    business_scope: list[str]
    contact_name: str
    contact_phone: str
    rule_id: str
    rule_version: int
    decision_reason: str | None
    reviewed_at: datetime | None
    organisation_id: int | None
    created_at: datetime
    licences: list[LicenceOut]


class DecisionIn(StrictInput):
    approve: bool
    reason: str | None = Field(default=None, max_length=500)


class ReverifyIn(StrictInput):
    note: str | None = Field(default=None, max_length=500)


class ProfileOut(BaseModel):
    """What anyone may see of a verified merchant."""

    organisation_id: int
    name: str
    kind: str
    foreign_trade: bool
    credit_code: str
    legal_representative: str
    region: list[str]
    business_scope: list[str]
    verified_at: datetime
    listings_paused: bool
    badges: list[str]
    credit_grade: str | None = Field(description="Published credit grade, once rated")
    after_sales_phone: str | None = Field(
        default=None, description="Public after-sales line; null: none on file"
    )
    after_sales_terms: str | None = None


class AfterSalesIn(StrictInput):
    """The merchant's public after-sales contact: a mainland mobile service line (normalised
    to +86…) and optional short terms; never the applicant's contact phone."""

    phone: str = Field(min_length=1, max_length=32, description="Service phone, e.g. 13800138000")
    terms: str | None = Field(
        default=None, max_length=300, description="Short after-sales terms, shown publicly"
    )


class AfterSalesOut(BaseModel):
    phone: str | None
    terms: str | None


class CertificationIn(StrictInput):
    export_standard: str = Field(min_length=2, max_length=200)
    destination_markets: list[ShortText] = Field(min_length=1, max_length=30)
    production_line: str = Field(min_length=2, max_length=200)
    certificates: list[ShortText] = Field(default_factory=list, max_length=20)
    evidence_file_ids: list[FileId] = Field(min_length=1, max_length=10)


class CertificationOut(OutputModel):
    id: int
    organisation_id: int
    export_standard: str
    destination_markets: list[str]
    production_line: str
    certificates: list[str]
    evidence_file_ids: list[int]
    status: str
    valid_from: datetime | None
    valid_to: datetime | None
    decision_reason: str | None
    created_at: datetime
