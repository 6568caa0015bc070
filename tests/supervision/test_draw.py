"""The draw of a double random plan as a pure function: reproduced exactly from its seed,
never drawing a conflicted inspector (property test), sampling classes at the rule's shares."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linli.supervision.draw import (
    DrawImpossible,
    DrawnTarget,
    allocate,
    compute_draw,
    weighted_sample,
)

pytestmark = pytest.mark.database_free

SHARES = {"A": 0.05, "B": 0.20, "C": 0.60, "D": 1.00}


def directory(per_class: int) -> dict[int, str]:
    return {i * 4 + k + 1: c for i in range(per_class) for k, c in enumerate("ABCD")}


def test_the_same_seed_and_inputs_give_the_same_draw() -> None:
    merchants = directory(25)
    inspectors = list(range(1000, 1012))
    first = compute_draw("seed-1", merchants, SHARES, 20, inspectors, set())
    again = compute_draw(
        "seed-1", dict(reversed(merchants.items())), SHARES, 20, inspectors[::-1], set()
    )
    assert first == again
    assert len(first) == 20
    assert len({t.merchant_id for t in first}) == 20
    assert all(len(set(t.inspectors)) == 2 for t in first)
    other = compute_draw("seed-2", merchants, SHARES, 20, inspectors, set())
    assert [t.merchant_id for t in other] != [t.merchant_id for t in first]


@settings(max_examples=200, deadline=None)
@given(
    seed=st.text(min_size=1, max_size=20),
    merchants=st.dictionaries(st.integers(1, 60), st.sampled_from("ABCD"), min_size=1, max_size=30),
    inspectors=st.sets(st.integers(1000, 1015), min_size=2, max_size=16),
    conflicts=st.sets(st.tuples(st.integers(1000, 1015), st.integers(1, 60)), max_size=80),
    count=st.integers(1, 30),
)
def test_conflicted_inspectors_are_never_drawn(
    seed: str,
    merchants: dict[int, str],
    inspectors: set[int],
    conflicts: set[tuple[int, int]],
    count: int,
) -> None:
    try:
        drawn = compute_draw(seed, merchants, SHARES, count, sorted(inspectors), conflicts)
    except DrawImpossible as error:
        free = [i for i in inspectors if (i, error.merchant_id) not in conflicts]
        assert len(free) < 2  # refused only when there really are too few
        return
    assert len(drawn) == min(count, len(merchants))
    for target in drawn:
        assert merchants[target.merchant_id] == target.risk_class
        assert len(set(target.inspectors)) == 2
        for inspector in target.inspectors:
            assert inspector in inspectors
            assert (inspector, target.merchant_id) not in conflicts


def test_classes_are_drawn_at_the_rules_shares_over_many_draws() -> None:
    """100 merchants of each class, a plan of 185 targets (the full size: 5 + 20 + 60 + 100):
    over 400 seeds each class's merchants are drawn at its share, and evenly inside it."""
    merchants = directory(100)
    inspectors = list(range(1000, 1010))
    runs = 400
    per_class: Counter[str] = Counter()
    per_merchant: Counter[int] = Counter()
    for n in range(runs):
        for target in compute_draw(f"run-{n}", merchants, SHARES, 185, inspectors, set()):
            per_class[target.risk_class] += 1
            per_merchant[target.merchant_id] += 1
    for c, share in SHARES.items():
        assert per_class[c] / (100 * runs) == pytest.approx(share, abs=0.01)
    # Within a class every merchant has the same chance (B: 0.20, so 80 of 400 expected).
    b_rates = [per_merchant[m] / runs for m, c in merchants.items() if c == "B"]
    assert min(b_rates) > 0.10
    assert max(b_rates) < 0.30
    assert sum(b_rates) / len(b_rates) == pytest.approx(0.20, abs=0.005)


def test_a_smaller_plan_keeps_the_proportions_between_classes() -> None:
    sizes = {"A": 200, "B": 500, "C": 100, "D": 20}
    got = allocate(sizes, SHARES, 50)
    assert sum(got.values()) == 50
    # weights 10 : 100 : 60 : 20 -> 50 targets as 2.6 : 26.3 : 15.8 : 5.3
    assert got == {"A": 3, "B": 26, "C": 16, "D": 5}


def test_a_full_class_gives_its_rest_to_the_others() -> None:
    got = allocate({"A": 10, "B": 10, "C": 0, "D": 2}, SHARES, 15)
    assert got["D"] == 2
    assert sum(got.values()) == 15
    assert allocate({"A": 3, "B": 0, "C": 0, "D": 0}, SHARES, 10) == {
        "A": 3,
        "B": 0,
        "C": 0,
        "D": 0,
    }


def test_too_few_inspectors_without_a_conflict_is_refused() -> None:
    with pytest.raises(DrawImpossible) as raised:
        compute_draw("s", {7: "B"}, SHARES, 1, [1000, 1001, 1002], {(1000, 7), (1001, 7)})
    assert raised.value.merchant_id == 7


@settings(max_examples=200, deadline=None)
@given(
    seed=st.text(min_size=1, max_size=20),
    merchants=st.dictionaries(st.integers(1, 60), st.sampled_from("ABCD"), min_size=1, max_size=30),
    weights=st.dictionaries(st.integers(1, 60), st.sampled_from([50, 100, 200]), max_size=60),
    inspectors=st.sets(st.integers(1000, 1015), min_size=2, max_size=16),
    conflicts=st.sets(st.tuples(st.integers(1000, 1015), st.integers(1, 60)), max_size=80),
    count=st.integers(1, 30),
)
def test_a_weighted_draw_never_draws_a_conflict_and_reproduces_from_its_seed(
    seed: str,
    merchants: dict[int, str],
    weights: dict[int, int],
    inspectors: set[int],
    conflicts: set[tuple[int, int]],
    count: int,
) -> None:
    def run(reverse: bool) -> list[DrawnTarget] | int:
        order = -1 if reverse else 1
        try:
            return compute_draw(
                seed,
                dict(list(merchants.items())[::order]),
                SHARES,
                count,
                sorted(inspectors)[::order],
                conflicts,
                weights=dict(list(weights.items())[::order]),
            )
        except DrawImpossible as error:
            return error.merchant_id

    drawn = run(False)
    assert run(True) == drawn  # the seed and the inputs decide, not their order
    if isinstance(drawn, int):
        assert len([i for i in inspectors if (i, drawn) not in conflicts]) < 2
        return
    assert len(drawn) == min(count, len(merchants))
    assert len({t.merchant_id for t in drawn}) == len(drawn)
    for target in drawn:
        assert len(set(target.inspectors)) == 2
        assert all((i, target.merchant_id) not in conflicts for i in target.inspectors)


def test_list_weights_and_class_shares_are_combined_over_many_draws() -> None:
    """60 merchants per class, of which 20 on the red list (weight 50), 30 normal (100) and 10
    on the serious list (200); a plan of 50 targets over 1000 seeds: each class gets the
    targets of its share x weighted size, and inside a class a red-list merchant is drawn half
    as often as a normal one and a listed one twice as often (within 5 standard deviations of
    the exact inclusion probabilities)."""
    merchants = directory(60)
    by_class = {c: [m for m, k in merchants.items() if k == c] for c in "ABCD"}
    weights = {
        m: 50 if j % 6 < 2 else 200 if j % 6 == 5 else 100
        for ids in by_class.values()
        for j, m in enumerate(ids)
    }
    mass = {c: sum(weights[m] for m in ids) / 100 for c, ids in by_class.items()}
    allocation = allocate({c: len(ids) for c, ids in by_class.items()}, SHARES, 50, mass)
    runs = 1000
    drawn: Counter[tuple[str, int]] = Counter()
    per_class: Counter[str] = Counter()
    for n in range(runs):
        for target in compute_draw(
            f"run-{n}", merchants, SHARES, 50, list(range(1000, 1010)), set(), weights=weights
        ):
            drawn[(target.risk_class, weights[target.merchant_id])] += 1
            per_class[target.risk_class] += 1
    assert all(per_class[c] == allocation[c] * runs for c in "ABCD")
    assert allocation == {"A": 1, "B": 6, "C": 16, "D": 27}
    for c, ids in by_class.items():
        total = sum(weights[m] for m in ids)
        for weight in (50, 100, 200):
            members = sum(1 for m in ids if weights[m] == weight)
            expected = runs * members * allocation[c] * weight / total
            assert abs(drawn[(c, weight)] - expected) <= 5 * expected**0.5 + 1, (c, weight)
    # the incentive itself, in the biggest class
    rate = {
        w: drawn[("D", w)] / sum(1 for m in by_class["D"] if weights[m] == w)
        for w in (50, 100, 200)
    }
    assert rate[50] / rate[100] == pytest.approx(0.5, abs=0.05)
    assert rate[200] / rate[100] == pytest.approx(2.0, abs=0.1)


def test_a_weighted_sample_takes_certain_merchants_first() -> None:
    rng = random.Random(1)
    picked = weighted_sample(rng, [1, 2, 3, 4], {1: 1000, 2: 10, 3: 10, 4: 10}, 2)
    assert 1 in picked
    assert len(picked) == 2
