"""What every browser test shares: Debian's Chromium driven by Playwright (the recipe that works
here), the people of a journey (a browser context each), screenshots and the server's log on
failure, logging in, acting for an organisation, and work done on the served instance's database
from the test's side."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy.ext.asyncio import AsyncSession

from linli.db import make_engine, make_sessionmaker
from tests.live import LiveServer

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TIMEOUT_MS = 15_000

# Every browser test module: `pytestmark = BROWSER_MARKS`.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')",
    ),
]


@contextmanager
def chromium() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module. A module serving on PostgreSQL asks for its `server` first:
    serve_live() needs asyncio.run(), which fails once Playwright's sync API runs its event
    loop on this thread."""
    with chromium() as launched:
        yield launched


@dataclass
class People:
    """One English-speaking browser context per person; each keeps its own session cookie."""

    browser: Browser
    contexts: dict[str, BrowserContext] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)

    def page_of(self, who: str) -> Page:
        if who not in self.pages:
            context = self.browser.new_context(locale="en-US")
            context.set_default_timeout(TIMEOUT_MS)
            self.contexts[who] = context
            self.pages[who] = context.new_page()
        return self.pages[who]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@contextmanager
def artifacts_on_failure(
    request: pytest.FixtureRequest, server: LiveServer, pages: Callable[[], dict[str, Page]]
) -> Iterator[None]:
    """On failure, a screenshot of each page and the server's log of the test land in
    test-artifacts/."""
    failed_before = request.session.testsfailed
    log_start = server.log_size()
    try:
        yield
    finally:
        # The call phase has been reported by now, so a failure has been counted.
        if request.session.testsfailed > failed_before:
            ARTIFACTS.mkdir(exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            (ARTIFACTS / f"{name}-server.log").write_text(server.log_since(log_start))
            for who, page in pages().items():
                if not page.is_closed():
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{who}.png"), full_page=True)


@contextmanager
def people_of(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    """The journey's browsers, for a module's `people` fixture."""
    crowd = People(browser)
    try:
        with artifacts_on_failure(request, server, lambda: crowd.pages):
            yield crowd
    finally:
        crowd.close()


def log_in(page: Page, base: str, phone: str, password: str) -> None:
    page.goto(f"{base}/login")
    form = page.locator('form[action="/login"]')
    form.locator('input[name="phone"]').fill(phone)
    form.locator('input[name="password"]').fill(password)
    form.locator('button[type="submit"]').click()
    expect(page).to_have_url(f"{base}/")


def act_for(page: Page, base: str, organisation: str) -> None:
    """Choose an organisation in the account page's "Act for" switcher."""
    page.goto(f"{base}/account")
    switcher = page.locator('form[action="/account/switch"]')
    option = switcher.locator("option", has_text=organisation)
    expect(option).to_have_count(1)
    value = option.get_attribute("value")
    assert value, f"no organisation id on the option for {organisation!r}"
    switcher.locator('select[name="organisation_id"]').select_option(value)
    switcher.get_by_role("button", name="Switch").click()
    expect(page.locator(".flash")).to_have_text("Switched.")
    expect(page.locator(".actingbar")).to_contain_text(f"acting for {organisation}")


def on_server(
    server: LiveServer, work: Callable[[AsyncSession, httpx.AsyncClient], Awaitable[T]]
) -> T:
    """Run `work` with a session on the served instance's database (committed after it) and an
    HTTP client to it, in a thread of its own (Playwright's sync API runs an event loop on
    this one)."""
    outcome: dict[str, Any] = {}

    async def main() -> T:
        engine = make_engine(server.database_url)
        try:
            async with (
                make_sessionmaker(engine)() as session,
                httpx.AsyncClient(base_url=server.url, timeout=20) as client,
            ):
                result = await work(session, client)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
