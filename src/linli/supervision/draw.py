"""The draw of a double random inspection plan: targets from the merchant directory weighted
by risk class, inspectors from the inspector directory excluding conflicts of interest, all
from one seed (docs/supervision-inspections.md).

`compute_draw` is a pure function of its inputs: the same seed and inputs give the same draw,
so a stored draw can be checked by anyone holding the plan. The inputs come from three
providers, each a parameter so that other domains can supply them:

- risk classes (`RiskClasses`): credit's regulator-only A-D classes
  (`linli.credit.risk.risk_classes`, the default of `plans.draw`); `everyone_b` remains for
  tests that want a flat population.
- inspector candidates (`InspectorDirectory.candidates`): members of the regulator whose role
  holds SUPERVISION_INSPECT.
- conflicts of interest (`InspectorDirectory.conflicts`): for now the plan history (an
  inspector drawn for a merchant by an earlier plan of the regulator is conflicted with it);
  declared relations (E's table) are added when the supervision branches merge.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Membership
from linli.authz import ROLE_PERMISSIONS, SUPERVISION_INSPECT
from linli.supervision.plan_models import InspectionAssignment

CLASSES = ("A", "B", "C", "D")
DEFAULT_CLASS = "B"

RiskClasses = Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, str]]]


async def everyone_b(session: AsyncSession, merchant_ids: Sequence[int]) -> dict[int, str]:
    """Every merchant is class B (general risk) until credit's classes exist."""
    return dict.fromkeys(merchant_ids, DEFAULT_CLASS)


class InspectorDirectory(Protocol):
    async def candidates(self, session: AsyncSession, regulator_id: int) -> list[int]:
        """User ids of the regulator's inspectors."""
        ...

    async def conflicts(
        self,
        session: AsyncSession,
        regulator_id: int,
        inspector_ids: Sequence[int],
        merchant_ids: Sequence[int],
    ) -> set[tuple[int, int]]:
        """(inspector user id, merchant organisation id) pairs that may not be drawn."""
        ...


def inspecting_roles() -> tuple[str, ...]:
    return tuple(
        sorted(role for role, held in ROLE_PERMISSIONS.items() if SUPERVISION_INSPECT in held)
    )


class MembershipInspectors:
    """Inspectors: the regulator's members whose role holds SUPERVISION_INSPECT. Conflicts:
    the plan history (earlier draws of the inspector for the merchant)."""

    async def candidates(self, session: AsyncSession, regulator_id: int) -> list[int]:
        rows = await session.scalars(
            select(Membership.user_id)
            .where(
                Membership.organisation_id == regulator_id,
                Membership.role.in_(inspecting_roles()),
            )
            .order_by(Membership.user_id)
        )
        return sorted(set(rows))

    async def conflicts(
        self,
        session: AsyncSession,
        regulator_id: int,
        inspector_ids: Sequence[int],
        merchant_ids: Sequence[int],
    ) -> set[tuple[int, int]]:
        if not inspector_ids or not merchant_ids:
            return set()
        rows = await session.execute(
            select(
                InspectionAssignment.inspector_user_id,
                InspectionAssignment.merchant_organisation_id,
            ).where(
                InspectionAssignment.inspector_user_id.in_(list(inspector_ids)),
                InspectionAssignment.merchant_organisation_id.in_(list(merchant_ids)),
            )
        )
        return {(int(i), int(m)) for i, m in rows.all()}


DEFAULT_INSPECTORS: InspectorDirectory = MembershipInspectors()


class DrawImpossible(ValueError):
    """Not enough conflict-free inspectors for a drawn merchant."""

    def __init__(self, merchant_id: int) -> None:
        super().__init__(f"not enough inspectors without a conflict for merchant {merchant_id}")
        self.merchant_id = merchant_id


@dataclass(frozen=True)
class DrawnTarget:
    merchant_id: int
    risk_class: str
    inspectors: tuple[int, ...]


def _rng(seed: str, purpose: str) -> random.Random:
    digest = hashlib.sha256(f"{purpose}:{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def allocate(sizes: Mapping[str, int], shares: Mapping[str, float], count: int) -> dict[str, int]:
    """How many targets each class gets: proportional to share x class size (largest
    remainder, ties to the riskier class), never more than the class holds; what a full class
    cannot take goes to the others."""
    allocation = dict.fromkeys(sizes, 0)
    remaining = min(count, sum(sizes.values()))
    open_classes = [c for c in sizes if sizes[c] > 0 and shares.get(c, 0) > 0]
    while remaining > 0 and open_classes:
        weights = {c: shares[c] * (sizes[c] - allocation[c]) for c in open_classes}
        total = sum(weights.values())
        quotas = {c: remaining * w / total for c, w in weights.items()}
        whole = {c: min(int(q), sizes[c] - allocation[c]) for c, q in quotas.items()}
        left = remaining - sum(whole.values())
        order = sorted(open_classes, key=lambda c: (-(quotas[c] - int(quotas[c])), -ord(c)))
        for c in order:
            if left <= 0:
                break
            if whole[c] < sizes[c] - allocation[c]:
                whole[c] += 1
                left -= 1
        for c, n in whole.items():
            allocation[c] += n
        given = sum(whole.values())
        remaining -= given
        open_classes = [c for c in open_classes if allocation[c] < sizes[c]]
        if given == 0:
            break
    return allocation


def compute_draw(
    seed: str,
    merchants: Mapping[int, str],
    shares: Mapping[str, float],
    count: int,
    inspectors: Sequence[int],
    conflicts: set[tuple[int, int]],
    per_target: int = 2,
) -> list[DrawnTarget]:
    """The draw: `count` merchants allocated to classes by `allocate`, drawn uniformly within
    each class, then `per_target` inspectors for each target, uniformly among those without a
    conflict with it. Raises DrawImpossible when a target has too few such inspectors."""
    by_class: dict[str, list[int]] = {c: [] for c in CLASSES}
    for merchant_id in sorted(merchants):
        by_class.setdefault(merchants[merchant_id], []).append(merchant_id)
    sizes = {c: len(ids) for c, ids in by_class.items()}
    allocation = allocate(sizes, shares, count)
    targets_rng = _rng(seed, "targets")
    chosen: list[tuple[int, str]] = []
    for c in sorted(by_class):
        picked = targets_rng.sample(by_class[c], allocation.get(c, 0))
        chosen.extend((m, c) for m in picked)
    targets_rng.shuffle(chosen)  # the order of inspection, not grouped by class
    inspectors_rng = _rng(seed, "inspectors")
    pool = sorted(set(inspectors))
    drawn: list[DrawnTarget] = []
    for merchant_id, risk_class in chosen:
        eligible = [i for i in pool if (i, merchant_id) not in conflicts]
        if len(eligible) < per_target:
            raise DrawImpossible(merchant_id)
        picked = sorted(inspectors_rng.sample(eligible, per_target))
        drawn.append(DrawnTarget(merchant_id, risk_class, tuple(picked)))
    return drawn
