"""Static files under fingerprinted URLs: every page names them so, they are cached for a year
(immutable); the plain name and a stale fingerprint still answer, briefly cached."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx

from linli.assets import IMMUTABLE, SHORT, Manifest
from linli.web import STATIC_DIR

STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def test_the_manifest_names_each_file_by_its_content(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body { color: black }")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "menu.v2.js").write_text("// menu")
    manifest = Manifest.build(tmp_path)
    css = hashlib.sha256(b"body { color: black }").hexdigest()[:12]
    assert manifest.url("site.css") == f"/static/site.{css}.css"
    js = manifest.fingerprints["js/menu.v2.js"]
    assert manifest.url("js/menu.v2.js") == f"/static/js/menu.v2.{js}.js"
    assert manifest.resolve(f"site.{css}.css") == ("site.css", True)
    assert manifest.resolve(f"js/menu.v2.{js}.js") == ("js/menu.v2.js", True)
    assert manifest.resolve("site.000000000000.css") == ("site.css", False)  # stale
    assert manifest.resolve("site.css") == ("site.css", False)
    assert manifest.resolve("other.000000000000.css") == ("other.000000000000.css", False)
    (tmp_path / "site.css").write_text("body { color: navy }")
    assert Manifest.build(tmp_path).url("site.css") != manifest.url("site.css")


async def test_pages_name_static_files_by_fingerprint_and_those_are_immutable(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    urls = STATIC_URL.findall(page.text)
    manifest = Manifest.build(STATIC_DIR)
    assert set(urls) >= {manifest.url(n) for n in ("linli.css", "menu.js", "favicon.svg")}
    for url in urls:
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE, url
        name = url.removeprefix("/static/")
        real = manifest.resolve(name)[0]
        assert answer.content == (STATIC_DIR / real).read_bytes(), url
    css = await client.get(manifest.url("linli.css"), headers={"Accept-Encoding": "gzip"})
    assert css.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in css.headers["vary"].lower()
    assert css.content == (STATIC_DIR / "linli.css").read_bytes()
    again = await client.get(
        manifest.url("linli.css"),
        headers={"Accept-Encoding": "gzip", "If-None-Match": css.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.headers["cache-control"] == IMMUTABLE


async def test_plain_and_stale_names_still_answer_with_a_short_cache(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/static/linli.css", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == SHORT
    etag = plain.headers["etag"]
    unchanged = await client.get("/static/linli.css", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.headers["cache-control"] == SHORT
    stale = await client.get("/static/linli.0123456789ab.css")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == SHORT
    assert stale.content == plain.content
    assert (await client.get("/static/nothing.0123456789ab.css")).status_code == 404
    assert (await client.get("/static/nothing.css")).status_code == 404
