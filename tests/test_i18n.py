"""Every user-facing string has a Chinese translation, and the catalogue is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from linli import i18n

pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "src/linli/translations/zh_Hans/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"\{\w+\}")


def extracted_ids(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).parent / "pybabel"
    subprocess.run(
        [
            str(pybabel),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "_",
            "-o",
            str(pot),
            "src/linli",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}  # type: ignore[misc]


def test_every_string_in_the_code_is_translated_to_chinese(tmp_path: Path) -> None:
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id: m.string for m in catalog if m.id and m.string}
    missing = sorted(extracted_ids(tmp_path) - set(translated), key=str)
    assert missing == [], "run scripts/i18n and translate these"


def test_translations_keep_their_placeholders() -> None:
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    broken = [
        m.id
        for m in catalog
        if m.id and set(PLACEHOLDER.findall(str(m.id))) != set(PLACEHOLDER.findall(str(m.string)))
    ]
    assert broken == []


def test_accept_language_negotiation() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8", "en") == "zh_Hans"
    assert i18n.negotiate("en-US,en;q=0.9,zh;q=0.8", "zh_Hans") == "en"
    assert i18n.negotiate("fr-FR,zh-TW;q=0.5", "en") == "zh_Hans"
    assert i18n.negotiate("fr-FR", "en") == "en"
    assert i18n.negotiate("en;q=0,zh;q=0.1", "en") == "zh_Hans"
    assert i18n.negotiate("garbage;;q=x,,", "zh_Hans") == "zh_Hans"
    assert i18n.negotiate(None, "en") == "en"


def test_no_message_has_a_bare_percent_sign(tmp_path: Path) -> None:
    """Jinja's newstyle gettext applies %-formatting to every message: a lone % breaks a page."""
    bare = [m for m in extracted_ids(tmp_path) if re.search(r"(?<!%)%(?![%(])", str(m))]
    assert bare == []
