"""Serving supervision files (report photos, inspection evidence) to the people allowed, as
decided by the caller; served like linli.files serves private files."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from linli.files import service as files

EVIDENCE_TYPES = files.DOCUMENT_TYPES | files.IMAGE_TYPES
PHOTO_TYPES = files.IMAGE_TYPES
PDF = "application/pdf"


def file_response(content: files.FileContent) -> Response:
    name = quote(content.original_name, safe="")
    sandbox = {"Content-Security-Policy": "sandbox"} if content.content_type == PDF else {}
    return Response(
        content.data,
        media_type=content.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            **sandbox,
        },
    )
