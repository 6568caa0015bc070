"""Password hashing, password strength, opaque tokens and cookie signing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, TimestampSigner

from linli.i18n import N_, Message

# RFC 9106 low-memory profile (64 MiB, 3 passes) in production; tests swap in a cheap one.
_hasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
_FAST_TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_DUMMY_HASH: str | None = None

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
_COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty123",
        "qwertyui",
        "11111111",
        "88888888",
        "66666666",
        "abc12345",
        "abcd1234",
        "iloveyou",
        "admin123",
        "woaini1314",
        "a1234567",
        "aa123456",
        "qq123456",
        "1qaz2wsx",
        "zxcvbnm1",
        "asdf1234",
        "linli123",
        "11223344",
        "00000000",
        "12341234",
        "123123123",
    }
)


def use_fast_password_hashing() -> None:
    """For test suites only: argon2 with minimal cost so thousands of hashes stay quick."""
    global _hasher, _DUMMY_HASH
    _hasher = _FAST_TEST_HASHER
    _DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing does not reveal accounts."""
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
        password_hash = _DUMMY_HASH
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(password_hash, password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    """`hash_password` in a worker thread: argon2 takes tens of milliseconds of CPU and 64 MiB,
    which on the event loop would stall every other request of the process."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """`verify_password` in a worker thread (see `hash_password_off_loop`)."""
    return await asyncio.to_thread(verify_password, password_hash, password)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str, *, phone_digits: str = "") -> Message | None:
    """Why `password` is too weak, or None. Messages say what to change."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message(
            N_("Use at least {min} characters for your password."), {"min": MIN_PASSWORD_LENGTH}
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return Message(
            N_("Use at most {max} characters for your password."), {"max": MAX_PASSWORD_LENGTH}
        )
    classes = sum(
        bool(re.search(pattern, password)) for pattern in (r"[a-zA-Z]", r"[0-9]", r"[^a-zA-Z0-9]")
    )
    if classes < 2:
        return Message(N_("Mix letters with digits or symbols in your password."))
    if len(set(password)) < 4:
        return Message(N_("Your password repeats too few different characters."))
    if password.lower() in _COMMON_PASSWORDS:
        return Message(N_("This password is too common; choose another."))
    if phone_digits and phone_digits[-8:] in password:
        return Message(N_("Do not use your phone number in your password."))
    return None


def new_token(prefix: str, nbytes: int = 32) -> str:
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def token_digest(token: str) -> str:
    """Tokens are long random strings, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class CookieSigner:
    """Signs cookie values so that forged or altered cookies are rejected before any lookup."""

    def __init__(self, secret_key: str, salt: str) -> None:
        self._signer = TimestampSigner(secret_key, salt=salt)

    def sign(self, value: str) -> str:
        return self._signer.sign(value).decode()

    def unsign(self, signed: str, max_age_seconds: int | None = None) -> str | None:
        try:
            return self._signer.unsign(signed, max_age=max_age_seconds).decode()
        except (BadSignature, UnicodeDecodeError):
            return None


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
