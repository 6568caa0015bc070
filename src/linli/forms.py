"""Form fields as typed values: the coercions the pages' forms share.

A browser posts text. These helpers turn it into what the API schemas take. Where a schema
will look at the value, unreadable text is passed on unchanged so the page shows the schema's
own field message; where none will, they raise `ValidationFailed` with the field's message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

from linli import clock
from linli.apitypes import MAX_ID
from linli.errors import ValidationFailed
from linli.i18n import N_, Message
from linli.money import parse_yuan

T = TypeVar("T")
U = TypeVar("U")
ATTENTION = N_("Some fields need attention.")
# Digits that still fit a signed BIGINT (ids, quantities).
_MAX_DIGITS = 18


def text(form: Mapping[str, Any], name: str) -> str:
    """The field's text: "" when it is missing or is a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def checked(form: Mapping[str, Any], name: str) -> bool:
    """An HTML checkbox: a ticked box posts "on", an unticked one posts nothing."""
    return form.get(name) == "on"


def blank_to_none(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The form with the named fields None when left blank (optional fields of a schema)."""
    return {k: (None if k in names and not v.strip() else v) for k, v in form.items()}


def whole(raw: str) -> int | str:
    """ASCII digits become an int; anything else goes on, stripped, for the schema to refuse."""
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= _MAX_DIGITS else raw


def optional_id(raw: str) -> int | None:
    """An id chosen in a form, or None when blank or not an id."""
    value = whole(raw)
    return value if isinstance(value, int) else None


def required_id(raw: str, field: str) -> int:
    """An id the form must carry (a hidden field); a field message otherwise."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) < 20 and 1 <= int(raw) <= MAX_ID):
        raise ValidationFailed(ATTENTION, fields={field: N_("Not valid.")})
    return int(raw)


def optional_fen(raw: str, field: str) -> int | None:
    """`fen`, or None when left blank (a search filter)."""
    return fen(raw, field) if raw.strip() else None


def fen(raw: str, field: str) -> int:
    """A price typed in yuan ("12.5", "¥1,200") as fen."""
    try:
        return parse_yuan(raw)
    except (ValueError, ArithmeticError):  # decimal.Overflow for "1e1000000"
        raise ValidationFailed(
            ATTENTION, fields={field: N_("Enter an amount in yuan, e.g. 12.50.")}
        ) from None


def local_datetime(raw: str, field: str, *, message: str = ATTENTION) -> datetime:
    """A `datetime-local` value, wall time in China unless it names its offset, in UTC."""
    try:
        moment = datetime.fromisoformat(raw.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=clock.LOCAL)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # year 1 or 9999 moved across midnight
        raise ValidationFailed(message, fields={field: N_("Enter a date and time.")}) from None


def calendar_date(raw: str, field: str, *, message: str = ATTENTION) -> date:
    """A `date` input's value."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(message, fields={field: N_("Enter a date.")}) from None


class Problems:
    """Collects the field messages of several checks, so a form shows all its problems at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str | Message] = {}

    def check(self, parse: Callable[[], T], placeholder: U) -> T | U:
        """`parse()`, or `placeholder` (its field message kept) so the other fields still run."""
        try:
            return parse()
        except ValidationFailed as error:
            for name, message in error.fields.items():
                self.fields.setdefault(name, message)
            return placeholder

    def raise_any(self, message: str = ATTENTION) -> None:
        if self.fields:
            raise ValidationFailed(message, fields=self.fields)


def local_datetimes(form: Mapping[str, Any], *names: str) -> list[datetime]:
    """Several `datetime-local` fields (e.g. a schedule's start and end), in UTC; every field's
    problem reported at once."""
    problems = Problems()
    moments: list[datetime] = []
    for name in names:
        raw = str(form.get(name, ""))
        moment = problems.check(partial(local_datetime, raw, name), None)
        if moment is not None:
            moments.append(moment)
    problems.raise_any()
    return moments
