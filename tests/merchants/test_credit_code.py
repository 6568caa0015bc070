from __future__ import annotations

import httpx
import pytest

from linli.merchants.credit_code import CHARSET, check_character, validate


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110108551385082Q", "91440300708461136T"])
def test_the_rules_examples_are_valid(code: str) -> None:
    result = validate(code)
    assert result.valid
    assert result.normalized == code


def test_lower_case_and_spaces_are_normalised() -> None:
    result = validate(" 91350100m000100y43 ")
    assert result.valid
    assert result.normalized == "91350100M000100Y43"


def test_wrong_length_says_how_long_it_is() -> None:
    result = validate("91350100M000100Y4")
    assert [(p.code, p.position) for p in result.problems] == [("length", None)]
    assert result.problems[0].message.render() == (
        "A unified social credit code has 18 characters; this one has 17."
    )


def test_forbidden_characters_name_their_position() -> None:
    result = validate("91350100M0001O0Y43")
    assert [(p.code, p.position) for p in result.problems] == [("character", 14)]
    assert "Position 14: 'O'" in result.problems[0].message.render()
    assert [p.code for p in validate("9135-100M000100Y43").problems] == ["character"]


def test_wrong_check_character_names_position_18_and_the_right_one() -> None:
    result = validate("91350100M000100Y44")
    assert [(p.code, p.position) for p in result.problems] == [("check", 18)]
    assert result.problems[0].message.render() == (
        "Position 18: the check character should be 3, not 4."
    )


def test_wrong_organisation_code_check_is_its_own_error() -> None:
    # Position 17 changed from 4 to 5 and position 18 recomputed: only GB 11714 fails.
    first17 = "91350100M000100Y5"
    code = first17 + check_character(first17)
    result = validate(code)
    assert [(p.code, p.position) for p in result.problems] == [("organisation_check", 17)]
    assert "should be 4, not 5" in result.problems[0].message.render()


def test_charset_has_no_ambiguous_letters() -> None:
    assert len(CHARSET) == 31
    assert not set("IOZSV") & set(CHARSET)


async def test_public_check_endpoint(client: httpx.AsyncClient) -> None:
    ok = await client.get("/api/v1/credit-codes/91350100m000100y43")
    assert ok.status_code == 200
    assert ok.json() == {"valid": True, "normalized": "91350100M000100Y43", "errors": []}
    bad = await client.get("/api/v1/credit-codes/91350100M000100Y44")
    assert bad.json()["valid"] is False
    assert bad.json()["errors"] == [
        {
            "code": "check",
            "position": 18,
            "message": "Position 18: the check character should be 3, not 4.",
        }
    ]
    zh = await client.get("/api/v1/credit-codes/123", headers={"Accept-Language": "zh-CN"})
    assert zh.json()["errors"][0]["code"] == "length"
    too_long = await client.get("/api/v1/credit-codes/" + "9" * 100)
    assert too_long.status_code == 422


def test_complete_computes_both_check_characters() -> None:
    from linli.merchants.credit_code import complete

    assert complete("91350100M000100Y") == "91350100M000100Y43"
    assert validate(complete("9131011500000042")).valid
