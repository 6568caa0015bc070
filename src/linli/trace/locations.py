"""Names for the places an EPCIS event names (its readPoint and bizLocation).

The platform's own locations are URNs under `urn:linli:` and are shown by name:

- `urn:linli:pickup-point:{id}`: the pickup point's name;
- `urn:linli:kitchen:{org}`, `urn:linli:cold-store:{org}`, `urn:linli:producer:{org}-{n}`: the
  site of the organisation, named after it, but only in events that organisation captured
  (another organisation cannot put its goods in someone else's cold store by naming it);
- `urn:linli:vehicle:{plate}`: the vehicle and its plate.

Any other identifier (an SGLN, a URL, another URN, an unknown platform URN) is shown
shortened; the full identifier stays available as a tooltip. Names are plain text or a
`Message`: templates escape them like any other data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation
from linli.community import points as pickup_points
from linli.i18n import N_, Message

PLATFORM = "urn:linli:"
MAX_SHOWN = 40
_ID = re.compile(r"^[0-9]{1,18}$")
_PLATE = re.compile(r"^[0-9A-Za-z-]{1,16}$")
# kind -> the name of an organisation's site of that kind
SITES = {
    "kitchen": N_("Kitchen of {organisation}"),
    "cold-store": N_("Cold store of {organisation}"),
    "producer": N_("Production site of {organisation}"),
}


@dataclass(frozen=True)
class Place:
    uri: str  # as captured
    name: Message | str  # what a person reads
    known: bool  # one of the platform's own locations


@dataclass(frozen=True)
class _Parsed:
    kind: str
    ref: int | str


def _parse(uri: str) -> _Parsed | None:
    """The kind and reference of a platform location URN; None for anything else."""
    if not uri.startswith(PLATFORM):
        return None
    kind, _sep, rest = uri[len(PLATFORM) :].partition(":")
    if kind == "pickup-point" and _ID.match(rest):
        return _Parsed(kind, int(rest))
    if kind in ("kitchen", "cold-store") and _ID.match(rest):
        return _Parsed(kind, int(rest))
    if kind == "producer":
        organisation, _dash, _n = rest.partition("-")
        if _ID.match(organisation):
            return _Parsed(kind, int(organisation))
    if kind == "vehicle" and _PLATE.match(rest):
        return _Parsed(kind, rest)
    return None


def shorten(uri: str) -> str:
    """A short, readable form of an identifier that is not one of the platform's own."""
    text = uri.strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc:
        last = [segment for segment in parts.path.split("/") if segment]
        text = parts.netloc + ("/…/" + last[-1] if last else "")
    elif text.startswith("urn:epc:id:"):
        scheme, _sep, value = text[len("urn:epc:id:") :].partition(":")
        text = f"{scheme.upper()} {value}" if value else text
    elif text.startswith("urn:"):
        pieces = text.split(":")
        text = "…:" + pieces[-1] if len(pieces) > 3 and pieces[-1] else text
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 1] + "…"
    return text


async def places(
    session: AsyncSession, named: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Place]:
    """(uri, capturing organisation id) -> Place, for every pair given; two queries at most."""
    pairs = set(named)
    parsed = {pair: _parse(pair[0]) for pair in pairs}
    point_ids = {int(p.ref) for p in parsed.values() if p and p.kind == "pickup-point"}
    organisation_ids = {
        int(p.ref) for (_uri, org), p in parsed.items() if p and p.kind in SITES and p.ref == org
    }
    points = {i: p.name for i, p in (await pickup_points.points(session, point_ids)).items()}
    organisations: dict[int, str] = {}
    if organisation_ids:
        rows = await session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_(sorted(organisation_ids))
            )
        )
        organisations = {int(i): name for i, name in rows.all()}
    result: dict[tuple[str, int], Place] = {}
    for (uri, org), p in parsed.items():
        name: Message | str | None = None
        if p is not None and p.kind == "pickup-point":
            if int(p.ref) in points:
                name = Message(N_("Pickup point {name}"), {"name": points[int(p.ref)]})
        elif p is not None and p.kind in SITES and p.ref == org and org in organisations:
            name = Message(SITES[p.kind], {"organisation": organisations[org]})
        elif p is not None and p.kind == "vehicle":
            name = Message(N_("Vehicle {plate}"), {"plate": p.ref})
        result[(uri, org)] = Place(uri, name, True) if name else Place(uri, shorten(uri), False)
    return result
