"""The draw of a double random inspection plan: targets from the merchant directory weighted
by risk class (and by credit's list weights), inspectors from the inspector directory
excluding conflicts of interest, all from one seed (docs/supervision-inspections.md).

`compute_draw` is a pure function of its inputs: the same seed and inputs give the same draw,
so a stored draw can be checked by anyone holding the plan. `plans.draw` gathers the inputs:
risk classes from a `RiskClasses` provider (credit's regulator-only A-D classes,
`linli.credit.risk.risk_classes`), sampling weights from a
`SamplingWeights` provider (credit's lists, `linli.credit.lists.sampling_weights`), inspectors
and their conflicts from the one inspector directory (`supervision.inspectors`,
`Duty.RANDOM_INSPECTIONS`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

CLASSES = ("A", "B", "C", "D")
DEFAULT_CLASS = "B"
NORMAL_WEIGHT = 100  # percent: credit's lists weigh a red-list merchant 50, a listed one 200

RiskClasses = Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, str]]]
SamplingWeights = Callable[[AsyncSession, Sequence[int]], Awaitable[dict[int, int]]]


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


def allocate(
    sizes: Mapping[str, int],
    shares: Mapping[str, float],
    count: int,
    mass: Mapping[str, float] | None = None,
) -> dict[str, int]:
    """How many targets each class gets: proportional to share x class mass (largest
    remainder, ties to the riskier class), never more than the class holds; what a full class
    cannot take goes to the others. The mass of a class is its size, or with list weights the
    sum of its merchants' weights over the normal weight (a class of red-list merchants weighs
    half its size)."""
    allocation = dict.fromkeys(sizes, 0)
    remaining = min(count, sum(sizes.values()))
    weight_of = mass if mass is not None else sizes
    open_classes = [
        c for c in sizes if sizes[c] > 0 and shares.get(c, 0) > 0 and weight_of.get(c, 0) > 0
    ]
    while remaining > 0 and open_classes:
        weights = {
            c: shares[c] * weight_of[c] * (sizes[c] - allocation[c]) / sizes[c]
            for c in open_classes
        }
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


def weighted_sample(
    rng: random.Random, ids: Sequence[int], weights: Mapping[int, int], n: int
) -> list[int]:
    """`n` of `ids`, each included with probability n x its weight / the total weight (exactly,
    in fractions): systematic sampling with probability proportional to size over a shuffled
    order, after taking with certainty those whose probability would reach 1."""
    pool = list(ids)
    rng.shuffle(pool)
    chosen: list[int] = []
    left = min(n, len(pool))
    while left > 0:
        total = sum(weights[m] for m in pool)
        sure = [m for m in pool if left * weights[m] >= total]
        if not sure:
            break
        chosen.extend(sure)
        pool = [m for m in pool if m not in sure]
        left -= len(sure)
    if left > 0:
        total = sum(weights[m] for m in pool)
        start = Fraction(rng.random())
        upper = Fraction(0)
        taken = 0
        for m in pool:
            lower, upper = upper, upper + Fraction(left * weights[m], total)
            if taken < left and lower <= start + taken < upper:
                chosen.append(m)
                taken += 1
    return chosen


def compute_draw(
    seed: str,
    merchants: Mapping[int, str],
    shares: Mapping[str, float],
    count: int,
    inspectors: Sequence[int],
    conflicts: set[tuple[int, int]],
    per_target: int = 2,
    weights: Mapping[int, int] | None = None,
) -> list[DrawnTarget]:
    """The draw: `count` merchants allocated to classes by `allocate`, drawn inside each class
    uniformly (no `weights`: plans drawn before credit's list weights) or with probability
    proportional to the weight, then `per_target` inspectors for each target, uniformly among
    those without a conflict with it. Raises DrawImpossible when a target has too few such
    inspectors."""
    by_class: dict[str, list[int]] = {c: [] for c in CLASSES}
    for merchant_id in sorted(merchants):
        by_class.setdefault(merchants[merchant_id], []).append(merchant_id)
    sizes = {c: len(ids) for c, ids in by_class.items()}
    if weights is not None:
        weight = {m: max(1, int(weights.get(m, NORMAL_WEIGHT))) for m in merchants}
        mass = {c: sum(weight[m] for m in ids) / NORMAL_WEIGHT for c, ids in by_class.items()}
        allocation = allocate(sizes, shares, count, mass)
    else:
        allocation = allocate(sizes, shares, count)
    targets_rng = _rng(seed, "targets")
    chosen: list[tuple[int, str]] = []
    for c in sorted(by_class):
        n = allocation.get(c, 0)
        if weights is None:
            picked = targets_rng.sample(by_class[c], n)
        else:
            picked = weighted_sample(targets_rng, by_class[c], weight, n)
        chosen.extend((m, c) for m in picked)
    targets_rng.shuffle(chosen)  # the order of inspection, not grouped by class
    inspectors_rng = _rng(seed, "inspectors")
    pool = sorted(set(inspectors))
    drawn: list[DrawnTarget] = []
    for merchant_id, risk_class in chosen:
        eligible = [i for i in pool if (i, merchant_id) not in conflicts]
        if len(eligible) < per_target:
            raise DrawImpossible(merchant_id)
        picked_inspectors = sorted(inspectors_rng.sample(eligible, per_target))
        drawn.append(DrawnTarget(merchant_id, risk_class, tuple(picked_inspectors)))
    return drawn
