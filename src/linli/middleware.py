"""Pure ASGI middleware: request locale, request body limits, security headers, compression,
caching headers and conditional GET for pages."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import OrderedDict
from typing import ClassVar

import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli import i18n
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
