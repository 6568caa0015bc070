"""An unexpected failure is a 500 with the same error shape, never a stack trace."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from linli.app import create_app
from linli.config import Settings


async def test_unexpected_errors_are_a_friendly_500(settings: Settings) -> None:
    app: FastAPI = create_app(settings)

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/boom")
    async def boom_page() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        api = await client.get("/api/v1/boom")
        assert api.status_code == 500
        assert api.json()["error"]["code"] == "internal_error"
        assert "secret internals" not in api.text
        page = await client.get("/boom", headers={"Accept-Language": "en"})
        assert page.status_code == 500
        assert "Something went wrong" in page.text
        assert "secret internals" not in page.text
    await app.state.engine.dispose()


async def test_openapi_documents_every_api_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert "/api/v1/accounts/signup" in paths
    assert "/healthz" in paths
    assert all(p.startswith(("/api/v1/", "/healthz", "/files/", "/epcis/")) for p in paths)
    signup = spec["paths"]["/api/v1/accounts/signup"]["post"]
    assert "422" in signup["responses"]
