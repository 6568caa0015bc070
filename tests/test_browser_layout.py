"""Every page of every role fits a phone: headless Chromium, 390 px wide, against a served
demo city.

For anonymous visitors, a resident, a group leader, a merchant owner, a regulator and a platform
operator, the pages reachable from the menu and from the pages it leads to (one page per kind
of address: `/p/{id}` once, not for every product) are loaded at phone width, in English and
in Chinese, and none may scroll sideways (`scrollWidth > innerWidth`) or fail with a 5xx.
The phone menu sits behind a button and opens inside the screen; on a desktop the catalogue's
product cards do not overlap. The same crawl finds no enterprise risk class on any page of the
demo city for anyone but the regulator, and finds it for the regulator (issue 12; the API side
is tests/credit/test_risk_class_crawl.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from linli.demo.seed import DEMO_PASSWORD
from tests.browser import ARTIFACTS, BROWSER_MARKS, TIMEOUT_MS, chromium
from tests.credit.test_credit_http import RISK_MARKERS
from tests.live import DEMO_CITY, LiveServer, serve_live

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# `linli demo` prints these logins (demo/seed.py); None: not logged in.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "resident": "13800000005",
    "leader": "13800000007",
    "merchant-owner": "13800000004",
    "regulator": "13800000002",
    "operator": "13800000001",
}
MAX_PAGES_PER_ROLE = 80
# Not pages: downloads, images, machine interfaces, and links that change something.
SKIPPED = re.compile(
    r"^/(files|static|api|epcis|openapi|docs|redoc|healthz|logout|lang)\b|\.(svg|csv|pdf|png|jpe?g|json)$"
)

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def demo_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_live(tmp_path_factory.mktemp("layout"), "layout", seed=DEMO_CITY) as server:
        yield server


@pytest.fixture(scope="module")
def browser(demo_city: LiveServer) -> Iterator[Browser]:
    """Chromium, started after the demo city (Playwright's loop would stop the asyncio.run of
    its PostgreSQL set-up) and closed before it."""
    with chromium() as launched:
        yield launched


def shape(path: str) -> str:
    """One address per kind of page: numbers and codes become placeholders."""
    path = re.sub(r"^/t/[^/]+", "/t/{code}", path)
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


@pytest.fixture(scope="module")
def logins() -> dict[str, StorageState]:
    """The cookies of each role's login, kept for the module (see context_for)."""
    return {}


def context_for(
    browser: Browser,
    server: LiveServer,
    phone: str | None,
    locale: str,
    viewport: dict[str, int],
    logins: dict[str, StorageState],
) -> BrowserContext:
    """A browser context at `locale` and `viewport`, logged in as `phone` (unless None).

    Each role logs in through the login form once per module; its other contexts start with
    the cookies that login left (the session, and the language the account saved, as a new
    login would set them): the crawl never logs out, so the session stays valid."""
    if phone is not None and phone in logins:
        context = browser.new_context(
            locale=locale,
            viewport=viewport,  # type: ignore[arg-type]
            storage_state=logins[phone],
        )
        context.set_default_timeout(TIMEOUT_MS)
        return context
    context = browser.new_context(locale=locale, viewport=viewport)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    if phone is not None:
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.locator('input[name="phone"]').fill(phone)
        page.locator('input[name="password"]').fill(DEMO_PASSWORD)
        page.locator('main form button[type="submit"]').click()
        page.wait_for_url(re.compile(r"^(?!.*/login).*$"))
        page.close()
        logins[phone] = context.storage_state()
    return context


@dataclass
class Crawl:
    visited: dict[str, str] = field(default_factory=dict)  # shape -> path
    overflowing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    with_risk_class: list[str] = field(default_factory=list)


# What the crawl reads of a loaded page, in one round trip: its markup, its scroll width and
# the window's, the first elements sticking out on the right (named only when it scrolls
# sideways), and the links it offers.
INSPECT = """() => {
  const width = window.innerWidth;
  const scrollWidth = document.documentElement.scrollWidth;
  const wide = scrollWidth <= width ? [] : [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.tagName.toLowerCase() + '.' + String(e.className).split(' ')[0])
  const hrefs = [...document.querySelectorAll("a[href^='/']")].map(a => a.getAttribute('href'));
  return [document.documentElement.outerHTML, scrollWidth, width, wide.slice(0, 5), hrefs];
}"""


def crawl(page: Page, server: LiveServer) -> Crawl:
    """Breadth first from the home page and the menu, one page per shape of address."""
    result = Crawl()
    queue = ["/"]
    while queue and len(result.visited) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        if shape(path) in result.visited:
            continue
        result.visited[shape(path)] = path
        response = page.goto(f"{server.url}{path}")
        assert response is not None
        if response.status >= 500:
            result.failed.append(f"{path}: {response.status}")
            continue
        html, scroll_width, inner_width, wide, hrefs = page.evaluate(INSPECT)
        if any(marker in html for marker in RISK_MARKERS):
            result.with_risk_class.append(path)
        if scroll_width > inner_width:
            result.overflowing.append(f"{path}: {scroll_width} > {inner_width} ({wide})")
        if urlsplit(page.url).path != urlsplit(f"{server.url}{path}").path:
            continue  # redirected (to the login page, say): its links are not this role's
        for href in hrefs:
            target = urlsplit(href).path
            if target and not SKIPPED.search(target) and shape(target) not in result.visited:
                queue.append(target)
    return result


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@pytest.mark.parametrize("role", list(ROLES))
def test_no_page_scrolls_sideways_on_a_phone(
    browser: Browser,
    demo_city: LiveServer,
    logins: dict[str, StorageState],
    role: str,
    locale: str,
) -> None:
    context = context_for(browser, demo_city, ROLES[role], locale, PHONE, logins)
    try:
        page = context.new_page()
        result = crawl(page, demo_city)
    finally:
        context.close()
    assert len(result.visited) >= 5, result.visited  # the crawl really walked the site
    assert result.failed == []
    assert result.overflowing == [], "\n".join(result.overflowing)
    if role == "regulator":
        assert "/regulator/credit" in result.with_risk_class, result.visited
    else:
        assert result.with_risk_class == []


def test_the_phone_menu_opens_inside_the_screen(
    browser: Browser, demo_city: LiveServer, logins: dict[str, StorageState]
) -> None:
    context = context_for(browser, demo_city, ROLES["operator"], "en-US", PHONE, logins)
    try:
        page = context.new_page()
        page.goto(f"{demo_city.url}/")
        audit = page.locator('nav.nav a[href="/audit"]')
        expect(audit).to_be_hidden()
        button = page.locator(".menu-button")
        expect(button).to_be_visible()
        button.click()
        expect(button).to_have_attribute("aria-expanded", "true")
        links = page.locator("nav.nav a")
        assert links.count() >= 8
        for n in range(links.count()):
            expect(links.nth(n)).to_be_visible()
            box = links.nth(n).bounding_box()
            assert box is not None
            assert box["x"] >= 0, box
            assert box["x"] + box["width"] <= PHONE["width"], box
        audit.click()
        page.wait_for_url(f"{demo_city.url}/audit")
        ARTIFACTS.mkdir(exist_ok=True)
        page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
        expect(page.locator(".menu-button")).to_be_hidden()
        expect(page.locator('nav.nav a[href="/audit"]')).to_be_visible()
    finally:
        context.close()


def test_catalogue_cards_do_not_overlap_on_a_desktop(
    browser: Browser, demo_city: LiveServer, logins: dict[str, StorageState]
) -> None:
    context = context_for(browser, demo_city, None, "zh-CN", DESKTOP, logins)
    try:
        page = context.new_page()
        page.goto(f"{demo_city.url}/catalog")
        cards = page.locator(".product-card")
        assert cards.count() >= 6
        boxes = [cards.nth(n).bounding_box() for n in range(cards.count())]
        screenshot = Path(ARTIFACTS) / "catalogue-desktop.png"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    finally:
        context.close()
    for n, a in enumerate(boxes):
        assert a is not None
        for b in boxes[n + 1 :]:
            assert b is not None
            apart = (
                a["x"] + a["width"] <= b["x"] + 0.5
                or b["x"] + b["width"] <= a["x"] + 0.5
                or a["y"] + a["height"] <= b["y"] + 0.5
                or b["y"] + b["height"] <= a["y"] + 0.5
            )
            assert apart, (a, b)
