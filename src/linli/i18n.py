"""Translations (Babel/gettext, English and Simplified Chinese) chosen per request.

The active locale lives in a context variable set by the locale middleware, so every piece of
code running for a request (templates, error messages) translates into the same language.
Catalogues are compiled from the .po files in memory at first use: there is no compiled
artefact in the repository that could go stale.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel import dates as babel_dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES: tuple[str, ...] = ("en", "zh_Hans")
LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_current_locale: ContextVar[str] = ContextVar("linli_locale", default="en")


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return _gettext.NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def get_locale() -> str:
    return _current_locale.get()


def set_locale(locale: str) -> Any:
    """Set the locale for the current context; returns a token for `reset_locale`."""
    return _current_locale.set(locale if locale in LOCALES else LOCALES[0])


def reset_locale(token: Any) -> None:
    _current_locale.reset(token)


def babel_locale(locale: str | None = None) -> Locale:
    return Locale.parse(locale or get_locale())


def gettext(message: str) -> str:
    return translations(get_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_locale()).ngettext(singular, plural, n)


_ = gettext


def term(vocabulary: Mapping[str, str], value: object) -> str:
    """A value shown in words: the translated label of a known value (`vocabulary` maps values
    to msgids), else the value itself. Plain text either way: templates escape it. This is how
    templates show data in words; data never goes through `_()`, which trusts its text."""
    key = "" if value is None else str(value)
    if key in vocabulary:
        return gettext(vocabulary[key])
    return key


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, when the locale is known."""
    return message


@dataclass(frozen=True)
class Message:
    """A translatable message with named parameters, rendered in the locale of the moment."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        text = gettext(self.msgid)
        return text.format(**self.params) if self.params else text

    def __str__(self) -> str:
        return self.render()


def negotiate(accept_language: str | None, default: str) -> str:
    """Pick en or zh_Hans from an Accept-Language header (any Chinese tag maps to zh_Hans)."""
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _sep, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    for _q, _pos, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary == "zh":
            return "zh_Hans"
        if primary == "en":
            return "en"
        if tag == "*":
            return default
    return default


def format_datetime(value: datetime, fmt: str = "medium", tz: str = "Asia/Shanghai") -> str:
    """A UTC datetime shown in Asia/Shanghai, in the current locale's style."""
    return babel_dates.format_datetime(
        value, format=fmt, tzinfo=ZoneInfo(tz), locale=babel_locale()
    )
