"""Serving stored files: public ones to anyone, private ones only to those allowed (else 404)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from linli.apitypes import PathId
from linli.authz import Actor, current_actor
from linli.db import DbSession
from linli.error_handlers import ERROR_RESPONSES
from linli.errors import NotFound
from linli.files import service
from linli.i18n import N_
from linli.middleware import etag_matches

router = APIRouter(tags=["files"], responses=ERROR_RESPONSES)
AnyActor = Annotated[Actor, Depends(current_actor)]

PDF = "application/pdf"
PUBLIC_FILE_CACHE = "public, max-age=86400"
_SERVED_TYPES = sorted({*service.DOCUMENT_TYPES, *service.IMAGE_TYPES})


def content_disposition(filename: str) -> str:
    """`inline` with the RFC 5987 UTF-8 name: safe for any character a user named a file with."""
    return f"inline; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/files/{file_id}",
    summary="A stored file: public files for anyone, private ones for their owners",
    response_class=Response,
    responses={200: {"description": "The file", "content": {t: {} for t in _SERVED_TYPES}}},
)
async def read_file(
    file_id: PathId, request: Request, session: DbSession, actor: AnyActor
) -> Response:
    row = await service.access_file(session, actor, file_id)
    # A file's bytes never change (stored under their SHA-256): the hash is its validator,
    # and a conditional request for a public file is answered without reading the disk.
    etag = f'"{row.sha256}"'
    caching = {
        "ETag": etag,
        # Private files must not linger in any cache. Public ones are kept a day, not for
        # ever: an operator hiding a review makes its photos private again (withdraw_public).
        "Cache-Control": PUBLIC_FILE_CACHE if row.public else "private, no-store",
    }
    if row.public and etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=caching)
    store: service.FileStore = request.app.state.file_store
    try:
        data = await asyncio.to_thread(store.read, row.sha256)
    except FileNotFoundError:
        raise NotFound(N_("No such file.")) from None
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": content_disposition(row.original_name),
            "X-Content-Type-Options": "nosniff",
            # A PDF can carry scripts and forms: shown inline, it runs in a sandbox (no
            # scripts, no same-origin access to the user's session); images need nothing.
            **({"Content-Security-Policy": "sandbox"} if row.content_type == PDF else {}),
            **caching,
        },
    )
