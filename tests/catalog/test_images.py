"""Product images: type from content, 5 MB, damaged images refused, 320 px public thumbnails."""

from __future__ import annotations

import io
import os

import httpx
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import CSRF_COOKIE
from linli.catalog.models import ProductImage
from linli.files.models import StoredFile
from tests.catalog.helpers import PRODUCTS, as_merchant, count, create_product, image_bytes


async def upload(
    client: httpx.AsyncClient, product_id: int, data: bytes, name: str = "apple.jpg"
) -> httpx.Response:
    return await client.post(
        f"{PRODUCTS}/{product_id}/images", files={"file": (name, data, "image/jpeg")}
    )


async def test_an_image_and_its_thumbnail_are_stored_and_served(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    product = await create_product(client)
    response = await upload(client, product["id"], image_bytes("JPEG", (800, 600)), "红富士.jpg")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["position"] == 0
    thumb = await client.get(body["thumbnail_url"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert thumb.headers["content-disposition"] == (
        "inline; filename*=UTF-8''%E7%BA%A2%E5%AF%8C%E5%A3%AB-320.jpg"
    )
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.size == (320, 240)
    original = await client.get(body["url"])
    assert original.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(original.content)) as image:
        assert image.size == (800, 600)
    # A PNG called .jpg is a PNG; WebP is accepted too. Both files are public.
    png = await upload(client, product["id"], image_bytes("PNG"), "looks-like.jpg")
    assert png.status_code == 201
    assert (await client.get(png.json()["url"])).headers["content-type"] == "image/png"
    webp = await upload(client, product["id"], image_bytes("WEBP"), "x.webp")
    assert webp.status_code == 201
    assert webp.json()["position"] == 2
    await session.commit()
    stored = (await session.scalars(select(StoredFile).order_by(StoredFile.id))).all()
    assert [(f.purpose, f.content_type, f.public) for f in stored] == [
        ("product_image", "image/jpeg", True),
        ("product_thumbnail", "image/jpeg", True),
        ("product_image", "image/png", True),
        ("product_thumbnail", "image/jpeg", True),
        ("product_image", "image/webp", True),
        ("product_thumbnail", "image/jpeg", True),
    ]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        assert (await anonymous.get(body["thumbnail_url"])).status_code == 200


async def test_refused_files_leave_nothing_behind(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    product_id = (await create_product(client))["id"]

    program = await upload(client, product_id, b"MZ\x90\x00\x03" + os.urandom(2000), "photo.jpg")
    assert program.status_code == 422
    assert program.json()["error"]["code"] == "unsupported_file"
    assert program.json()["error"]["message"] == (
        "This file is not accepted: it looks like a program. Upload JPEG, PNG, WebP."
    )
    assert program.json()["error"]["fields"] == {"file": "Upload JPEG, PNG, WebP."}

    side = 1450  # random pixels do not compress: a real PNG of about 6 MB
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    big = out.getvalue()
    assert 6_000_000 < len(big) < 7_000_000
    too_big = await upload(client, product_id, big, "big.png")
    assert too_big.status_code == 413
    assert too_big.json()["error"]["message"] == "This file is 6.0 MB; the limit is 5 MB."

    png = bytearray(image_bytes("PNG", (64, 64)))
    png[60:70] = b"\x00" * 10  # inside the first chunk: its CRC no longer matches
    damaged = await upload(client, product_id, bytes(png), "damaged.png")
    assert damaged.status_code == 422
    assert damaged.json()["error"]["message"] == "The image is damaged or not really an image."
    truncated = await upload(client, product_id, image_bytes("JPEG")[:400], "cut.jpg")
    assert truncated.status_code == 422
    assert truncated.json()["error"]["fields"] == {"file": "Damaged image."}
    empty = await upload(client, product_id, b"", "empty.jpg")
    assert empty.status_code == 422
    html = await upload(client, product_id, b"<svg onload=alert(1)>", "x.svg")
    assert html.status_code == 422

    assert await count(session, StoredFile) == 0
    assert await count(session, ProductImage) == 0


async def test_the_console_uploads_images_and_explains_refusals(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await as_merchant(client, session)
    product_id = (await create_product(client))["id"]
    csrf = client.cookies.get(CSRF_COOKIE)
    url = f"/merchant/products/{product_id}/images"
    ok = await client.post(
        url,
        data={"csrf_token": csrf},
        files={"file": ("apple.png", image_bytes("PNG"), "image/png")},
    )
    assert ok.status_code == 303, ok.text
    page = await client.get(ok.headers["location"])
    assert "Image added." in page.text
    (image,) = (await session.scalars(select(ProductImage))).all()
    assert f'src="/files/{image.thumbnail_file_id}"' in page.text
    refused = await client.post(
        url,
        data={"csrf_token": csrf},
        files={"file": ("apple.jpg", b"MZ" + b"\x00" * 100, "image/jpeg")},
    )
    assert refused.status_code == 422
    assert "it looks like a program" in refused.text
    assert 'class="field-error">Upload JPEG, PNG, WebP.' in refused.text
    missing = await client.post(url, data={"csrf_token": csrf})
    assert missing.status_code == 422
    assert "Choose an image file." in missing.text
    no_csrf = await client.post(url, files={"file": ("apple.png", image_bytes("PNG"), "image/png")})
    assert no_csrf.status_code == 403
    assert await count(session, ProductImage) == 1
