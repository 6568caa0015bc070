"""The compiled schema validator (jsonschema-rs) decides as the reference (jsonschema) does:
over GS1's examples and thousands of seeded mutations of them, both accept exactly the same
documents; capture runs the reference only on a refusal, for its exact messages."""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from linli.trace import capture_checks
from linli.trace.capture_checks import CaptureRefused, check_document, normalise_document
from tests.trace.epcis_data import EXAMPLES, load
from tests.trace.helpers import document, event

pytestmark = pytest.mark.database_free

MUTATIONS = 3000
Mutator = Callable[[Any, Any, random.Random], bool]  # (parent, key, rng) -> changed


def _places(value: Any, parent: Any = None, key: Any = None) -> Iterator[tuple[Any, Any]]:
    """(parent, key) of every value inside the document."""
    if parent is not None:
        yield parent, key
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, item in list(items):
        yield from _places(item, value, k)


def _drop(parent: Any, key: Any, _rng: random.Random) -> bool:
    del parent[key]  # a required field, often
    return True


def _wrong_type(parent: Any, key: Any, rng: random.Random) -> bool:
    parent[key] = rng.choice([None, True, 0, -7, 1.5, "x", "", [], {}, ["x"], {"id": 1}])
    return True


def _bad_word(parent: Any, key: Any, rng: random.Random) -> bool:
    value = parent[key]
    if not isinstance(value, str):
        return False
    parent[key] = rng.choice(
        [value.lower(), value.upper(), value + "X", "BOGUS", value[:-1], f" {value}", "urn:x"]
    )
    return True


BAD_TIMES = [
    "2024-13-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-05-02T25:00:00+08:00",
    "2024-05-02T08:00:00",
    "2024-05-02 08:00:00+08:00",
    "2024-05-02",
    "08:00:00Z",
    "2024-05-02T08:00:00.123456789+08:00",
    "2024-05-02T08:00:00+0800",
    "2024-05-02t08:00:00z",
    "",
    "yesterday",
]
BAD_OFFSETS = ["+8:00", "+14:01", "-13:60", "Z", "08:00", "+08:00:00", "+0800", "", "+15:00"]


def _bad_time(parent: Any, key: Any, rng: random.Random) -> bool:
    if key in ("eventTime", "recordTime", "creationDate", "time", "startTime", "endTime"):
        parent[key] = rng.choice(BAD_TIMES)
    elif key == "eventTimeZoneOffset":
        parent[key] = rng.choice(BAD_OFFSETS)
    else:
        return False
    return True


def _extra(parent: Any, key: Any, rng: random.Random) -> bool:
    target = parent[key]
    if not isinstance(target, dict):
        return False
    name = rng.choice(["bogus", "example:ext", "type", "id", "https://example.org/x", "@id"])
    target[name] = rng.choice(["x", 1, {"a": 1}, [], None])
    return True


def _reshape(parent: Any, key: Any, rng: random.Random) -> bool:
    value = parent[key]
    if isinstance(value, list):
        parent[key] = value[0] if value and rng.random() < 0.5 else {}
    else:
        parent[key] = [value]
    return True


def _number(parent: Any, key: Any, rng: random.Random) -> bool:
    value = parent[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    parent[key] = rng.choice([-value, str(value), value + 0.5, 10**20, 0])
    return True


MUTATORS: dict[str, Mutator] = {
    "drop": _drop,
    "wrong_type": _wrong_type,
    "bad_word": _bad_word,
    "bad_time": _bad_time,
    "extra": _extra,
    "reshape": _reshape,
    "number": _number,
}


def _mutated(original: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], list[str]]:
    document = copy.deepcopy(original)
    applied: list[str] = []
    while len(applied) < rng.randint(1, 3):
        places = list(_places(document))
        name = rng.choice(list(MUTATORS))
        parent, key = rng.choice(places)
        if MUTATORS[name](parent, key, rng):
            applied.append(name)
    return document, applied


def _both(document: dict[str, Any]) -> tuple[bool, bool]:
    normalised = normalise_document(document)
    fast = bool(capture_checks.fast_validator().is_valid(normalised))
    return fast, capture_checks.validator().is_valid(normalised)


def test_both_validators_accept_every_gs1_example() -> None:
    assert len(EXAMPLES) > 40
    for path in EXAMPLES:
        assert _both(load(path)) == (True, True), path.name


def test_both_validators_accept_the_same_mutated_documents() -> None:
    rng = random.Random(20261206)
    originals = [load(path) for path in EXAMPLES]
    outcomes: Counter[bool] = Counter()
    refused_by: Counter[str] = Counter()
    for _ in range(MUTATIONS):
        mutated, applied = _mutated(rng.choice(originals), rng)
        fast, reference = _both(mutated)
        assert fast == reference, (applied, mutated)
        outcomes[reference] += 1
        if not reference:
            refused_by.update(set(applied))
    # Not vacuous: both outcomes are common, and every kind of mutation broke some document.
    assert outcomes[True] > MUTATIONS // 20, outcomes
    assert outcomes[False] > MUTATIONS // 4, outcomes
    assert set(refused_by) == set(MUTATORS), refused_by


# Where the two differ, jsonschema-rs is the stricter: Python's `$` also matches before a
# final newline, its `\d` matches any Unicode digit, and it takes NaN for a number. Capture
# then runs the reference, so its answer (and the behaviour before jsonschema-rs) stands.
NAN_QUANTITY = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.1", "quantity": float("nan")}]


def test_where_the_compiled_validator_is_stricter_the_reference_decides() -> None:
    odd = document(event(quantityList=NAN_QUANTITY))
    assert _both(odd) == (False, True)
    check_document(odd)  # accepted, as before the compiled validator


def test_an_offset_with_a_final_newline_is_refused_though_the_schema_passes_it() -> None:
    odd = document(event(eventTimeZoneOffset="+08:00\n"))
    assert _both(odd) == (False, True)
    with pytest.raises(CaptureRefused) as refused:
        check_document(odd)
    assert refused.value.problem.as_dict() == {
        "field": "epcisBody.eventList[0].eventTimeZoneOffset",
        "reason": "is not a valid time zone offset",
        "eventIndex": 0,
    }


def test_the_reference_runs_only_when_the_compiled_validator_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = capture_checks.validator()
    calls: list[int] = []

    class Counting:
        def iter_errors(self, document: Any) -> Iterator[Any]:
            calls.append(1)
            yield from real.iter_errors(document)

    monkeypatch.setattr(capture_checks, "validator", lambda: Counting())
    check_document(document(event(), event(eventTime="2024-05-02T09:00:00+08:00")))
    assert calls == []
    with pytest.raises(CaptureRefused) as refused:
        check_document(document(event(), event(eventTime="2024-02-30T00:00:00Z")))
    assert calls == [1]
    assert refused.value.problem.as_dict() == {
        "field": "epcisBody.eventList[1].eventTime",
        "reason": "is not a valid date-time",
        "eventIndex": 1,
    }


def test_a_value_the_compiled_validator_cannot_take_goes_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refusing:
        def is_valid(self, _document: Any) -> bool:
            raise ValueError("value out of range")

    monkeypatch.setattr(capture_checks, "fast_validator", lambda: Refusing())
    check_document(document(event()))  # the reference accepts it
    with pytest.raises(CaptureRefused) as refused:
        check_document(document(event(action="MAYBE")))
    assert refused.value.problem.field == "epcisBody.eventList[0].action"


def test_normalising_leaves_the_captured_document_untouched() -> None:
    source = document(
        event(type="ObjectEvent", action="OBSERVE", ilmd={"a": 1}, sourceList={"type": "x"})
    )
    before = copy.deepcopy(source)
    normalised = normalise_document(source)
    assert source == before
    (normalised_event,) = normalised["epcisBody"]["eventList"]
    assert normalised_event["linli:ilmd"] == {"a": 1}
    assert "ilmd" not in normalised_event
    assert normalised_event["sourceList"] == [{"type": "x"}]


def test_warnings_are_capped_and_the_last_counts_the_rest() -> None:
    events = [
        event(
            eventTime=f"2024-05-02T08:{n // 60:02d}:{n % 60:02d}+08:00", bizStep=f"urn:x:step-{n}"
        )
        for n in range(150)
    ]
    warnings: list[Any] = []
    check_document(document(*events), warnings)
    assert len(warnings) == capture_checks.MAX_WARNINGS
    assert [w.field for w in warnings[:2]] == [
        "epcisBody.eventList[0].bizStep",
        "epcisBody.eventList[1].bizStep",
    ]
    assert warnings[-1].reason == "51 more warnings"


def test_cbv_terms_give_no_warning_and_user_vocabulary_does() -> None:
    warnings: list[Any] = []
    check_document(document(event(bizStep="https://ref.gs1.org/cbv/BizStep-shipping")), warnings)
    check_document(
        document(event(bizStep="cbv:BizStep-shipping", disposition="in_transit")), warnings
    )
    assert warnings == []
    check_document(document(event(bizStep="acme:ripening")), warnings)
    assert [(w.field, w.event_index) for w in warnings] == [("epcisBody.eventList[0].bizStep", 0)]
