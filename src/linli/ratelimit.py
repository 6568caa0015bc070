"""Per-address rate limits for expensive anonymous pages (the public trace page and its QR).

A token bucket per client address, held in the process: `rate` requests a minute on average,
bursts up to `rate`. Behind a load balancer each app server counts on its own, so the limit a
visitor meets is at most servers x rate; that bounds the cost of a flood per server, which is
what it is for. The address is the client's as uvicorn sees it (`LINLI_TRUSTED_PROXIES` makes
it believe X-Forwarded-For from those proxies). Logged-in users are not limited here."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from linli.errors import TooManyRequests
from linli.i18n import N_

MAX_ADDRESSES = 100_000  # buckets kept; the least recently seen are dropped first


@dataclass
class RateLimiter:
    rate: int  # requests per minute; 0 turns the limit off
    now: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def wait_seconds(self, key: str) -> int:
        """Take one token for `key`: 0 when allowed, else how many seconds until one is back."""
        if self.rate <= 0:
            return 0
        moment = self.now()
        per_second = self.rate / 60
        tokens, last = self._buckets.pop(key, (float(self.rate), moment))
        tokens = min(float(self.rate), tokens + (moment - last) * per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, moment)
            wait = 0
        else:
            self._buckets[key] = (tokens, moment)
            wait = max(1, math.ceil((1 - tokens) / per_second))
        while len(self._buckets) > MAX_ADDRESSES:
            self._buckets.popitem(last=False)
        return wait

    def check(self, request: Request, scope: str) -> None:
        """429 (with Retry-After) when the request's address is over the limit for `scope`."""
        address = request.client.host if request.client else "unknown"
        wait = self.wait_seconds(f"{scope}:{address}")
        if wait:
            raise TooManyRequests(
                N_("Too many requests from your address. Please wait {seconds} seconds."),
                code="rate_limited",
                headers={"Retry-After": str(wait)},
                seconds=wait,
            )
