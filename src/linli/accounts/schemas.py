"""The accounts API contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from linli.apitypes import MAX_ID, RegionCode
from linli.schemas import OutputModel, StrictInput

OrganisationKind = Literal["merchant", "supplier", "regulator", "platform"]
Role = Literal["owner", "staff", "inspector", "supervisor", "operator", "admin"]


class Strict(StrictInput):
    pass


class SignupIn(Strict):
    phone: str = Field(max_length=32, description="Mainland mobile number, e.g. 13800138000")
    password: str = Field(max_length=256)
    display_name: str = Field(min_length=1, max_length=60)


class LoginIn(Strict):
    phone: str = Field(max_length=32)
    password: str = Field(max_length=256)


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)
    revoke_tokens: bool = Field(
        default=False,
        description="Also revoke every API token of mine (a password change ends my other "
        "browser sessions, but not API tokens unless this is set)",
    )


class ProfileIn(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=60)
    locale: Literal["en", "zh_Hans"] | None = None


class ActiveOrganisationIn(Strict):
    organisation_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class OrganisationBrief(OutputModel):
    id: int
    kind: OrganisationKind
    name: str
    roles: list[Role]


class MeOut(OutputModel):
    id: int
    phone: str
    display_name: str
    locale: str | None
    created_at: datetime
    active_organisation: OrganisationBrief | None
    organisations: list[OrganisationBrief]


class UserOut(OutputModel):
    id: int
    phone: str
    display_name: str
    created_at: datetime


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=80)
    organisation_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    scopes: list[str] = Field(min_length=1, max_length=10)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(OutputModel):
    id: int
    name: str
    hint: str
    organisation_id: int | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="Shown once; store it now")


class OrganisationIn(Strict):
    kind: OrganisationKind
    name: str = Field(min_length=2, max_length=120)
    foreign_trade: bool = False
    province_code: RegionCode | None = Field(default=None, description="6-digit GB/T 2260 code")
    city_code: RegionCode | None = Field(default=None, description="6-digit GB/T 2260 code")
    district_code: RegionCode | None = Field(default=None, description="6-digit GB/T 2260 code")


class OrganisationOut(OutputModel):
    id: int
    kind: OrganisationKind
    name: str
    foreign_trade: bool
    province_code: str | None
    city_code: str | None
    district_code: str | None
    created_at: datetime


class MemberIn(Strict):
    phone: str = Field(max_length=32)
    role: Role


class MemberOut(BaseModel):
    user_id: int
    display_name: str
    phone: str = Field(description="Masked unless it is your own")
    roles: list[Role]
