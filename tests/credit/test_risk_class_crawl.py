"""Issue 12's "must show": every page and every API GET response of a seeded world, asked as
anonymous, a resident, a leader, a merchant's owner and a platform operator, carries
no credit-risk class; asked as the regulator of the merchant's region, the class is there.

The world is the authorisation matrix's (`build_world`: an order through the whole group-buying
loop, a recall, a complaint, a drawn random-inspection plan, a serious penalty on the credit
lists, claims, alerts, a case); the routes are every GET the application serves, with the
matrix's rows in their parameters. One language (English) is crawled: the Chinese pages are the
same templates, and the API is the same in both.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from linli.accounts.identity import is_api_path
from linli.clock import FrozenClock
from linli.config import Settings
from tests.credit.test_credit_http import RISK_MARKERS
from tests.test_authz_matrix import TABLE, build_world, route_keys

# Besides the credit desk's markers, how supervision's plan shows a drawn merchant's class.
MARKERS = (*RISK_MARKERS, "Risk class")
CRAWLERS = ("anon", "resident", "leader", "owner", "operator")
ASKING = (*CRAWLERS, "regulator")
# Routes that end the session or change who is acting are not crawled (they do nothing to
# show); binary answers (photos, QR codes) carry no text to look at.
SKIPPED_WORDS = ("logout", "switch")
BINARY = ("image/", "application/octet-stream", "application/pdf")


def worth_asking(key: str, name: str, refusals: set[tuple[str, str, bool]]) -> bool:
    """Every answer the matrix expects to be served is asked for. A refusal (401, 403, 404:
    the matrix proves which) is the error handler's body, never the route's: one of each
    kind per session, page and API, is enough to show it carries no class either."""
    expected = TABLE.get(key)
    if expected is None or expected.sessions[name] == "o":
        return True
    kind = (name, expected.sessions[name], is_api_path(key.split(" ", 1)[1]))
    if kind in refusals:
        return False
    refusals.add(kind)
    return True


def found_markers(response: httpx.Response) -> list[str]:
    if response.headers.get("content-type", "").startswith(BINARY):
        return []
    return [marker for marker in MARKERS if marker in response.text]


async def test_no_risk_class_reaches_anyone_but_the_regulator(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    frozen_clock: FrozenClock,
) -> None:
    started = time.perf_counter()
    world, _users, opened = await build_world(
        app, client, session, settings, frozen_clock, sessions=ASKING, tokens=False
    )
    built = time.perf_counter()
    leaks: list[str] = []
    errors: list[str] = []
    shown_to_regulator: set[str] = set()
    asked = 0
    refusals: set[tuple[str, str, bool]] = set()
    try:
        for key, route in sorted(route_keys(app).items()):
            method, path = key.split(" ", 1)
            if method != "GET" or any(word in path for word in SKIPPED_WORDS):
                continue
            url = world.url(route)
            names = [n for n in ASKING if worth_asking(key, n, refusals)]
            # The sessions ask at once (each its own client): the crawl waits on the
            # database once per route, not once per session.
            responses = await asyncio.gather(*(world.sessions[n].get(url) for n in names))
            for name, response in zip(names, responses, strict=True):
                asked += 1
                if response.status_code >= 500:
                    errors.append(f"{name}: {response.status_code} {url}")
                found = found_markers(response)
                if name == "regulator":
                    if found:
                        shown_to_regulator.add(path)
                elif found:
                    leaks.append(f"{name}: {url} shows {found}")
    finally:
        for c in opened:
            await c.aclose()
    crawled = time.perf_counter()
    print(
        f"\nrisk-class crawl: world {built - started:.1f} s, {asked} requests "
        f"{crawled - built:.1f} s ({app.state.engine.dialect.name})"
    )
    assert not errors, "\n".join(errors)
    assert not leaks, "\n".join(leaks)
    # The regulator of the merchant's region sees the classes on its credit desk (page and
    # API) and on its drawn plan (page and API).
    assert {
        "/regulator/credit",
        "/api/v1/credit/regulator/merchants",
        "/regulator/inspections/{plan_id}",
        "/api/v1/supervision/plans/{plan_id}",
    } <= shown_to_regulator, sorted(shown_to_regulator)
