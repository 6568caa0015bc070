"""Pickup codes: the six digits a resident shows at their pickup point to collect what waits
for them there (group-buy orders, live orders). Shared by the selling domains that hand over
at a point, so each draws and reads codes the same way; each keeps its codes unique among its
own live ones at a point (a partial unique index is the last word)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from linli.authz import Actor
from linli.errors import DomainError, NotFound, ValidationFailed
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


# --- one desk for the leader: the selling domains' hand-overs by code --------------------------
#
# Group buying and live selling may not import each other; each registers here (dependency
# inversion, as `personal_data` does) what it has waiting at a point under a code, and how to
# hand it over through its own service. The leader's pickup desk asks every other domain for
# a code its own orders do not know, and each domain draws new codes outside the codes the
# others have waiting at the point (docs/decisions.md "One desk for the leader's hand-overs").


@dataclass(frozen=True)
class WaitingElsewhere:
    """Something of another domain waiting at the point under the code, as the desk shows it."""

    kind: str  # "live", ...
    label: str  # what it is, untranslated (N_): the page shows it with `term`, by kind
    order_id: int
    product_name: str
    quantity: int


CodesAt = Callable[[AsyncSession, int], Awaitable[set[str]]]
Finder = Callable[[AsyncSession, Actor, int, str], Awaitable[WaitingElsewhere | None]]
HandOver = Callable[[AsyncSession, Actor, int, str], Awaitable[int]]


@dataclass(frozen=True)
class CodeDesk:
    kind: str
    codes_at: CodesAt  # the codes waiting at a point
    # What waits under a code at a point the actor leads (answering None: nothing), and its
    # hand-over against the code (the order's id); None: the domain has its own desk only.
    find: Finder | None = None
    hand_over: HandOver | None = None


_desks: dict[str, CodeDesk] = {}


def provide_desk(desk: CodeDesk) -> None:
    _desks[desk.kind] = desk


async def codes_waiting_elsewhere(
    session: AsyncSession, point_id: int, *, besides: str
) -> set[str]:
    """The codes the other domains have waiting at the point: a new code avoids them."""
    taken: set[str] = set()
    for kind, desk in _desks.items():
        if kind != besides:
            taken |= await desk.codes_at(session, point_id)
    return taken


async def find_elsewhere(
    session: AsyncSession, actor: Actor, point_id: int, code: str, *, besides: str
) -> list[WaitingElsewhere]:
    """What the other domains have waiting under the code at a point the actor leads (a
    domain that refuses the actor answers nothing)."""
    digits = normalise_code(code)
    found: list[WaitingElsewhere] = []
    for kind, desk in _desks.items():
        if kind == besides or desk.find is None:
            continue
        try:
            waiting = await desk.find(session, actor, point_id, digits)
        except DomainError:
            continue
        if waiting is not None:
            found.append(waiting)
    return found


async def hand_over_elsewhere(
    session: AsyncSession, actor: Actor, kind: str, point_id: int, code: str
) -> int:
    """Hand over another domain's order by its code, through that domain's own service."""
    desk = _desks.get(kind)
    if desk is None or desk.hand_over is None:
        raise NotFound(N_("No order waiting here has this code."), code="pickup_code_not_found")
    return await desk.hand_over(session, actor, point_id, normalise_code(code))
