"""Static files under fingerprinted URLs: `/static/linli.3f2a9c1b04de.css` names the content.

The fingerprint (the first 12 hex digits of the file's SHA-256) is computed once, when the
manifest is built at start; templates ask `static_url("linli.css")` for the URL. A request for
the current fingerprint is answered `public, max-age=31536000, immutable`: a changed file gets
a new URL, so browsers never need to ask again. The plain name (and a stale fingerprint, asked
by a page rendered before a deploy) still answers, with a short cache and the ETag.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
FINGERPRINT_LENGTH = 12
STATIC_PREFIX = "/static/"
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Manifest:
    """Each static file's fingerprint, by its path under the static directory."""

    fingerprints: dict[str, str]

    @classmethod
    def build(cls, directory: Path) -> Manifest:
        return cls(
            {
                path.relative_to(directory).as_posix(): hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()[:FINGERPRINT_LENGTH]
                for path in sorted(directory.rglob("*"))
                if path.is_file()
            }
        )

    def url(self, name: str) -> str:
        """The fingerprinted URL of static file `name` (a KeyError for a file that is not)."""
        fingerprint = self.fingerprints[name]
        stem, dot, suffix = name.rpartition(".")
        if not dot:
            return f"{STATIC_PREFIX}{name}.{fingerprint}"
        return f"{STATIC_PREFIX}{stem}.{fingerprint}.{suffix}"

    def resolve(self, path: str) -> tuple[str, bool]:
        """The file a request path names, and whether it named the current content."""
        if path in self.fingerprints:
            return path, False
        match = _FINGERPRINTED.match(path)
        if match is None:
            return path, False
        name = match["stem"] + match["suffix"]
        if name not in self.fingerprints:
            return path, False
        return name, self.fingerprints[name] == match["hash"]


class FingerprintedStaticFiles(StaticFiles):
    """StaticFiles answering fingerprinted names with immutable caching, plain ones briefly."""

    def __init__(self, *, directory: Path, manifest: Manifest) -> None:
        super().__init__(directory=directory)
        self.manifest = manifest

    async def get_response(self, path: str, scope: Scope) -> Response:
        name, current = self.manifest.resolve(path)
        response = await super().get_response(name, scope)
        if response.status_code in (200, 304):
            response.headers["cache-control"] = IMMUTABLE if current else SHORT
        return response
