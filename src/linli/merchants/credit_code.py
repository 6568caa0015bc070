"""Unified social credit codes (统一社会信用代码, GB 32100-2015) with the GB 11714 check.

Every problem is reported with the position it concerns, so a form can say what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linli.i18n import N_, Message

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_VALUE = {char: index for index, char in enumerate(CHARSET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, ...
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
LENGTH = 18


@dataclass(frozen=True)
class CreditCodeProblem:
    code: str  # length | character | organisation_check | check
    position: int | None  # 1-based; None for the length
    message: Message


@dataclass(frozen=True)
class CreditCodeCheck:
    normalized: str
    problems: list[CreditCodeProblem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def normalize(raw: str) -> str:
    return "".join(raw.split()).upper()


def check_character(first17: str) -> str:
    """The 18th character for 17 valid characters."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def organisation_check_character(org8: str) -> str | None:
    """GB 11714 check for positions 9-16; None when they hold letters GB 11714 cannot weigh."""
    total = 0
    for char, weight in zip(org8, ORG_WEIGHTS, strict=True):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            return None
        total += value * weight
    remainder = 11 - total % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def validate(raw: str) -> CreditCodeCheck:
    code = normalize(raw)
    problems: list[CreditCodeProblem] = []
    if len(code) != LENGTH:
        problems.append(
            CreditCodeProblem(
                "length",
                None,
                Message(
                    N_("A unified social credit code has 18 characters; this one has {count}."),
                    {"count": len(code)},
                ),
            )
        )
    for position, char in enumerate(code[:LENGTH], start=1):
        if char not in _VALUE:
            problems.append(
                CreditCodeProblem(
                    "character",
                    position,
                    Message(
                        N_("Position {position}: '{char}' is never used (no I, O, Z, S, V)."),
                        {"position": position, "char": char},
                    ),
                )
            )
    if problems:
        return CreditCodeCheck(code, problems)
    expected_org = organisation_check_character(code[8:16])
    if expected_org is not None and code[16] != expected_org:
        problems.append(
            CreditCodeProblem(
                "organisation_check",
                17,
                Message(
                    N_(
                        "Position 17: the organisation code check (GB 11714) should be "
                        "{expected}, not {actual}."
                    ),
                    {"expected": expected_org, "actual": code[16]},
                ),
            )
        )
    expected = check_character(code[:17])
    if code[17] != expected:
        problems.append(
            CreditCodeProblem(
                "check",
                18,
                Message(
                    N_("Position 18: the check character should be {expected}, not {actual}."),
                    {"expected": expected, "actual": code[17]},
                ),
            )
        )
    return CreditCodeCheck(code, problems)


def complete(first16: str) -> str:
    """A valid code from its first 16 characters: both check characters computed."""
    first17 = first16 + (organisation_check_character(first16[8:16]) or "0")
    return first17 + check_character(first17)
