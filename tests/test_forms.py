"""Form fields as typed values: what passes on for the schema, what is refused here."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from linli import forms
from linli.apitypes import MAX_ID
from linli.errors import ValidationFailed

pytestmark = pytest.mark.database_free


def field_messages(error: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {name: message.msgid for name, message in error.value.fields.items()}


def test_whole_numbers_and_ids() -> None:
    assert forms.whole(" 42 ") == 42
    # Not ASCII digits, a sign or too long for a BIGINT: passed on for the schema to refuse.
    assert forms.whole("٤٢") == "٤٢"
    assert forms.whole("²") == "²"
    assert forms.whole("-1") == "-1"
    assert forms.whole("9" * 19) == "9" * 19
    assert forms.optional_id("") is None
    assert forms.optional_id("x1") is None
    assert forms.optional_id("7") == 7
    assert forms.required_id(str(MAX_ID), "point_id") == MAX_ID
    for raw in ("", "0", str(MAX_ID + 1), "1e3"):
        with pytest.raises(ValidationFailed) as error:
            forms.required_id(raw, "point_id")
        assert field_messages(error) == {"point_id": "Not valid."}


def test_text_checkboxes_and_blank_fields() -> None:
    form = {"name": "a", "box": "on", "file": object()}
    assert forms.text(form, "name") == "a"
    assert forms.text(form, "file") == ""
    assert forms.text(form, "missing") == ""
    assert forms.checked(form, "box") is True
    assert forms.checked(form, "name") is False
    assert forms.blank_to_none({"a": " ", "b": " ", "c": "1"}, "a", "c") == {
        "a": None,
        "b": " ",
        "c": "1",
    }


def test_yuan_become_fen() -> None:
    assert forms.fen("¥1,200.5", "price") == 120050
    assert forms.optional_fen(" ", "min_price") is None
    for raw in ("", "1.234", "1e1000000", "abc"):
        with pytest.raises(ValidationFailed) as error:
            forms.fen(raw, "price")
        assert field_messages(error) == {"price": "Enter an amount in yuan, e.g. 12.50."}


def test_dates_and_times() -> None:
    # China's wall time unless the value names its offset; always returned in UTC.
    assert forms.local_datetime("2026-03-01T08:00", "at") == datetime(2026, 3, 1, tzinfo=UTC)
    assert forms.local_datetime("2026-03-01T08:00+00:00", "at").hour == 8
    assert forms.calendar_date(" 2026-03-01 ", "day") == date(2026, 3, 1)
    for raw in ("", "tomorrow", "0001-01-01T00:00"):  # the last moves before year 1 in UTC
        with pytest.raises(ValidationFailed) as error:
            forms.local_datetime(raw, "at", message="Check the inspection.")
        assert error.value.message.msgid == "Check the inspection."
        assert field_messages(error) == {"at": "Enter a date and time."}
    with pytest.raises(ValidationFailed) as error:
        forms.calendar_date("2026-02-30", "day")
    assert field_messages(error) == {"day": "Enter a date."}


def test_problems_collects_every_field_before_refusing() -> None:
    problems = forms.Problems()
    assert problems.check(lambda: forms.fen("12", "price"), 1) == 1200
    assert problems.check(lambda: forms.fen("x", "price"), 1) == 1
    assert problems.check(lambda: forms.calendar_date("x", "day"), "") == ""
    with pytest.raises(ValidationFailed) as error:
        problems.raise_any()
    assert set(field_messages(error)) == {"price", "day"}
    forms.Problems().raise_any()  # nothing to refuse


def test_several_local_datetimes_are_read_together_and_refused_together() -> None:
    form = {"scheduled_start": "2026-12-07T20:00", "scheduled_end": "2026-12-07T21:30"}
    start, end = forms.local_datetimes(form, "scheduled_start", "scheduled_end")
    assert (start, end) == (
        datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 7, 13, 30, tzinfo=UTC),
    )
    with pytest.raises(ValidationFailed) as refused:
        forms.local_datetimes({"scheduled_start": "tonight"}, "scheduled_start", "scheduled_end")
    assert set(refused.value.fields) == {"scheduled_start", "scheduled_end"}
