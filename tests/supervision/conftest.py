from __future__ import annotations

from collections.abc import Iterator

import pytest

from linli.supervision.rule_service import forget_cached_rules


@pytest.fixture(autouse=True)
def fresh_rule_cache() -> Iterator[None]:
    """Tests write rule versions directly (helpers.set_rule): read them, not a cached copy."""
    forget_cached_rules()
    yield
    forget_cached_rules()
