from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.models import User
from linli.audit.models import AuditEntry
from linli.clock import FrozenClock
from linli.outbox import OutboxEvent
from tests.factories import PASSWORD, make_user

SIGNUP = "/api/v1/accounts/signup"


async def user_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_signup_creates_a_resident_with_a_hashed_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.post(
        SIGNUP, json={"phone": "138 0013 8000", "password": PASSWORD, "display_name": " 李雷 "}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+8613800138000"
    assert body["display_name"] == "李雷"
    user = await session.scalar(select(User).where(User.phone == "+8613800138000"))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    events = (await session.scalars(select(OutboxEvent.event_type))).all()
    assert events == ["accounts.UserSignedUp"]
    actions = (await session.scalars(select(AuditEntry.action))).all()
    assert actions == ["accounts.signup"]


async def test_invalid_phone_is_a_422_naming_the_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await client.post(
        SIGNUP, json={"phone": "12345", "password": PASSWORD, "display_name": "李雷"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert "11 digits" in error["fields"]["phone"]
    assert await user_count(session) == 0


async def test_weak_passwords_are_refused_with_what_to_change(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    cases = {
        "short1": "at least 8",
        "abcdefghij": "Mix letters",
        "password123": "too common",
        "aaaa1111": "too few different",
        "x13800138000": "phone number",
    }
    for password, hint in cases.items():
        response = await client.post(
            SIGNUP, json={"phone": "13800138000", "password": password, "display_name": "李雷"}
        )
        assert response.status_code == 422, password
        assert hint in response.json()["error"]["fields"]["password"], password
    assert await user_count(session) == 0


async def test_duplicate_account_is_a_409_and_the_first_is_untouched(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await make_user(session, phone="13800138000", name="原来的")
    first_id, first_hash = first.id, first.password_hash
    response = await client.post(
        SIGNUP, json={"phone": "+86 138-0013-8000", "password": "Other-pass-1", "display_name": "x"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phone_taken"
    session.expire_all()
    again = await session.get(User, first_id)
    assert again is not None
    assert again.display_name == "原来的"
    assert again.password_hash == first_hash
    assert await user_count(session) == 1


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SIGNUP, content=b'{"phone": "138', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "malformed_json", "message": "The body is not valid JSON.", "fields": {}}
    }


async def test_wrong_types_and_unknown_fields_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SIGNUP, json={"phone": 13800138000, "password": ["x"], "display_name": "a", "admin": True}
    )
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields == {
        "phone": "Enter text.",
        "password": "Enter text.",
        "admin": "This field is not allowed.",
    }


async def test_missing_body_and_control_characters(client: httpx.AsyncClient) -> None:
    missing = await client.post(SIGNUP)
    assert missing.status_code == 422
    assert missing.json()["error"]["fields"] == {"body": "This field is required."}
    nul = await client.post(
        SIGNUP, json={"phone": "13800138000", "password": PASSWORD, "display_name": "a\x00b"}
    )
    assert nul.status_code == 422
    assert nul.json()["error"]["fields"] == {"display_name": "Control characters are not allowed."}


async def test_oversized_bodies_are_a_413_before_parsing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    huge = "x" * (1_048_576 + 10)
    response = await client.post(
        SIGNUP, json={"phone": "13800138000", "password": PASSWORD, "display_name": huge}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    streamed = await client.post(
        SIGNUP, content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert await user_count(session) == 0


async def test_errors_speak_chinese_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SIGNUP,
        json={"phone": "12", "password": PASSWORD, "display_name": "李雷"},
        headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert any("\u4e00" <= c <= "\u9fff" for c in error["message"])
    assert all(any("\u4e00" <= c <= "\u9fff" for c in text) for text in error["fields"].values())


async def test_a_full_width_phone_is_the_same_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    national = user.phone[3:]
    full_width = national.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    response = await client.post(
        SIGNUP, json={"phone": full_width, "password": PASSWORD, "display_name": "冒名"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phone_taken"
    assert await user_count(session) == 1


async def test_sign_up_is_throttled_per_address(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    for n in range(10):
        created = await client.post(
            SIGNUP, json={"phone": f"1370000{n:04d}", "password": PASSWORD, "display_name": "x"}
        )
        assert created.status_code == 201, created.text
    refused = await client.post(
        SIGNUP, json={"phone": "13700009999", "password": PASSWORD, "display_name": "x"}
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "signup_throttled"
    assert 1 <= int(refused.headers["retry-after"]) <= 3601
    assert await user_count(session) == 10
    frozen_clock.advance(timedelta(hours=1))
    later = await client.post(
        SIGNUP, json={"phone": "13700009999", "password": PASSWORD, "display_name": "x"}
    )
    assert later.status_code == 201


async def test_sign_up_is_throttled_per_phone_number(
    client: httpx.AsyncClient, session: AsyncSession, frozen_clock: FrozenClock
) -> None:
    # Failed attempts count too: three per number and hour.
    user = await make_user(session)
    for _ in range(3):
        taken = await client.post(
            SIGNUP, json={"phone": user.phone, "password": PASSWORD, "display_name": "x"}
        )
        assert taken.status_code == 409
    refused = await client.post(
        SIGNUP, json={"phone": user.phone, "password": PASSWORD, "display_name": "x"}
    )
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "signup_throttled"
    frozen_clock.advance(timedelta(hours=1))
    again = await client.post(
        SIGNUP, json={"phone": user.phone, "password": PASSWORD, "display_name": "x"}
    )
    assert again.status_code == 409


async def test_password_hashing_runs_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from linli import security

    threads: list[int] = []
    real = security.hash_password

    def recording(password: str) -> str:
        threads.append(threading.get_ident())
        return real(password)

    monkeypatch.setattr(security, "hash_password", recording)
    response = await client.post(
        SIGNUP, json={"phone": "13900139000", "password": PASSWORD, "display_name": "x"}
    )
    assert response.status_code == 201
    assert threads
    assert threading.get_ident() not in threads
