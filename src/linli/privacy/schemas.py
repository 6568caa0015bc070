"""The privacy API's contract: the export document, closing the account, the retention rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from linli.schemas import OutputModel, StrictInput


class CloseAccountIn(StrictInput):
    password: str = Field(min_length=1, max_length=256, description="Your password, again")
    confirm: bool = Field(
        description="true: I understand my account closes for good and cannot be reopened"
    )


class ClosureOut(OutputModel):
    user_id: int
    closed_at: datetime
    last_transaction_at: datetime | None = Field(
        description="When the last of your transaction records was completed"
    )
    retain_until: datetime = Field(
        description="Your transaction records are kept until then, and then erased for good"
    )
    rule_id: str
    rule_version: int


class RetentionOut(OutputModel):
    rule_id: str
    version: int
    title: str
    legal_basis: str
    years: int = Field(description="Years transaction records are kept after completion")


class PersonalDataExport(OutputModel):
    format: str = Field(description="Always 'linli.personal-data-export'")
    version: int
    exported_at: datetime
    user_id: int
    sections: dict[str, Any] = Field(
        description="One section per domain: account, community, groupbuy, payments, "
        "protection (returns, complaints, reviews), notifications"
    )
