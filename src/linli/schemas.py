"""Base models for API input and output shared by every domain."""

from __future__ import annotations

from typing import Any, Self

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

    A body that adds values the row does not hold (a name from another table, a URL, a text
    in the reader's language) is built by a route's `present_<thing>` function with
    `Model.from_row(row, **values)`.
    """

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_row(cls, row: object, /, **values: Any) -> Self:
        """The model's fields read from `row`, except those given in `values`.

        Only the model's own fields are read, so nothing else on the row reaches the body;
        a field named in `values` is never read from the row (a relationship stays unloaded,
        a secret such as a pickup code stays out unless the presenter passes it).
        """
        own = {
            name: getattr(row, name)
            for name in cls.model_fields
            if name not in values and hasattr(row, name)
        }
        return cls.model_validate(own | values)
