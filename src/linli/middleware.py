"""Pure ASGI middleware: request locale, request body limits, security headers."""

from __future__ import annotations

import json
from typing import ClassVar

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
