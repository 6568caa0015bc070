"""A person's first visit, in headless Chromium against a served instance.

Sign up, land signed in, log out, log in again, switch to Simplified Chinese and find it
remembered; and a weak password is refused on the form without creating the account.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from linli.i18n import translations
from linli.security import password_problem
from tests.browser import BROWSER_MARKS, TIMEOUT_MS, people_of
from tests.browser import browser as browser
from tests.live import LiveServer, live_server  # noqa: F401

PHONE = "13912345678"
NAME = "Lin Xiaomei"
PASSWORD = "Lane-Market-2026!"
WEAK_PHONE = "13912345679"
WEAK_PASSWORD = "password"

pytestmark = BROWSER_MARKS


@pytest.fixture
def page(
    browser: Browser,
    live_server: LiveServer,  # noqa: F811
    request: pytest.FixtureRequest,
) -> Iterator[Page]:
    """A fresh English-speaking browser; on failure a screenshot and the server's log of the
    test land in test-artifacts/."""
    with people_of(live_server, browser, request) as crowd:
        yield crowd.page_of("visitor")


def fill_login(page: Page, base: str, phone: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.locator('form[action="/login"] input[name="phone"]').fill(phone)
    page.locator('form[action="/login"] input[name="password"]').fill(password)
    page.locator('form[action="/login"] button[type="submit"]').click()


def expect_english_home_signed_in_as(page: Page, base: str, name: str) -> None:
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator(".actingbar")).to_contain_text(name)


def expect_chinese(page: Page) -> None:
    inbox = translations("zh_Hans").gettext("Inbox")
    assert inbox != "Inbox", "the zh_Hans catalogue does not translate 'Inbox'"
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator('nav a[href="/inbox"]')).to_have_text(inbox)
    expect(page.locator("strong[lang='zh-Hans']")).to_have_text("简体中文")
    expect(page.locator('[data-lang="en"]')).to_be_visible()


def test_sign_up_log_out_log_in_and_switch_to_chinese(
    page: Page,
    browser: Browser,
    live_server: LiveServer,  # noqa: F811
) -> None:
    base = live_server.url

    page.goto(f"{base}/signup")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    form = page.locator('form[action="/signup"]')
    form.locator('input[name="phone"]').fill(PHONE)
    form.locator('input[name="display_name"]').fill(NAME)
    form.locator('input[name="password"]').fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()

    expect_english_home_signed_in_as(page, base, NAME)
    expect(page.locator(".flash")).to_have_text(f"Welcome, {NAME}! Your account is ready.")
    expect(page.locator('[data-role="resident"]')).to_be_visible()

    page.locator('form[action="/logout"] button').click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".flash")).to_have_text("You have logged out.")
    expect(page.locator(".actingbar")).to_have_count(0)
    expect(page.locator('nav a[href="/login"]')).to_be_visible()

    fill_login(page, base, PHONE, PASSWORD)
    expect_english_home_signed_in_as(page, base, NAME)

    page.locator('[data-lang="zh_Hans"]').click()
    expect(page).to_have_url(f"{base}/")
    expect_chinese(page)
    expect(page.locator(".actingbar")).to_contain_text(NAME)

    page.reload()
    expect_chinese(page)

    # The choice is kept on the account too: a browser without the cookie gets it at login.
    other = browser.new_context(locale="en-US")
    other.set_default_timeout(TIMEOUT_MS)
    try:
        elsewhere = other.new_page()
        fill_login(elsewhere, base, PHONE, PASSWORD)
        expect(elsewhere).to_have_url(f"{base}/")
        expect_chinese(elsewhere)
    finally:
        other.close()


def test_a_weak_password_is_refused_and_creates_no_account(
    page: Page,
    live_server: LiveServer,  # noqa: F811
) -> None:
    base = live_server.url
    problem = password_problem(WEAK_PASSWORD, phone_digits=WEAK_PHONE)
    assert problem is not None, f"{WEAK_PASSWORD!r} is no longer considered weak"

    page.goto(f"{base}/signup")
    form = page.locator('form[action="/signup"]')
    form.locator('input[name="phone"]').fill(WEAK_PHONE)
    form.locator('input[name="display_name"]').fill(NAME)
    form.locator('input[name="password"]').fill(WEAK_PASSWORD)
    form.get_by_role("button", name="Create account").click()

    expect(page).to_have_url(f"{base}/signup")
    password_label = page.locator("label", has=page.locator('input[name="password"]'))
    expect(password_label.locator(".field-error")).to_have_text(problem.render())
    expect(page.locator(".error-box")).to_contain_text("Choose a stronger password.")
    expect(form.locator('input[name="phone"]')).to_have_value(WEAK_PHONE)
    expect(form.locator('input[name="password"]')).to_have_value("")
    expect(page.locator(".actingbar")).to_have_count(0)

    fill_login(page, base, WEAK_PHONE, WEAK_PASSWORD)
    expect(page).to_have_url(f"{base}/login")
    expect(page.locator(".error-box")).to_contain_text("Wrong phone number or password.")
    expect(page.locator(".actingbar")).to_have_count(0)
