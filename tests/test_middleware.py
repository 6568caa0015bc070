"""Security headers: the content security policy closes base-URI and form-target tricks."""

from __future__ import annotations

import httpx


async def test_the_policy_refuses_foreign_bases_form_targets_and_plugins(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/t/NOSUCHCODE", "/api/v1/catalog/products"):
        response = await client.get(path)
        policy = [part.strip() for part in response.headers["content-security-policy"].split(";")]
        assert "base-uri 'none'" in policy, path
        assert "form-action 'self'" in policy, path
        assert "object-src 'none'" in policy, path
        assert "script-src 'self'" in policy, path
