"""Pure ASGI middleware: request locale, request body limits, security headers, compression,
caching headers and conditional GET for pages, rendered public pages kept per process."""

from __future__ import annotations

import hashlib
import json
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import brotli
from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli import clock, i18n
from linli.db import DEFERRED_OPTION, READ_GENERATION
from linli.errors import PayloadTooLarge
from linli.i18n import N_

LANG_COOKIE = "linli_lang"
LANG_COOKIE_SECONDS = 365 * 86400


class LocaleMiddleware:
    """The request's locale: the remembered cookie (set by POST /lang), else Accept-Language."""

    def __init__(self, app: ASGIApp, *, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        locale = self._from_cookie(headers.get("cookie", "")) or i18n.negotiate(
            headers.get("accept-language"), self.default
        )
        scope.setdefault("state", {})["locale"] = locale
        token = i18n.set_locale(locale)
        try:
            await self.app(scope, receive, send)
        finally:
            i18n.reset_locale(token)

    @staticmethod
    def _from_cookie(cookie_header: str) -> str | None:
        for part in cookie_header.split(";"):
            name, _sep, value = part.strip().partition("=")
            if name == LANG_COOKIE and value in i18n.LOCALES:
                return value
        return None


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 before the application reads them.

    The body is read here (bounded) and replayed, so a client that lies about or omits
    Content-Length is stopped just the same.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        is_upload = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.max_upload_bytes if is_upload else self.max_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        token = i18n.set_locale(scope.get("state", {}).get("locale", "en"))
        try:
            error = PayloadTooLarge(
                N_("The request is too large: at most {limit} KiB."), limit=limit // 1024
            )
            payload = json.dumps(error.body(), ensure_ascii=False).encode()
        finally:
            i18n.reset_locale(token)
        await send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class SecurityHeadersMiddleware:
    """Conservative headers on every response; every asset is ours, so 'self' is enough."""

    HEADERS: ClassVar[dict[str, str]] = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "same-origin",
        "content-security-policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
            "object-src 'none'"
        ),
    }

    # Sent when cookies are secure (served over HTTPS only): browsers then refuse plain HTTP.
    HSTS = "max-age=31536000; includeSubDomains"

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = dict(self.HEADERS)
        if hsts:
            self.headers["strict-transport-security"] = self.HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- compression ------------------------------------------------------------------------------

# What is worth compressing: text formats. Images (JPEG, PNG, WebP) and PDFs are compressed
# already; event streams must reach the client as they are written, so they are left alone.
COMPRESSIBLE_TYPES = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "text/csv",
        "application/javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    }
)
GZIP_LEVEL = 6
# Brotli quality 5: about gzip -6's speed with smaller output; 11 is for build-time assets.
BROTLI_QUALITY = 5
# Compressed bodies of public, validated responses (static files) are kept, this many.
COMPRESSED_CACHE_SIZE = 128


def compressible(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in COMPRESSIBLE_TYPES or media.endswith("+json")


def accepted_encoding(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    """The first of `offered` (in our order of preference) the client accepts (q > 0)."""
    qualities: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        if not name:
            continue
        quality = 1.0
        for param in params:
            key, _sep, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[name] = quality
    for encoding in offered:
        if qualities.get(encoding, qualities.get("*", 0.0)) > 0:
            return encoding
    return None


def add_vary(headers: MutableHeaders, *names: str) -> None:
    present = {v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()}
    if "*" in present:
        return
    missing = [name for name in names if name.lower() not in present]
    if missing:
        headers["vary"] = ", ".join(
            [v.strip() for v in headers.get("vary", "").split(",") if v.strip()] + missing
        )


class _Compressor:
    """One response's encoder: gzip (zlib with the gzip wrapper) or Brotli."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding == "br":
            self._br = brotli.Compressor(quality=BROTLI_QUALITY)
        else:
            self._gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def chunk(self, data: bytes) -> bytes:
        """Compress `data` and flush, so what was written so far reaches the client."""
        if self.encoding == "br":
            # brotli 1.2.1 has Compressor.flush; brotli-stubs 1.2.1 does not declare it.
            processed = self._br.process(data)
            flushed: bytes = self._br.flush()  # type: ignore[attr-defined]
            return processed + flushed
        return self._gz.compress(data) + self._gz.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes = b"") -> bytes:
        if self.encoding == "br":
            return self._br.process(data) + self._br.finish()
        return self._gz.compress(data) + self._gz.flush(zlib.Z_FINISH)


class CompressionMiddleware:
    """Brotli or gzip for text responses above `minimum_size`, as the client accepts.

    Starlette's GZipMiddleware offers gzip only and compresses by size whatever the type; this
    one picks Brotli when accepted (smaller pages for the same CPU), leaves already-compressed
    types alone, answers `Vary: Accept-Encoding` on every compressible response, and marks a
    strong ETag weak when it encodes the body (the bytes differ, the page does not: a
    conditional request with either form still matches, RFC 9110 weak comparison).
    Compressed bodies of public responses with a validator (static files) are kept, so each
    static file is compressed once per encoding.
    """

    def __init__(self, app: ASGIApp, *, minimum_size: int = 500) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.offered = ("br", "gzip")
        self._kept: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        encoding = None
        if scope["method"] != "HEAD":
            encoding = accepted_encoding(headers.get("accept-encoding", ""), self.offered)
        start: Message | None = None
        compressor: _Compressor | None = None
        passthrough = False

        async def send_compressed(message: Message) -> None:
            nonlocal start, compressor, passthrough
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                # A 304 names no type: it varies as its full answer may. Its ETag stays as the
                # route made it (weak comparison matches either form).
                if message["status"] == 304 or compressible(
                    response_headers.get("content-type", "")
                ):
                    add_vary(response_headers, "Accept-Encoding")
                if (
                    encoding is None
                    or message["status"] in (204, 206, 304)
                    or "content-encoding" in response_headers
                    or not compressible(response_headers.get("content-type", ""))
                ):
                    passthrough = True
                    await send(message)
                    return
                start = message  # held until the first body part shows the size
                return
            if message["type"] != "http.response.body" or passthrough:
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            if start is not None:  # the first part of the body
                held, start = start, None
                response_headers = MutableHeaders(scope=held)
                if not more and len(body) < self.minimum_size:
                    passthrough = True
                    await send(held)
                    await send(message)
                    return
                assert encoding is not None
                compressor = _Compressor(encoding)
                response_headers["content-encoding"] = encoding
                etag = response_headers.get("etag")
                if etag and not etag.startswith("W/"):
                    response_headers["etag"] = "W/" + etag
                if more:
                    del response_headers["content-length"]
                    await send(held)
                    await send({**message, "body": compressor.chunk(body)})
                    return
                compressed = self._compress_whole(compressor, body, held, etag)
                response_headers["content-length"] = str(len(compressed))
                await send(held)
                await send({**message, "body": compressed})
                return
            assert compressor is not None
            data = compressor.chunk(body) if more else compressor.finish(body)
            await send({**message, "body": data})

        await self.app(scope, receive, send_compressed)

    def _compress_whole(
        self, compressor: _Compressor, body: bytes, start: Message, etag: str | None
    ) -> bytes:
        cache_control = Headers(raw=start["headers"]).get("cache-control", "")
        if not etag or "public" not in cache_control:
            return compressor.finish(body)
        # Keyed by the body itself: a validator such as Starlette's (mtime and size) can be
        # shared by two files; hashing costs a small part of compressing.
        key = (compressor.encoding, hashlib.blake2b(body, digest_size=16).digest())
        kept = self._kept.get(key)
        if kept is None:
            kept = compressor.finish(body)
            self._kept[key] = kept
            if len(self._kept) > COMPRESSED_CACHE_SIZE:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        return kept


# --- caching of pages -------------------------------------------------------------------------

PUBLIC_PAGE = "public_page"  # scope["state"] key: the route rendered a page anyone may see
PAGE_FRESH_FOR = "page_fresh_for"  # scope["state"] key: seconds a public page stays true
# scope["state"] key: a check each answer from the kept page must pass first (a rate limit);
# when it fails the request goes to the route, which answers as it would (429).
PAGE_GUARD = "page_guard"
PERSONAL = "private, no-store"
# Every page carries the visitor's CSRF token (the language form), so no shared cache may keep
# one; the visitor's browser may, and asks again each time with the ETag.
REVALIDATED = "private, no-cache"


def body_etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


class PageCacheMiddleware:
    """Cache-Control for every answer, ETag and 304 for public pages.

    A route marks its page as public (`scope["state"]["public_page"]`, set by
    `web.render(..., public=True)`); it is answered `private, no-cache` with an ETag (a hash of
    the body), and a conditional GET whose If-None-Match holds it is answered 304 without the
    body. A public page turns personal when the request is authenticated (the route's actor) or
    the answer sets a cookie. Personal answers, and every answer that states no caching of its
    own, are `private, no-store`: nothing personal lingers in any cache by omission.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if_none_match = Headers(scope=scope).get("if-none-match")
        # HEAD has no body to hash: it is answered as any answer without a validator.
        cacheable_method = scope["method"] == "GET"
        held: Message | None = None
        parts: list[bytes] = []

        async def send_with_caching(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if cacheable_method and message["status"] == 200 and self._public(state, headers):
                    headers["cache-control"] = REVALIDATED
                    add_vary(headers, "Cookie", "Accept-Language")
                    held = message
                    return
                if "cache-control" not in headers or state.get(PUBLIC_PAGE):
                    headers["cache-control"] = PERSONAL
                await send(message)
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start, held = held, None
            await self._send_validated(start, b"".join(parts), if_none_match, send)

        await self.app(scope, receive, send_with_caching)

    @staticmethod
    def _public(state: dict[str, object], headers: MutableHeaders) -> bool:
        if not state.get(PUBLIC_PAGE) or "set-cookie" in headers:
            return False
        actor = state.get("actor")
        return not getattr(actor, "is_authenticated", False)

    @staticmethod
    async def _send_validated(
        start: Message, body: bytes, if_none_match: str | None, send: Send
    ) -> None:
        headers = MutableHeaders(scope=start)
        etag = body_etag(body)
        headers["etag"] = etag
        if if_none_match is not None and etag_matches(if_none_match, etag):
            for name in ("content-length", "content-type"):
                if name in headers:
                    del headers[name]
            await send({**start, "status": 304})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


# --- rendered public pages, kept per process ----------------------------------------------

CSRF_STATE = "csrf_token"  # scope["state"] key of the visitor's CSRF token (web.py sets it)
# Cookies an anonymous visitor's public page may be answered to from the cache: its CSRF token
# (substituted into the kept page) and its language (a part of the key). Any other cookie (a
# session, a flash message) makes the request personal.
NEUTRAL_COOKIES = frozenset({"linli_csrf", LANG_COOKIE})
KEPT_PAGE_MAX_BYTES = 256 * 1024  # bigger pages are rendered each time
# Never pages: answered without reading the content generation.
NOT_PAGES = ("/static/", "/files/", "/api/", "/epcis/", "/healthz", "/openapi.json")


@dataclass
class _KeptPage:
    generation: int
    kept_at: datetime  # on the application's clock, the one the pages are rendered by
    expires_at: datetime
    guard: Callable[[Scope], bool] | None
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes  # with the placeholder where the visitor's CSRF token goes


def neutral_request(scope: Scope) -> bool:
    """A GET of a page (not a static file, an upload or the API) from an anonymous visitor: no
    credentials, no cookie but the CSRF token and the language."""
    if scope["method"] != "GET" or scope["path"].startswith(NOT_PAGES):
        return False
    for name, value in scope["headers"]:
        if name == b"authorization":
            return False
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie = part.strip().partition("=")[0]
                if cookie and cookie not in NEUTRAL_COOKIES:
                    return False
    return True


class ResponseCacheMiddleware:
    """Public pages (those a route renders with `public=True`) kept per process, rendered once
    per content generation, locale and URL for every anonymous visitor.

    Every request that may be answered from the cache (`neutral_request`) reads the content
    generation (one read summing at most 16 rows, `db.READ_GENERATION`): every transaction that
    writes content moves it on as it commits (`db.track_content_writes`), so a page kept under
    an older generation is never served again, in this process or any other. A generation
    change empties the cache. Entries also expire after `max_age` seconds, for what changes
    with time alone (a licence that expires at midnight, a campaign that opens at 8 pm).

    The page is rendered with a placeholder instead of the visitor's CSRF token (the
    language form carries it), and each answer gets its own visitor's token, escaped as the
    template would have; the key holds the path, the query, the host and the locale. Only a
    200 answer of a public page that sets no cookie, to an anonymous actor, is kept, up to
    `max_entries` pages of at most KEPT_PAGE_MAX_BYTES each (the least recently used go). A
    route may name a check every answer from its kept page passes first (`PAGE_GUARD`: the
    trace page's per-address limit); a refused request goes on to the route.
    """

    def __init__(
        self, app: ASGIApp, *, engine: AsyncEngine, max_age: float, max_entries: int = 1000
    ) -> None:
        self.app = app
        self.engine = engine.execution_options(**{DEFERRED_OPTION: True})
        self.max_age = max_age
        self.max_entries = max_entries
        self.placeholder = "linli-csrf-" + secrets.token_hex(16)
        self.generation: int | None = None
        self.pages: OrderedDict[tuple[str, ...], _KeptPage] = OrderedDict()

    async def read_generation(self) -> int | None:
        async with self.engine.connect() as connection:
            value = await connection.scalar(text(READ_GENERATION))
        return None if value is None else int(value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_age <= 0 or not neutral_request(scope):
            await self.app(scope, receive, send)
            return
        generation = await self.read_generation()
        if generation is None:  # no row (an emptied table): nothing can be trusted to it
            await self.app(scope, receive, send)
            return
        if generation != self.generation:
            self.pages.clear()
            self.generation = generation
        state = scope.setdefault("state", {})
        token = str(state.get(CSRF_STATE, ""))
        headers = Headers(scope=scope)
        key = (
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            str(state.get("locale", "")),
            headers.get("host", ""),
            scope.get("scheme", "http"),
        )
        now = clock.now()  # a test's frozen clock moved on ends what changes with time too
        kept = self.pages.get(key)
        if (
            kept is not None
            and kept.generation == generation  # not one a slower request kept after a change
            and kept.kept_at <= now < kept.expires_at
            and (kept.guard is None or kept.guard(scope))
        ):
            self.pages.move_to_end(key)
            state[PUBLIC_PAGE] = True
            await self._answer(kept.status, kept.headers, kept.body, token, send)
            return
        state[CSRF_STATE] = self.placeholder
        held: Message | None = None
        parts: list[bytes] = []

        async def send_kept(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if Headers(raw=message["headers"]).get("content-type", "").startswith("text/html"):
                    held = message  # it may hold the placeholder: substituted when whole
                    return
                await send(message)
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(parts)
            start_headers = [
                (name, value) for name, value in held["headers"] if name != b"content-length"
            ]
            said = state.get(PAGE_FRESH_FOR)
            fresh_for = min(self.max_age, said) if isinstance(said, int | float) else self.max_age
            if fresh_for > 0 and len(body) <= KEPT_PAGE_MAX_BYTES and self._keepable(state, held):
                expires = now + timedelta(seconds=fresh_for)
                guard = state.get(PAGE_GUARD)
                entry = _KeptPage(
                    generation,
                    now,
                    expires,
                    guard if callable(guard) else None,
                    held["status"],
                    start_headers,
                    body,
                )
                self.pages[key] = entry
                self.pages.move_to_end(key)
                while len(self.pages) > self.max_entries:
                    self.pages.popitem(last=False)
            await self._answer(held["status"], start_headers, body, token, send)

        await self.app(scope, receive, send_kept)

    @staticmethod
    def _keepable(state: dict[str, object], start: Message) -> bool:
        if start["status"] != 200 or not state.get(PUBLIC_PAGE):
            return False
        if any(name == b"set-cookie" for name, _ in start["headers"]):
            return False
        return not getattr(state.get("actor"), "is_authenticated", False)

    async def _answer(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        token: str,
        send: Send,
    ) -> None:
        page = body.replace(self.placeholder.encode(), str(escape(token)).encode())
        raw = [*headers, (b"content-length", str(len(page)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": page, "more_body": False})
