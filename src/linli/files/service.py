"""Storing uploads safely: type from content, size limits, images re-checked, public images
without their metadata (EXIF location), quotas per account and organisation, access scoped.

The bytes are written before the row commits (content-addressed, so a retried upload finds
them); what a failed request leaves behind is an orphan that `sweep_orphans` (`linli files
sweep`) deletes once it is older than an hour."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import struct
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from linli import clock, ratelimit
from linli.authz import Actor
from linli.errors import NotFound, PayloadTooLarge, ValidationFailed
from linli.files import policies
from linli.files.models import StoredFile
from linli.i18n import N_, Message

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# What one account, and one organisation, may keep in uploads (bytes stored, thumbnails too).
USER_QUOTA_BYTES = 200 * 1024 * 1024
ORGANISATION_QUOTA_BYTES = 2 * 1024 * 1024 * 1024
ORPHAN_AGE = timedelta(hours=1)
_CONTENT_NAME = re.compile(r"^[0-9a-f]{64}$")
MAX_IMAGE_PIXELS = 40_000_000
DOCUMENT_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
_LABELS = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP"}


def sniff(data: bytes) -> str | None:
    """The content type told by the first bytes, whatever the file is called."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def describe(data: bytes) -> str:
    """A name for what a refused file looks like, for the error message."""
    if data.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"#!")):
        return N_("a program")
    if data.startswith(b"PK\x03\x04"):
        return N_("a ZIP archive or Office document")
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.lstrip()[:5].lower() in (b"<html", b"<!doc", b"<svg ", b"<?xml"):
        return N_("a web page or SVG")
    return N_("an unknown type")


@dataclass(frozen=True)
class FileStore:
    """Where the bytes go: content-addressed files under `root`."""

    root: Path

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def write(self, sha256: str, data: bytes) -> None:
        target = self.path_for(sha256)
        if target.exists():
            # Fresh again: a new row is about to refer to it, so the sweep must not take it.
            os.utime(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a half-written file is never visible under its name.
        handle, temporary = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()

    def candidates(self, older_than: timedelta) -> list[Path]:
        """Files under the root last written more than `older_than` ago."""
        if not self.root.exists():
            return []
        cutoff = time.time() - older_than.total_seconds()
        return sorted(
            path
            for path in self.root.rglob("*")
            if path.is_file() and path.stat().st_mtime < cutoff
        )


def _refuse_type(data: bytes, allowed: frozenset[str], field: str) -> ValidationFailed:
    kinds = ", ".join(sorted(_LABELS[t] for t in allowed))
    return ValidationFailed(
        N_("This file is not accepted: it looks like {found}. Upload {kinds}."),
        found=Message(describe(data)).render(),
        kinds=kinds,
        code="unsupported_file",
        fields={field: Message(N_("Upload {kinds}."), {"kinds": kinds})},
    )


def _too_large(size: int, max_bytes: int, field: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        N_("This file is {size} MB; the limit is {limit} MB."),
        size=f"{size / 1024 / 1024:.1f}",
        limit=max_bytes // (1024 * 1024),
        fields={field: N_("Too large.")},
    )


def check_upload(
    data: bytes,
    *,
    allowed: frozenset[str],
    field: str = "file",
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> str:
    """Validate an upload and return its real content type, or raise a 4xx saying why."""
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes, field)
    if not data:
        raise ValidationFailed(N_("The file is empty."), fields={field: N_("Empty file.")})
    content_type = sniff(data)
    if content_type is None or content_type not in allowed:
        raise _refuse_type(data, allowed, field)
    if content_type.startswith("image/"):
        _verify_image(data, field)
    return content_type


def _verify_image(data: bytes, field: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValidationFailed(
                    N_("The image is too large: at most {pixels} million pixels."),
                    pixels=MAX_IMAGE_PIXELS // 1_000_000,
                    fields={field: N_("Too many pixels.")},
                )
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationFailed(
            N_("The image is damaged or not really an image."),
            code="unsupported_file",
            fields={field: N_("Damaged image.")},
        ) from None


# PNG chunks that describe pixels only: a PNG made of nothing else has no metadata to strip.
PNG_PIXEL_CHUNKS = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"sBIT",
        b"bKGD",
        b"pHYs",
    }
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_has_only_pixel_chunks(data: bytes) -> bool:
    """Whether a PNG holds nothing but pixel chunks, ending exactly at IEND (nothing hidden
    after it): then re-encoding it would remove nothing."""
    if not data.startswith(PNG_SIGNATURE):
        return False
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length: int = struct.unpack_from(">I", data, offset)[0]
        kind = data[offset + 4 : offset + 8]
        if kind not in PNG_PIXEL_CHUNKS:
            return False
        offset += 12 + length
        if kind == b"IEND":
            return offset == len(data)
    return False


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """The picture again without EXIF, XMP or text chunks (camera, time, GPS location): turned
    upright first (the orientation lived in EXIF), then saved in its own format. A PNG with
    nothing to strip is kept as it is (re-encoding one with `optimize` costs ~50 ms)."""
    if content_type == "image/png" and png_has_only_pixel_chunks(data):
        return data
    formats = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
    with Image.open(io.BytesIO(data)) as original:
        upright = ImageOps.exif_transpose(original)
        out = io.BytesIO()
        kind = formats[content_type]
        if kind == "JPEG":
            upright.convert("RGB").save(out, format=kind, quality=92, optimize=True)
        elif kind == "WEBP":
            upright.save(out, format=kind, quality=90)
        else:
            upright.save(out, format=kind, optimize=True)
        return out.getvalue()


def _quota_refusal(used: int, quota: int, whose: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        N_("Upload quota reached: {whose} keeps {used} MB of files; the limit is {quota} MB."),
        whose=Message(whose).render(),
        used=f"{used / 1024 / 1024:.1f}",
        quota=quota // (1024 * 1024),
        code="upload_quota_exceeded",
        fields={"file": N_("Delete files you no longer need, or ask the platform.")},
    )


async def _check_quota(session: AsyncSession, actor: Actor, size: int) -> None:
    """Uploads one account, and one organisation, keeps are bounded. Uploads of the same
    account or organisation are serialised here, so parallel ones cannot overshoot. An
    organisation counts what its members keep (`policies.counted_for_organisation`), not what
    outsiders keep for it."""
    if actor.system:
        return
    keys = [f"files.quota.user:{actor.user_id}"]
    if actor.organisation_id is not None:
        keys.append(f"files.quota.organisation:{actor.organisation_id}")
    await ratelimit.lock(session, *keys)
    if actor.user_id is not None:
        used = await session.scalar(
            select(func.coalesce(func.sum(StoredFile.size), 0)).where(
                StoredFile.owner_user_id == actor.user_id
            )
        )
        if int(used or 0) + size > USER_QUOTA_BYTES:
            raise _quota_refusal(int(used or 0), USER_QUOTA_BYTES, N_("your account"))
    if actor.organisation_id is not None:
        used = await session.scalar(
            select(func.coalesce(func.sum(StoredFile.size), 0)).where(
                policies.counted_for_organisation(actor.organisation_id)
            )
        )
        if int(used or 0) + size > ORGANISATION_QUOTA_BYTES:
            raise _quota_refusal(int(used or 0), ORGANISATION_QUOTA_BYTES, N_("your organisation"))


async def store(
    session: AsyncSession,
    actor: Actor,
    file_store: FileStore,
    data: bytes,
    *,
    filename: str,
    purpose: str,
    allowed: frozenset[str],
    public: bool = False,
    field: str = "file",
    kept_for_organisation: int | None = None,
    shown_to_others: bool = False,
) -> StoredFile:
    """Check and keep an upload. `kept_for_organisation`: the organisation whose members may
    read it (default: the one the uploader acts for), e.g. a merchant reading the photos a
    group leader took of goods returned to it. `shown_to_others`: a domain will show it to
    people outside the uploader's organisation (a complaint's parties)."""
    content_type = check_upload(data, allowed=allowed, field=field)
    shared = kept_for_organisation is not None and kept_for_organisation != actor.organisation_id
    if (public or shared or shown_to_others) and content_type in IMAGE_TYPES:
        # Whoever else can see a picture could read where and when it was taken.
        data = await asyncio.to_thread(strip_metadata, data, content_type)
    await _check_quota(session, actor, len(data))
    digest = hashlib.sha256(data).hexdigest()
    await asyncio.to_thread(file_store.write, digest, data)
    row = StoredFile(
        sha256=digest,
        content_type=content_type,
        size=len(data),
        original_name=(Path(filename).name or "upload")[:200],
        purpose=purpose,
        public=public,
        owner_user_id=actor.user_id,
        owner_organisation_id=(
            kept_for_organisation if kept_for_organisation is not None else actor.organisation_id
        ),
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def access_file(session: AsyncSession, actor: Actor, file_id: int) -> StoredFile:
    """The file if the actor may read it; 404 otherwise (existence is not revealed)."""
    row = await session.scalar(policies.readable_files(actor).where(StoredFile.id == file_id))
    if row is None:
        raise NotFound(N_("No such file."))
    return row


def thumbnail(data: bytes, *, size: int = 320) -> bytes:
    """A JPEG thumbnail no larger than size x size, orientation applied, metadata dropped."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as original:
        upright = ImageOps.exif_transpose(original)
        upright.thumbnail((size, size))
        out = io.BytesIO()
        upright.convert("RGB").save(out, format="JPEG", quality=82, optimize=True)
        return out.getvalue()


async def read_upload(upload: UploadFile, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """Read at most one byte past the limit, so a huge upload is refused without buffering."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(upload.size or len(data), max_bytes, "file")
    return data


async def sweep_orphans(
    session: AsyncSession, file_store: FileStore, *, older_than: timedelta = ORPHAN_AGE
) -> list[Path]:
    """Delete files no row refers to (bytes of an upload whose transaction failed, temporary
    files of an interrupted write) once they are older than `older_than`; returns them."""
    removed: list[Path] = []
    for path in await asyncio.to_thread(file_store.candidates, older_than):
        if _CONTENT_NAME.match(path.name):
            known = await session.scalar(
                select(StoredFile.id).where(StoredFile.sha256 == path.name).limit(1)
            )
            if known is not None:
                continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


async def owned_file_ids(session: AsyncSession, user_id: int, file_ids: Iterable[int]) -> set[int]:
    """Those of `file_ids` the user uploaded."""
    wanted = set(file_ids)
    if not wanted:
        return set()
    return set(await session.scalars(policies.owned_files(user_id, wanted)))


async def owned_file_ids_for(
    session: AsyncSession, user_id: int, file_ids: Iterable[int], purpose: str
) -> set[int]:
    """Those of `file_ids` the user uploaded for `purpose` (e.g. a quality claim's photos,
    stored without their metadata because others will see them)."""
    wanted = set(file_ids)
    if not wanted:
        return set()
    query = policies.owned_files(user_id, wanted).where(StoredFile.purpose == purpose)
    return set(await session.scalars(query))


async def forget(session: AsyncSession, file_ids: Iterable[int]) -> int:
    """Delete the rows of files whose domain no longer keeps them (a medical record purged
    after its retention period); `sweep_orphans` then deletes bytes no row refers to."""
    wanted = set(file_ids)
    if not wanted:
        return 0
    gone = await session.execute(
        delete(StoredFile).where(StoredFile.id.in_(wanted)).returning(StoredFile.id)
    )
    return len(gone.all())


async def withdraw_public(session: AsyncSession, file_ids: Iterable[int]) -> None:
    """Public files made private again (the photos of a review an operator hid): from now on
    only their uploader and platform reviewers read them."""
    wanted = set(file_ids)
    if wanted:
        await session.execute(
            update(StoredFile).where(StoredFile.id.in_(wanted)).values(public=False)
        )


@dataclass(frozen=True)
class FileContent:
    """A stored file's bytes and how to serve them, for a domain that decided who may read
    it (a complaint's parties read its attachments)."""

    id: int
    content_type: str
    original_name: str
    data: bytes


async def file_content(
    session: AsyncSession, file_store: FileStore, file_id: int
) -> FileContent | None:
    """The file's bytes; None when the row or its bytes are gone. The caller has checked
    access (this face reads any file)."""
    row = await session.get(StoredFile, file_id)
    if row is None:
        return None
    try:
        data = await asyncio.to_thread(file_store.read, row.sha256)
    except FileNotFoundError:
        return None
    return FileContent(row.id, row.content_type, row.original_name, data)
