"""The EPCIS 2.0 REST binding's headers and format negotiation, for every answer under /epcis
(including errors, and the 413 of the body limit):

- every answer carries `GS1-EPCIS-Version`, `GS1-EPCIS-Min`, `GS1-EPCIS-Max`,
  `GS1-CBV-Version`, `GS1-CBV-Min`, `GS1-CBV-Max`, `GS1-Vendor-Version` and `GS1-Extensions`;
  answers of `/epcis/capture` (OPTIONS, GET, POST, and its 413) also the capture limits
  `GS1-EPCIS-Capture-Limit` (events per document), `GS1-EPCIS-Capture-File-Size-Limit`
  (bytes) and the default `GS1-Capture-Error-Behaviour`;
- a request asking for a version Linli does not speak (`GS1-EPCIS-Version`, `GS1-CBV-Version`,
  or a `GS1-EPCIS-Min`/`-Max`, `GS1-CBV-Min`/`-Max` range without 2.0.0) answers 406, as does
  an `Accept` that takes neither JSON nor (where Linli answers in XML) XML;
- a body that is not JSON answers 415 (capture, which also takes XML, decides for itself).

A pure ASGI middleware (no body buffering): it looks at the request's headers and rewrites the
response's first message."""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli import __version__
from linli.errors import DomainError, NotAcceptable, UnsupportedMediaType
from linli.i18n import N_
from linli.trace.capture_checks import MAX_EVENTS
from linli.trace.epcis_xml import LINLI_NAMESPACE
from linli.trace.models import ROLLBACK

VERSION = (2, 0, 0)
VERSION_TEXT = "2.0.0"
PREFIX = "/epcis"
CAPTURE = "/epcis/capture"
ERROR_BEHAVIOUR_HEADER = "GS1-Capture-Error-Behaviour"
# the answers Linli can give in XML (the query documents); everything else is JSON only
_XML_PATHS = re.compile(r"^/epcis/(?:events(?:/.*)?|queries/[^/]+/events)$")
_JSON_TYPES = ("application/json", "application/ld+json", "")
_VERSION = re.compile(r"^(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?$")


def epcis_headers() -> dict[str, str]:
    """The headers of every /epcis answer."""
    return {
        "GS1-EPCIS-Version": VERSION_TEXT,
        "GS1-EPCIS-Min": VERSION_TEXT,
        "GS1-EPCIS-Max": VERSION_TEXT,
        "GS1-CBV-Version": VERSION_TEXT,
        "GS1-CBV-Min": VERSION_TEXT,
        "GS1-CBV-Max": VERSION_TEXT,
        "GS1-Vendor-Version": f"linli/{__version__}",
        "GS1-Extensions": f"linli={LINLI_NAMESPACE}",
    }


def capture_headers(file_size_limit: int) -> dict[str, str]:
    """The capture interface's limits, on every answer of /epcis/capture."""
    return {
        "GS1-EPCIS-Capture-Limit": str(MAX_EVENTS),
        "GS1-EPCIS-Capture-File-Size-Limit": str(file_size_limit),
        ERROR_BEHAVIOUR_HEADER: ROLLBACK,
    }


def _version(text: str) -> tuple[int, ...] | None:
    found = _VERSION.match(text.strip())
    if found is None:
        return None
    return tuple(int(part or 0) for part in found.groups())


def _refused_version(headers: Headers) -> str | None:
    """The first GS1 version header of the request that excludes EPCIS/CBV 2.0.0."""
    for kind in ("EPCIS", "CBV"):
        asked = headers.get(f"GS1-{kind}-Version")
        if asked is not None:
            version = _version(asked)
            # "2.0" and "2.0.0" name the same version; 2.0.x patch levels are compatible
            if version is None or version[:2] != VERSION[:2]:
                return f"GS1-{kind}-Version"
        low, high = headers.get(f"GS1-{kind}-Min"), headers.get(f"GS1-{kind}-Max")
        if low is not None and ((v := _version(low)) is None or v > VERSION):
            return f"GS1-{kind}-Min"
        if high is not None and ((v := _version(high)) is None or v < VERSION):
            return f"GS1-{kind}-Max"
    return None


def _acceptable(accept: str, xml: bool) -> bool:
    """Whether an Accept header takes JSON (or, when `xml`, XML) or anything."""
    if not accept.strip():
        return True
    for part in accept.lower().split(","):
        media, _semi, params = part.strip().partition(";")
        media = media.strip()
        if re.search(r"(?:^|;)\s*q\s*=\s*0(?:\.0{0,3})?\s*(?:;|$)", params):
            continue  # q=0: explicitly not acceptable
        if media in ("*/*", "application/*") or "json" in media:
            return True
        if xml and media in ("text/*", "application/xml", "text/xml"):
            return True
    return False


def refusal(scope: Scope) -> DomainError | None:
    """Why the request cannot be answered in a form it accepts (406) or why its body is not
    one Linli reads (415); None when it can go on."""
    headers = Headers(scope=scope)
    path: str = scope["path"]
    refused = _refused_version(headers)
    if refused is not None:
        return NotAcceptable(
            N_("Linli speaks EPCIS and CBV 2.0.0 only; the request's {header} excludes it."),
            code="version_not_supported",
            header=refused,
        )
    xml = _XML_PATHS.match(path) is not None
    if not _acceptable(headers.get("accept", ""), xml):
        return NotAcceptable(
            N_(
                "This resource answers in JSON (application/ld+json, application/json) or XML "
                "(application/xml); the request's Accept takes none of them."
            )
            if xml
            else N_(
                "This resource answers in JSON (application/json); the request's Accept "
                "does not take it."
            ),
            code="not_acceptable",
        )
    if scope["method"] in ("POST", "PUT", "PATCH") and path != CAPTURE:
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _JSON_TYPES and not media.endswith("+json"):
            return UnsupportedMediaType(
                N_("Send JSON (application/json)."), code="unsupported_media_type"
            )
    return None


class EpcisHeadersMiddleware:
    """The GS1 headers on every /epcis answer; 406 / 415 before the route runs."""

    def __init__(self, app: ASGIApp, *, file_size_limit: int) -> None:
        self.app = app
        self.file_size_limit = file_size_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        added = epcis_headers()
        if path == CAPTURE:
            added.update(capture_headers(self.file_size_limit))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    if name not in headers:  # a route's own (the behaviour it used) stands
                        headers[name] = value
            await send(message)

        error = refusal(scope)
        if error is None:
            await self.app(scope, receive, send_with_headers)
            return
        payload = json.dumps(error.body(), ensure_ascii=False).encode("utf-8")
        await send_with_headers(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send_with_headers({"type": "http.response.body", "body": payload})
