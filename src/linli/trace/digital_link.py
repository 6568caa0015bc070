"""GS1 identifiers: EPC URIs and GS1 Digital Links to one canonical Digital Link.

`normalise` follows the constrained canonical form the CBV 2.0 event hash uses (the most
fine-grained key, `https://id.gs1.org`, no query string, no CPV); `gtin_and_lot` is what
batch matching needs (an LGTIN class URN, an SGTIN, or a Digital Link with /01/.../10/...).
"""

from __future__ import annotations

import re
from functools import lru_cache

ID_GS1 = "https://id.gs1.org"
_SERIAL = r"(?:%[0-9A-Fa-f]{2}|[!'()*+,.0-9:;=A-Za-z_-])"
_DL_VALUE = re.compile(r"^[\"'\-.0-9;<=>?A-Z_a-z]*$")
_PERCENT = {"!": "%21", "(": "%28", ")": "%29", "*": "%2A", "+": "%2B", ",": "%2C", ":": "%3A"}
_NAMED_AIS = {
    "gtin": "01",
    "itip": "8006",
    "cpid": "8010",
    "gln": "414",
    "party": "417",
    "gsrnp": "8017",
    "gsrn": "8018",
    "gcn": "255",
    "sscc": "00",
    "gdti": "253",
    "ginc": "401",
    "gsin": "402",
    "grai": "8003",
    "giai": "8004",
    "cpv": "22",
    "lot": "10",
    "ser": "21",
}
_PRIMARY = frozenset(
    ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010")
) | {"8017", "8018"}
_DL = re.compile(r"^https?://[^/?#]*(?P<path>/[^?#]*)")


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of a key without its check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _encode(text: str) -> str:
    return "".join(_PERCENT.get(char, char) for char in text)


def _gtin(company: str, item: str) -> str:
    raw = item[0] + company + item[1:]
    return raw + check_digit(raw)


def _urn(scheme: str, fields: str) -> str | None:
    parts = fields.split(".")
    company = parts[0]
    if not company.isdigit() or not 6 <= len(company) <= 12:
        return None
    if scheme in ("id:sgtin", "class:lgtin", "id:upui") and len(parts) >= 3:
        if len(company + parts[1]) != 13 or not parts[1].isdigit():
            return None
        rest = ".".join(parts[2:])
        if not re.fullmatch(_SERIAL + "{1,28}", rest):
            return None
        ai = {"id:sgtin": "21", "class:lgtin": "10", "id:upui": "235"}[scheme]
        return f"{ID_GS1}/01/{_gtin(company, parts[1])}/{ai}/{_encode(rest)}"
    if scheme == "idpat:sgtin" and len(parts) == 3 and parts[2] == "*":
        return f"{ID_GS1}/01/{_gtin(company, parts[1])}" if len(company + parts[1]) == 13 else None
    if scheme == "id:sscc" and len(parts) == 2 and len(company + parts[1]) == 17:
        raw = parts[1][0] + company + parts[1][1:]
        return f"{ID_GS1}/00/{raw}{check_digit(raw)}"
    if scheme in ("id:sgln", "id:pgln") and len(company + parts[1]) == 12:
        gln = company + parts[1]
        gln += check_digit(gln)
        if scheme == "id:pgln":
            return f"{ID_GS1}/417/{gln}"
        extension = ".".join(parts[2:])
        return f"{ID_GS1}/414/{gln}" + ("" if extension == "0" else f"/254/{_encode(extension)}")
    if scheme == "id:grai" and len(parts) >= 3 and len(company + parts[1]) == 12:
        raw = "0" + company + parts[1]
        return f"{ID_GS1}/8003/{raw}{check_digit(raw)}{_encode('.'.join(parts[2:]))}"
    if scheme == "id:giai" and len(parts) >= 2:
        return f"{ID_GS1}/8004/{company}{_encode('.'.join(parts[1:]))}"
    if scheme in ("id:gsrn", "id:gsrnp") and len(parts) == 2 and len(company + parts[1]) == 17:
        raw = company + parts[1]
        return f"{ID_GS1}/{'8018' if scheme == 'id:gsrn' else '8017'}/{raw}{check_digit(raw)}"
    if scheme == "id:gdti" and len(parts) >= 3 and len(company + parts[1]) == 12:
        raw = company + parts[1]
        return f"{ID_GS1}/253/{raw}{check_digit(raw)}{_encode('.'.join(parts[2:]))}"
    if scheme == "id:ginc" and len(parts) >= 2:
        return f"{ID_GS1}/401/{company}{_encode('.'.join(parts[1:]))}"
    if scheme == "id:gsin" and len(parts) == 2 and len(company + parts[1]) == 16:
        raw = company + parts[1]
        return f"{ID_GS1}/402/{raw}{check_digit(raw)}"
    if scheme == "id:cpi" and len(parts) == 3:
        return f"{ID_GS1}/8010/{_encode(company + parts[1])}/8011/{parts[2]}"
    if scheme == "id:sgcn" and len(parts) == 3 and len(company + parts[1]) == 12:
        raw = company + parts[1]
        return f"{ID_GS1}/255/{raw}{check_digit(raw)}{parts[2]}"
    if scheme == "id:itip" and len(parts) == 5 and len(company + parts[1]) == 13:
        return (
            f"{ID_GS1}/8006/{_gtin(company, parts[1])}{parts[2]}{parts[3]}/21/{_encode(parts[4])}"
        )
    return None


def _digital_link(uri: str) -> str | None:
    found = _DL.match(uri)
    if not found:
        return None
    segments = found["path"].strip("/").split("/")
    segments = [_NAMED_AIS.get(s, s) for s in segments]
    start = next((i for i, s in enumerate(segments) if s in _PRIMARY), None)
    if start is None or len(segments) <= start + 1:
        return None
    key_ai, key = segments[start], segments[start + 1]
    if not re.match(r"^\d{4}", key):
        return None
    qualifiers = dict(zip(segments[start + 2 :: 2], segments[start + 3 :: 2], strict=False))
    if key_ai == "01" and key.isdigit() and len(key) in (8, 12, 13):
        key = key.zfill(14)
    qualifiers.pop("22", None)
    if "21" in qualifiers:
        qualifiers.pop("10", None)
    path = f"/{key_ai}/{key}" + "".join(f"/{ai}/{value}" for ai, value in qualifiers.items())
    if not all(_DL_VALUE.match(v) for v in (key, *qualifiers.values())):
        return None
    return ID_GS1 + path


# The same few identifiers come back in every event of a capture (the lots of a shipment), so
# their canonical forms are remembered; only short ones, so the cache stays small whatever a
# document holds (indexed identifiers are at most 300 characters anyway).
_CACHED_LENGTH = 300
_CACHE_SIZE = 4096


def normalise(uri: str) -> str | None:
    """The canonical Digital Link of an EPC URI or GS1 Digital Link, None for anything else."""
    return _normalise_cached(uri) if len(uri) <= _CACHED_LENGTH else _normalise(uri)


def gtin_and_lot(identifier: str) -> tuple[str, str] | None:
    """(GTIN-14, lot) named by an LGTIN class URN or a Digital Link with /01/{gtin}/10/{lot}."""
    if len(identifier) <= _CACHED_LENGTH:
        return _gtin_and_lot_cached(identifier)
    return _gtin_and_lot(identifier)


def _normalise(uri: str) -> str | None:
    if "." not in uri:
        return None
    for prefix in ("urn:epc:id:", "urn:epc:class:", "urn:epc:idpat:"):
        if uri.startswith(prefix):
            kind = prefix.split(":")[2]
            scheme, _, fields = uri[len(prefix) :].partition(":")
            return _urn(f"{kind}:{scheme}", fields)
    return _digital_link(uri) if uri.startswith(("http://", "https://")) else None


def _gtin_and_lot(identifier: str) -> tuple[str, str] | None:
    if identifier.startswith("urn:epc:class:lgtin:"):
        canonical = normalise(identifier)
    elif identifier.startswith(("http://", "https://")):
        found = _DL.match(identifier)
        canonical = None
        if found:
            segments = [_NAMED_AIS.get(s, s) for s in found["path"].strip("/").split("/")]
            start = segments.index("01") if "01" in segments else len(segments)
            tail = segments[start:]
            pairs = dict(zip(tail[::2], tail[1::2], strict=False))
            if "01" in pairs and "10" in pairs and pairs["01"].isdigit():
                return pairs["01"].zfill(14), _decode(pairs["10"])
    else:
        canonical = None
    if canonical:
        gtin, _, lot = canonical.removeprefix(f"{ID_GS1}/01/").partition("/10/")
        return gtin, _decode(lot)
    return None


def _decode(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


_normalise_cached = lru_cache(maxsize=_CACHE_SIZE)(_normalise)
_gtin_and_lot_cached = lru_cache(maxsize=_CACHE_SIZE)(_gtin_and_lot)
