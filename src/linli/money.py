"""Money is integer fen (1/100 yuan) everywhere; these are the only conversions."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
MAX_YUAN = Decimal(10) ** 15  # far beyond any price; keeps "1e1000000" from overflowing


def format_fen(fen: int) -> str:
    """12345 -> '¥123.45'; -5 -> '-¥0.05'."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def parse_yuan(text: str) -> int:
    """'12.3' -> 1230 fen. Refuses more than two decimals rather than rounding silently."""
    cleaned = text.strip().replace("¥", "").replace(",", "").replace("，", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount of money: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not an amount of money: {text!r}")
    if value.copy_abs() >= MAX_YUAN:  # copy_abs needs no context, so it cannot overflow
        raise ValueError(f"not an amount of money: {text!r}")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals: {text!r}")
    return int(fen.quantize(Decimal(1), rounding=ROUND_HALF_UP))
