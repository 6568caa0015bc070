"""Output models read rows by attribute; a presenter's own values are never read from the row."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from linli.schemas import OutputModel

pytestmark = pytest.mark.database_free


class OrderBody(OutputModel):
    id: int
    total_fen: int
    pickup_code: str | None


@dataclass
class OrderRow:
    id: int
    total_fen: int
    secret_note: str = "not in the body"

    @property
    def pickup_code(self) -> str:
        raise AssertionError("a value the presenter gives is never read from the row")


def test_model_validate_reads_attributes() -> None:
    class Plain(OutputModel):
        id: int
        total_fen: int

    assert Plain.model_validate(OrderRow(1, 200)).model_dump() == {"id": 1, "total_fen": 200}


def test_from_row_reads_only_the_model_fields_and_lets_values_win() -> None:
    body = OrderBody.from_row(OrderRow(1, 200), pickup_code=None)
    assert body.model_dump() == {"id": 1, "total_fen": 200, "pickup_code": None}
    body = OrderBody.from_row(OrderRow(1, 200), pickup_code="123456", total_fen=0)
    assert (body.pickup_code, body.total_fen) == ("123456", 0)


def test_from_row_refuses_a_body_missing_a_field() -> None:
    @dataclass
    class Bare:
        id: int

    with pytest.raises(ValidationError):
        OrderBody.from_row(Bare(1), pickup_code=None)
