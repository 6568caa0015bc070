"""Base models for API input and output shared by every domain."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError


def reject_control_characters(value: Any) -> Any:
    """NUL and other C0 controls (except tab and newlines) are never valid text here."""
    if isinstance(value, str) and any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        raise PydanticCustomError("control_characters", "control characters are not allowed")
    if isinstance(value, list):
        for item in value:
            reject_control_characters(item)
    return value


class StrictInput(BaseModel):
    """Unknown fields are refused; text is stripped and may not hold control characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        return reject_control_characters(value)


class OutputModel(BaseModel):
    """A response body read from a row or a read model by attribute: `Model.model_validate(row)`.

    Only where a body combines several sources (or derives a value no attribute holds) does a
    route build it by hand, in a function named `present_<thing>`.
    """

    model_config = ConfigDict(from_attributes=True)
