"""Product images: JPEG, PNG or WebP (type sniffed from the content), each with a thumbnail."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli import clock
from linli.audit import service as audit
from linli.authz import Actor
from linli.catalog.models import ProductImage
from linli.catalog.products import access_product
from linli.errors import Conflict, ValidationFailed
from linli.files import service as files
from linli.files.service import FileStore
from linli.i18n import N_

MAX_IMAGES = 10
THUMBNAIL_PX = 320


def _safe_filename(name: str) -> str:
    printable = "".join(c for c in name if c.isprintable())
    return PurePath(printable.replace("\\", "/")).name[:120] or "image"


async def add_image(
    session: AsyncSession,
    actor: Actor,
    file_store: FileStore,
    product_id: int,
    data: bytes,
    *,
    filename: str,
) -> ProductImage:
    """A JPEG, PNG or WebP picture (type from its content), with a 320 px thumbnail."""
    product = await access_product(session, actor, product_id, lock=True)
    count = await session.scalar(select(func.count()).where(ProductImage.product_id == product.id))
    if (count or 0) >= MAX_IMAGES:
        raise Conflict(N_("A product has at most {limit} images."), limit=MAX_IMAGES)
    files.check_upload(data, allowed=files.IMAGE_TYPES)
    try:
        small = await asyncio.to_thread(files.thumbnail, data, size=THUMBNAIL_PX)
    except Exception:  # Pillow fails in many ways on broken data; any of them means that
        raise ValidationFailed(
            N_("The image is damaged or not really an image."),
            code="unsupported_file",
            fields={"file": N_("Damaged image.")},
        ) from None
    name = _safe_filename(filename)
    original = await files.store(
        session,
        actor,
        file_store,
        data,
        filename=name,
        purpose="product_image",
        allowed=files.IMAGE_TYPES,
        public=True,
    )
    thumbnail = await files.store(
        session,
        actor,
        file_store,
        small,
        filename=f"{PurePath(name).stem}-{THUMBNAIL_PX}.jpg",
        purpose="product_thumbnail",
        allowed=frozenset({"image/jpeg"}),
        public=True,
    )
    position = await session.scalar(
        select(func.coalesce(func.max(ProductImage.position), -1) + 1).where(
            ProductImage.product_id == product.id
        )
    )
    image = ProductImage(
        product_id=product.id,
        file_id=original.id,
        thumbnail_file_id=thumbnail.id,
        position=position or 0,
    )
    session.add(image)
    product.updated_at = clock.now()
    await session.flush()
    audit.record(
        session,
        actor,
        "catalog.image_added",
        target_type="product",
        target_id=product.id,
        file_id=original.id,
        thumbnail_file_id=thumbnail.id,
    )
    return image
