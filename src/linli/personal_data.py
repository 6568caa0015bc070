"""Personal data (PIPL): what each domain holds about a resident, asked for by `linli.privacy`.

Lower layers ask, higher layers provide (docs/architecture.md): the privacy package sits above
the domains and must not import their internals, and the domains sit below it. So each domain
registers here, when its module is imported (`app.load_domain_handlers`), the answers only it
has about one user:

- an **export section** (`provide_export_section`): the user's data in the domain as plain
  JSON-able values (dicts, lists, str, int, bool, None, datetime, date), secrets never;
- **open obligations** (`provide_open_obligations`): why the account cannot close yet (an
  order awaiting pickup, an open return), each a translatable `Message`;
- the **last transaction** (`provide_last_transaction`): when the user's last transaction
  record in the domain was completed, from which the retention period runs;
- what to do **on closing** (`provide_on_close`): anonymise or delete personal data that is not
  a transaction record (a residence, the inbox);
- what to do **at the end of retention** (`provide_on_purge`): erase what was kept only as part
  of the transaction records (the free text of returns and complaints).

A name registers once per kind; importing a module again replaces its own entry. docs/privacy.md
says which domain provides what, and how a new domain adds its section.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.i18n import Message

ExportSection = Callable[[AsyncSession, int], Awaitable[Any]]
OpenObligations = Callable[[AsyncSession, int], Awaitable[list[Message]]]
LastTransaction = Callable[[AsyncSession, int], Awaitable[datetime | None]]
Erase = Callable[[AsyncSession, int], Awaitable[None]]

_export_sections: dict[str, ExportSection] = {}
_open_obligations: dict[str, OpenObligations] = {}
_last_transactions: dict[str, LastTransaction] = {}
_on_close: dict[str, Erase] = {}
_on_purge: dict[str, Erase] = {}


def provide_export_section(name: str, section: ExportSection) -> None:
    """`section(session, user_id)` returns the user's data under `name` in the export."""
    _export_sections[name] = section


def provide_open_obligations(name: str, check: OpenObligations) -> None:
    """`check(session, user_id)` returns why the account cannot close yet ([] when nothing)."""
    _open_obligations[name] = check


def provide_last_transaction(name: str, last: LastTransaction) -> None:
    """`last(session, user_id)`: when the user's last transaction record here was completed."""
    _last_transactions[name] = last


def provide_on_close(name: str, erase: Erase) -> None:
    """`erase(session, user_id)` runs in the closing transaction, after every check passed."""
    _on_close[name] = erase


def provide_on_purge(name: str, erase: Erase) -> None:
    """`erase(session, user_id)` runs when the retention period of a closed account ends."""
    _on_purge[name] = erase


def export_sections() -> dict[str, ExportSection]:
    return dict(sorted(_export_sections.items()))


def open_obligations() -> dict[str, OpenObligations]:
    return dict(sorted(_open_obligations.items()))


def last_transactions() -> dict[str, LastTransaction]:
    return dict(sorted(_last_transactions.items()))


def on_close() -> dict[str, Erase]:
    return dict(sorted(_on_close.items()))


def on_purge() -> dict[str, Erase]:
    return dict(sorted(_on_purge.items()))
