"""Merchant onboarding: applications, licences, verified profiles, export certifications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, JSONData, UTCDateTime
from linli.reviews import ReviewStatus

LICENCE_TYPES = (
    "business_licence",
    "food_business",
    "medical_device_business",
    "medical_institution",
    "training_school",
)


class MerchantApplication(Base):
    __tablename__ = "merchant_applications"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="status"),
        CheckConstraint("kind IN ('merchant', 'supplier')", name="kind"),
        Index("ix_merchant_applications_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    applicant_user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10), default="merchant")
    foreign_trade: Mapped[bool] = mapped_column(Boolean, default=False)
    company_name: Mapped[str] = mapped_column(String(120))
    credit_code: Mapped[str] = mapped_column(String(18), index=True)
    legal_representative: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(200))
    province_code: Mapped[str] = mapped_column(String(6))
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str] = mapped_column(String(6))
    business_scope: Mapped[list[Any]] = mapped_column(JSONData)
    contact_name: Mapped[str] = mapped_column(String(60))
    contact_phone: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.SUBMITTED)
    rule_id: Mapped[str] = mapped_column(String(80))
    rule_version: Mapped[int]
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Licence(Base):
    """A licence on file: first attached to an application, then to the organisation."""

    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchant_applications.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    licence_type: Mapped[str] = mapped_column(String(30))
    number: Mapped[str] = mapped_column(String(60))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MerchantProfile(Base):
    """The verified identity of an approved merchant or supplier organisation."""

    __tablename__ = "merchant_profiles"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[int] = mapped_column(ForeignKey("merchant_applications.id"))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    legal_representative: Mapped[str] = mapped_column(String(60))
    address: Mapped[str] = mapped_column(String(200))
    business_scope: Mapped[list[Any]] = mapped_column(JSONData)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_verification_due: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    listings_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(String(200))
    # The public after-sales line shown on the merchant's page and in its live rooms (SAMR
    # guidance 2020 No. 175); never the applicant's contact phone.
    after_sales_phone: Mapped[str | None] = mapped_column(String(16))
    after_sales_terms: Mapped[str | None] = mapped_column(String(300))


class ThreeSameCertification(Base):
    """同线同标同质: same line, same standard, same quality as the enterprise's exports."""

    __tablename__ = "three_same_certifications"
    __table_args__ = (
        CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected', 'revoked')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    export_standard: Mapped[str] = mapped_column(String(200))
    destination_markets: Mapped[list[Any]] = mapped_column(JSONData)
    production_line: Mapped[str] = mapped_column(String(200))
    certificates: Mapped[list[Any]] = mapped_column(JSONData)
    evidence_file_ids: Mapped[list[Any]] = mapped_column(JSONData)
    status: Mapped[str] = mapped_column(String(10), default=ReviewStatus.SUBMITTED)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
