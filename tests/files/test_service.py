"""Storing uploads: public pictures lose their metadata, quotas per account and
organisation, and the sweep of bytes no record refers to."""

from __future__ import annotations

import io
import os
import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.errors import PayloadTooLarge
from linli.files import service as files
from linli.files.models import StoredFile
from tests.factories import make_org, make_user

GPS_IFD = 0x8825


def jpeg_with_location() -> bytes:
    image = Image.new("RGB", (40, 20), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° to show upright
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def member(user: User, organisation: Organisation | None = None) -> Actor:
    if organisation is None:
        return Actor(user=UserRef.of(user))
    return Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({"owner"}),
    )


async def put(
    app: FastAPI, session: AsyncSession, actor: Actor, data: bytes, *, public: bool
) -> StoredFile:
    row = await files.store(
        session,
        actor,
        app.state.file_store,
        data,
        filename="photo.jpg",
        purpose="product_image",
        allowed=files.IMAGE_TYPES,
        public=public,
    )
    await session.commit()
    return row


async def test_public_pictures_are_stored_without_exif_and_upright(
    app: FastAPI, session: AsyncSession
) -> None:
    user = await make_user(session)
    original = jpeg_with_location()
    with Image.open(io.BytesIO(original)) as check:
        assert check.getexif().get_ifd(GPS_IFD)  # the fixture really carries a location
    row = await put(app, session, member(user), original, public=True)
    stored = app.state.file_store.read(row.sha256)
    with Image.open(io.BytesIO(stored)) as image:
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info
        assert image.size == (20, 40)  # turned upright before the orientation was dropped
    assert row.size == len(stored)
    private = await put(app, session, member(user), original, public=False)
    assert app.state.file_store.read(private.sha256) == original  # evidence kept as sent


def png(**save_options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG", **save_options)
    return out.getvalue()


def test_a_png_of_pixels_only_is_kept_and_any_other_is_stripped() -> None:
    clean = png()
    assert files.strip_metadata(clean, "image/png") == clean  # nothing to remove: not re-encoded
    dense = png(dpi=(72, 72))  # pHYs describes pixels, not the photographer
    assert files.strip_metadata(dense, "image/png") == dense
    text = PngInfo()
    text.add_text("Comment", "taken at 31.2N 121.5E")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    for carrying in (
        png(pnginfo=text),
        png(exif=exif),
        clean + b"<html>",
    ):
        stripped = files.strip_metadata(carrying, "image/png")
        assert stripped != carrying
        assert files.png_has_only_pixel_chunks(stripped)
        with Image.open(io.BytesIO(stripped)) as image:
            assert image.size == (8, 8)
            assert not image.info.get("Comment")


async def test_uploads_are_bounded_per_account_and_per_organisation(
    app: FastAPI, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = await make_user(session)
    other = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    as_owner, as_other, for_shop = member(owner), member(other), member(owner, shop)
    picture = jpeg_with_location()
    monkeypatch.setattr(files, "USER_QUOTA_BYTES", 3 * len(picture))
    for _ in range(3):
        await put(app, session, as_owner, picture, public=False)
    with pytest.raises(PayloadTooLarge) as refused:
        await put(app, session, as_owner, picture, public=False)
    assert refused.value.code == "upload_quota_exceeded"
    assert refused.value.status_code == 413
    assert "your account" in refused.value.message.render()
    await session.rollback()
    monkeypatch.setattr(files, "USER_QUOTA_BYTES", 100 * len(picture))
    monkeypatch.setattr(files, "ORGANISATION_QUOTA_BYTES", 2 * len(picture))
    await put(app, session, as_other, picture, public=False)  # not counted for the shop
    await put(app, session, for_shop, picture, public=False)
    await put(app, session, for_shop, picture, public=False)
    with pytest.raises(PayloadTooLarge) as refused:
        await put(app, session, for_shop, picture, public=False)
    assert "your organisation" in refused.value.message.render()


async def test_the_sweep_deletes_old_bytes_no_record_refers_to(
    app: FastAPI, session: AsyncSession
) -> None:
    store: files.FileStore = app.state.file_store
    user = await make_user(session)
    kept = await put(app, session, member(user), jpeg_with_location(), public=False)
    orphan, fresh_orphan = "a" * 64, "b" * 64
    store.write(orphan, b"left by a failed upload")
    store.write(fresh_orphan, b"an upload still in progress")
    stray = store.path_for(orphan).parent / "tmpxyz"
    stray.write_bytes(b"half-written")
    old = time.time() - 2 * 3600
    for path in (store.path_for(kept.sha256), store.path_for(orphan), stray):
        os.utime(path, (old, old))
    removed = await files.sweep_orphans(session, store, older_than=timedelta(hours=1))
    assert sorted(removed) == sorted([store.path_for(orphan), stray])
    assert store.path_for(kept.sha256).exists()
    assert store.path_for(fresh_orphan).exists()
