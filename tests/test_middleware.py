"""Security headers: the content security policy closes base-URI and form-target tricks.
Compression (Brotli, gzip) and the caching of pages: Cache-Control, ETag and 304."""

from __future__ import annotations

import gzip
import json
import re

import brotli
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from linli.middleware import CompressionMiddleware, accepted_encoding
from tests.factories import login, make_user
from tests.live import LiveServer, live_server  # noqa: F401


async def test_the_policy_refuses_foreign_bases_form_targets_and_plugins(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/t/NOSUCHCODE", "/api/v1/catalog/products"):
        response = await client.get(path)
        policy = [part.strip() for part in response.headers["content-security-policy"].split(";")]
        assert "base-uri 'none'" in policy, path
        assert "form-action 'self'" in policy, path
        assert "object-src 'none'" in policy, path
        assert "script-src 'self'" in policy, path


# --- compression --------------------------------------------------------------------------------


async def raw_get(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent (not decoded by the client)."""
    async with client.stream("GET", path, headers=headers) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


async def test_pages_are_sent_in_brotli_or_gzip_as_the_client_accepts(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/healthz")  # the CSRF cookie, so every answer renders the same page
    plain, plain_raw = await raw_get(client, "/catalog", {"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain_raw) > 2000
    gzipped, gzip_raw = await raw_get(client, "/catalog", {"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(gzip_raw) == plain_raw
    assert int(gzipped.headers["content-length"]) == len(gzip_raw) < len(plain_raw) / 2
    brotlied, br_raw = await raw_get(client, "/catalog", {"Accept-Encoding": "gzip, br"})
    assert brotlied.headers["content-encoding"] == "br"
    assert brotli.decompress(br_raw) == plain_raw
    refused, refused_raw = await raw_get(client, "/catalog", {"Accept-Encoding": "br;q=0, gzip"})
    assert refused.headers["content-encoding"] == "gzip"
    assert gzip.decompress(refused_raw) == plain_raw
    for answer in (plain, gzipped, brotlied):
        assert "accept-encoding" in answer.headers["vary"].lower()
    # The page's validator names the page, not its bytes: weak once encoded, same value.
    assert gzipped.headers["etag"] == "W/" + plain.headers["etag"]
    assert brotlied.headers["etag"] == gzipped.headers["etag"]


async def test_small_answers_are_sent_as_they_are(client: httpx.AsyncClient) -> None:
    small, raw = await raw_get(client, "/healthz", {"Accept-Encoding": "gzip, br"})
    assert small.status_code == 200
    assert len(raw) < 500
    assert "content-encoding" not in small.headers
    assert json.loads(raw)["status"] == "ok"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip;q=0.5", "gzip"),
        ("identity", None),
        ("", None),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("gzip;q=zero", None),
        ("BR", "br"),
    ],
)
def test_the_encoding_is_the_first_we_offer_that_the_client_accepts(
    accept: str, chosen: str | None
) -> None:
    assert accepted_encoding(accept, ("br", "gzip")) == chosen


def asgi_answer(content_type: str, parts: list[bytes]) -> ASGIApp:
    """A bare ASGI app answering `parts` as the body's messages."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        for index, part in enumerate(parts):
            await send(
                {"type": "http.response.body", "body": part, "more_body": index < len(parts) - 1}
            )

    return answer


async def served(app: ASGIApp, accept: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
        c.stream("GET", "/", headers={"Accept-Encoding": accept}) as response,
    ):
        response._content = b"".join([chunk async for chunk in response.aiter_raw()])
    return response


async def test_compressed_types_are_left_alone_and_streams_are_encoded_as_they_go() -> None:
    jpeg = b"\xff\xd8\xff" + bytes(range(256)) * 20
    image = await served(CompressionMiddleware(asgi_answer("image/jpeg", [jpeg])), "gzip, br")
    assert "content-encoding" not in image.headers
    assert "vary" not in image.headers
    assert image.content == jpeg
    events = [b"data: tick\n\n" * 100, b"data: tock\n\n" * 100]
    stream = await served(
        CompressionMiddleware(asgi_answer("text/event-stream", events)), "gzip, br"
    )
    assert "content-encoding" not in stream.headers
    assert stream.content == b"".join(events)
    parts = [b"<p>" + b"x" * 400 + b"</p>", b"<p>" + b"y" * 400 + b"</p>", b"<p>end</p>"]
    for accept, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        streamed = await served(
            CompressionMiddleware(asgi_answer("text/html; charset=utf-8", parts)), accept
        )
        assert streamed.headers["content-encoding"] == accept
        assert "content-length" not in streamed.headers
        assert decode(streamed.content) == b"".join(parts)


async def test_kept_compressed_bodies_are_told_apart_by_content_not_validator() -> None:
    """Two static files may share Starlette's ETag (same mtime and size): each is sent as
    itself, though compressed bodies of public answers are kept."""
    bodies = [b"a { color: red }  " * 60, b"b { color: tan }  " * 60]
    served_now = iter(bodies * 2)

    async def static_like(scope: Scope, receive: Receive, send: Send) -> None:
        body = next(served_now)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/css"),
                    (b"etag", b'"same-mtime-and-size"'),
                    (b"cache-control", b"public, max-age=300"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    compressing = CompressionMiddleware(static_like)
    for expected in bodies * 2:
        answer = await served(compressing, "gzip")
        assert answer.headers["content-encoding"] == "gzip"
        assert gzip.decompress(answer.content) == expected


# --- caching of pages ---------------------------------------------------------------------------


async def test_a_public_page_is_validated_and_answered_304_when_unchanged(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/")  # a first visit sets the CSRF cookie: personal
    assert "set-cookie" in first.headers
    assert first.headers["cache-control"] == "private, no-store"
    assert "etag" not in first.headers
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "private, no-cache"
    vary = page.headers["vary"].lower()
    assert "cookie" in vary
    assert "accept-language" in vary
    etag = page.headers["etag"]
    assert etag.removeprefix("W/").startswith('"')  # weak: the client accepts gzip
    unchanged = await client.get("/", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"].removeprefix("W/") == etag.removeprefix("W/")
    assert unchanged.headers["cache-control"] == "private, no-cache"
    listed = f'"other", {etag.removeprefix("W/")}'  # a list, the tag in its strong form
    assert (await client.get("/", headers={"If-None-Match": listed})).status_code == 304
    other = await client.get("/", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert other.text == page.text
    chinese = await client.get("/", headers={"If-None-Match": etag, "Accept-Language": "zh-CN"})
    assert chinese.status_code == 200  # another language is another page
    assert chinese.headers["etag"] != etag


async def test_pages_of_a_logged_in_visitor_and_forms_are_never_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.get("/healthz")
    for path in ("/login", "/signup", "/groupbuy/orders", "/api/v1/catalog/products"):
        answer = await client.get(path)
        assert answer.headers["cache-control"] == "private, no-store", path
        assert "etag" not in answer.headers, path
    user = await make_user(session)
    await login(client, user)
    for path in ("/", "/catalog", "/groupbuy/orders", "/account"):
        answer = await client.get(path, headers={"If-None-Match": "*"})
        assert answer.status_code == 200, path
        assert answer.headers["cache-control"] == "private, no-store", path
        assert "etag" not in answer.headers, path


def test_a_served_instance_compresses_validates_and_caches_over_real_http(
    live_server: LiveServer,  # noqa: F811
) -> None:
    """Through uvicorn and a socket: the headers and bodies as a browser meets them."""
    with httpx.Client(base_url=live_server.url, timeout=30.0) as browser:
        browser.get("/healthz")  # the CSRF cookie
        plain = browser.get("/catalog", headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200
        assert plain.headers["cache-control"] == "private, no-cache"
        with browser.stream("GET", "/catalog", headers={"Accept-Encoding": "gzip"}) as gzipped:
            raw = b"".join(gzipped.iter_raw())
        assert gzipped.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in gzipped.headers["vary"].lower()
        assert gzip.decompress(raw) == plain.content
        conditional = {"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["etag"]}
        unchanged = browser.get("/catalog", headers=conditional)
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        stylesheet = re.search(r'href="(/static/linli\.[0-9a-f]{12}\.css)"', plain.text)
        assert stylesheet is not None
        css = browser.get(stylesheet.group(1), headers={"Accept-Encoding": "br"})
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert css.headers["content-encoding"] == "br"
        assert ".topbar" in css.text
        assert browser.get("/login").headers["cache-control"] == "private, no-store"
