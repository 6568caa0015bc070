"""Settings: what production refuses to start with, and says so."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from linli.app import create_app
from linli.config import DEMO_SANDBOX_SECRET, Settings, UnsafeProductionSettings


def production(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "production",
        "var_dir": tmp_path / "var",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
        "secret_key": SecretStr("a-real-secret-key-of-this-deployment"),
        "secure_cookies": True,
        "payment_provider": "wechatpay",
        "payment_sandbox_secret": SecretStr("not-the-published-one"),
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_development_has_no_production_problems(tmp_path: Path) -> None:
    assert Settings(var_dir=tmp_path).production_problems() == []


def test_production_refuses_each_unsafe_setting_and_says_which(tmp_path: Path) -> None:
    assert production(tmp_path).production_problems() == []
    cases: dict[str, dict[str, object]] = {
        "LINLI_PAYMENT_PROVIDER": {"payment_provider": "sandbox"},
        "LINLI_PAYMENT_SANDBOX_SECRET": {"payment_sandbox_secret": SecretStr(DEMO_SANDBOX_SECRET)},
        "LINLI_SECURE_COOKIES": {"secure_cookies": False},
        "LINLI_SECRET_KEY": {"secret_key": SecretStr("")},
    }
    for name, override in cases.items():
        problems = production(tmp_path, **override).production_problems()
        assert len(problems) == 1, name
        assert problems[0].startswith(name)


def test_the_defaults_do_not_start_in_production(tmp_path: Path) -> None:
    settings = Settings(env="production", var_dir=tmp_path / "var")
    with pytest.raises(UnsafeProductionSettings) as refused:
        create_app(settings)
    assert [p.split(" ")[0] for p in refused.value.problems] == [
        "LINLI_PAYMENT_PROVIDER",
        "LINLI_PAYMENT_SANDBOX_SECRET",
        "LINLI_SECURE_COOKIES",
        "LINLI_SECRET_KEY",
    ]
    assert "LINLI_ENV=production" in str(refused.value)


async def test_hsts_only_when_cookies_are_secure(settings: Settings) -> None:
    for secure, expected in ((False, None), (True, "max-age=31536000; includeSubDomains")):
        app = create_app(settings.model_copy(update={"secure_cookies": secure}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
            response = await client.get("/healthz")
        assert response.headers.get("strict-transport-security") == expected
        await app.state.engine.dispose()
