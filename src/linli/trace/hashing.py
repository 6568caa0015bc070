"""The hashes of stored events and their chains: the canonical JSON stored and hashed, its
SHA-256, and each link's hash over the previous one (from `GENESIS`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """The bytes we store and hash: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(prev_hash: str, hash_id: str, content_sha256: str) -> str:
    return sha256_hex(f"{prev_hash}|{hash_id}|{content_sha256}")
