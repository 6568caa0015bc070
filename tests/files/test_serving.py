"""GET /files/{id}: public files for anyone; private ones (licences) only for their
organisation and platform reviewers; 404 for everyone else, as for a file that does not exist."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import Organisation, User
from linli.authz import Actor, OrganisationRef, UserRef
from linli.files import service as files
from linli.files.models import StoredFile
from tests.factories import grant, login, make_org, make_user, png_bytes

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


async def store_licence(
    app: FastAPI, session: AsyncSession, user: User, organisation: Organisation
) -> StoredFile:
    actor = Actor(
        user=UserRef.of(user),
        organisation=OrganisationRef.of(organisation),
        roles=frozenset({"owner"}),
    )
    row = await files.store(
        session,
        actor,
        app.state.file_store,
        PDF,
        filename="营业执照 (2026).pdf",
        purpose="licence",
        allowed=files.DOCUMENT_TYPES,
    )
    await session.commit()
    return row


async def test_private_files_reach_only_their_organisation_and_reviewers(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner_a = await make_user(session)
    shop_a = await make_org(session, "merchant", owner=owner_a)
    owner_b = await make_user(session)
    shop_b = await make_org(session, "merchant", owner=owner_b)
    staff_b = await make_user(session)
    await grant(session, shop_b, staff_b, "staff")
    reviewer = await make_user(session)
    platform = await make_org(session, "platform", owner=reviewer, role="operator")
    licence = await store_licence(app, session, owner_b, shop_b)
    url = f"/files/{licence.id}"

    anonymous = await client.get(url)
    assert anonymous.status_code == 404
    assert "Page not found" in anonymous.text
    assert PDF not in anonymous.content
    await login(client, owner_a, organisation=shop_a)
    assert (await client.get(url)).status_code == 404
    await client.post("/api/v1/accounts/logout")
    await login(client, staff_b, as_resident=True)  # a member of B, acting as a resident
    assert (await client.get(url)).status_code == 404
    await client.put("/api/v1/accounts/me/active-organisation", json={"organisation_id": shop_b.id})
    allowed = await client.get(url)
    assert allowed.status_code == 200
    assert allowed.content == PDF
    assert allowed.headers["content-type"] == "application/pdf"
    assert allowed.headers["content-disposition"] == (
        "inline; filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%20%282026%29.pdf"
    )
    assert allowed.headers["x-content-type-options"] == "nosniff"
    assert allowed.headers["content-security-policy"] == "sandbox"  # scripts in it never run
    assert allowed.headers["cache-control"] == "private, no-store"
    await client.post("/api/v1/accounts/logout")
    await login(client, reviewer, organisation=platform)
    assert (await client.get(url)).status_code == 200


async def test_unknown_files_and_bad_ids(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/files/999999")).status_code == 404
    assert (await client.get("/files/0")).status_code == 422
    assert (await client.get(f"/files/{2**63}")).status_code == 422
    assert (await client.get("/files/abc")).status_code == 422
    api = await client.get("/files/999999", headers={"Accept": "application/json"})
    assert api.json()["error"]["code"] == "not_found"


async def test_a_file_missing_from_disk_is_a_404(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    licence = await store_licence(app, session, owner, shop)
    licence.public = True
    await session.commit()
    app.state.file_store.path_for(licence.sha256).unlink()
    assert (await client.get(f"/files/{licence.id}")).status_code == 404


async def test_public_images_are_cached_with_their_hash_as_validator(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    owner = await make_user(session)
    shop = await make_org(session, "merchant", owner=owner)
    actor = Actor(
        user=UserRef.of(owner), organisation=OrganisationRef.of(shop), roles=frozenset({"owner"})
    )
    image = await files.store(
        session,
        actor,
        app.state.file_store,
        png_bytes(64, 64),
        filename="苹果.png",
        purpose="product_image",
        allowed=files.IMAGE_TYPES,
        public=True,
    )
    licence = await store_licence(app, session, owner, shop)
    await session.commit()
    url = f"/files/{image.id}"
    served = await client.get(url, headers={"Accept-Encoding": "gzip, br"})
    assert served.status_code == 200
    assert served.headers["cache-control"] == "public, max-age=86400"
    assert served.headers["etag"] == f'"{image.sha256}"'
    assert "content-encoding" not in served.headers  # an image is compressed already
    unchanged = await client.get(url, headers={"If-None-Match": served.headers["etag"]})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == served.headers["etag"]
    assert unchanged.headers["cache-control"] == "public, max-age=86400"
    changed = await client.get(url, headers={"If-None-Match": '"0000"'})
    assert changed.status_code == 200
    assert changed.content == served.content
    # A validator never reveals a private file: access is decided first.
    private = await client.get(
        f"/files/{licence.id}", headers={"If-None-Match": f'"{licence.sha256}"'}
    )
    assert private.status_code == 404
    await login(client, owner, organisation=shop)
    own = await client.get(f"/files/{licence.id}", headers={"If-None-Match": f'"{licence.sha256}"'})
    assert own.status_code == 200  # private files are never stored, so always sent
    assert own.headers["cache-control"] == "private, no-store"
    assert own.content == PDF
