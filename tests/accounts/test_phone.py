from __future__ import annotations

import pytest

from linli.phone import mask_phone, normalize_mobile

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("8619912345678", "+8619912345678"),
    ],
)
def test_mainland_mobiles_are_normalised_to_plus_86(raw: str, expected: str) -> None:
    assert normalize_mobile(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12345678901",
        "1380013800",
        "138001380001",
        "02112345678",
        "+85291234567",
        "1380013800a",
        "+86 12800138000",
    ],
)
def test_anything_else_is_refused(raw: str) -> None:
    assert normalize_mobile(raw) is None


def test_masking_keeps_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("+8613812341234") == "138****1234"


def test_full_width_digits_are_the_same_number_after_nfkc() -> None:
    assert normalize_mobile("１３８００１３８０００") == "+8613800138000"
    assert normalize_mobile("＋８６ １３８ ００１３ ８０００") == "+8613800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits
        "১৩৮০০১৩৮০০০",  # Bengali digits
        "13800138٠٠٠",  # mixed
    ],
)
def test_other_scripts_digits_are_refused(raw: str) -> None:
    assert normalize_mobile(raw) is None
