from __future__ import annotations

import httpx

from tests.conftest import DATABASE_KIND


async def test_healthz_names_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": DATABASE_KIND}
