"""Serving a complaint's attachments (shared by the API and the pages): its parties only,
decided by the caller; served like linli.files serves private files. They are stored with
the purpose `complaint`, which linli.files never serves through /files (not to the uploader's
organisation, not to platform reviewers): only the complaint's own route reads them."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from linli.files import policies as file_policies
from linli.files import service as files

ATTACHMENT_TYPES = files.DOCUMENT_TYPES | files.IMAGE_TYPES
PDF = "application/pdf"
PURPOSE = "complaint"
assert PURPOSE in file_policies.SERVED_BY_THEIR_DOMAIN  # /files must not serve them


def attachment_response(content: files.FileContent) -> Response:
    name = quote(content.original_name, safe="")
    # A PDF can carry scripts: shown inline it runs sandboxed, with no access to the session.
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
