from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.money import format_fen, parse_yuan

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (5, "¥0.05"), (12345, "¥123.45"), (123456789, "¥1,234,567.89"), (-5, "-¥0.05")],
)
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@pytest.mark.parametrize(
    ("text", "fen"), [("12.3", 1230), ("¥1,234.50", 123450), ("0.01", 1), (" 7 ", 700)]
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    "text", ["", "abc", "1.234", "NaN", "Infinity", "1e400.5", "1e1000000", "-9e99"]
)
def test_parse_yuan_refuses_what_is_not_money(text: str) -> None:
    with pytest.raises(ValueError, match=r"money|decimals"):
        parse_yuan(text)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_then_parse_round_trips(fen: int) -> None:
    assert parse_yuan(format_fen(fen).replace("-¥", "-")) == fen
