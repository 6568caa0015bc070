"""Mainland China mobile numbers: validation, normalisation to +86, masking."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-()（）]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)


def normalize_mobile(raw: str) -> str | None:
    """'138 0013 8000', '+86 13800138000', '008613800138000' -> '+8613800138000'; else None.

    NFKC first (full-width '１３８…' is the same number as '138…'), then ASCII digits only:
    other scripts' digits ('١٣٨…') are refused, so no look-alike of an account can sign up."""
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip())
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.fullmatch(digits):
        return None
    return f"+86{digits}"


def national_number(phone: str) -> str:
    return phone[3:] if phone.startswith("+86") else phone


def mask_phone(phone: str) -> str:
    """'+8613812341234' -> '138****1234', for everyone but the owner and who must call them."""
    national = national_number(phone)
    if len(national) != 11:
        return "*" * len(national)
    return f"{national[:3]}****{national[-4:]}"
