"""GTIN barcodes (GTIN-8, -12, -13, -14) with the GS1 mod-10 check digit."""

from __future__ import annotations

from linli.i18n import N_, Message

LENGTHS = (8, 12, 13, 14)


def check_digit(body: str) -> int:
    """GS1 check digit for the digits before it: weights 3, 1, 3, ... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_problem(raw: str) -> Message | None:
    """None for a valid GTIN, else what is wrong with it."""
    code = raw.strip()
    if not code.isascii() or not code.isdigit():
        return Message(N_("A GTIN has only digits."))
    if len(code) not in LENGTHS:
        return Message(
            N_("A GTIN has 8, 12, 13 or 14 digits; this one has {count}."), {"count": len(code)}
        )
    expected = check_digit(code[:-1])
    if int(code[-1]) != expected:
        return Message(
            N_("The last digit (check digit) should be {expected}."), {"expected": expected}
        )
    return None


def as_gtin14(code: str) -> str:
    """Zero-padded to 14 digits, the form EPCIS and GS1 Digital Link use."""
    return code.strip().zfill(14)
