"""Pickup codes: the six digits a resident shows at their pickup point to collect what waits
for them there (group-buy orders, live orders). Shared by the selling domains that hand over
at a point, so each draws and reads codes the same way; each keeps its codes unique among its
own live ones at a point (a partial unique index is the last word)."""

from __future__ import annotations

import secrets

from linli.errors import ValidationFailed
from linli.i18n import N_

CODE_DIGITS = 6


def new_code(taken: set[str]) -> str:
    """Six random digits not live at this pickup point (a unique index is the last word)."""
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if code not in taken:
            taken.add(code)
            return code


def normalise_code(text: str) -> str:
    """A typed or scanned code: digits only (spaces and dashes dropped), six of them."""
    digits = "".join(ch for ch in text.strip() if ch not in " -")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise ValidationFailed(
            N_("Check the pickup code."),
            fields={"code": N_("Enter the six digits of the pickup code.")},
            code="bad_pickup_code",
        )
    return digits
