"""From a new account to a product on sale, in headless Chromium against a served instance.

A person signs up and applies to sell (the credit code checked as it is typed, two licence
scans attached); a platform operator approves the application in another browser; the
applicant reads the approval in the inbox, acts for the new organisation, creates a product
with its first SKU and lists it; and an anonymous resident finds it in the catalogue.

The instance is this module's own, so login throttling or data from other modules cannot
interfere.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import BROWSER_MARKS, People, act_for, log_in, people_of
from tests.browser import browser as browser
from tests.live import LiveServer, serve_live

INBOX_WAIT_S = 10.0

OPERATOR_PHONE = "13700000001"
OPERATOR_NAME = "Zhao Operator"
OPERATOR_PASSWORD = "Review-Desk-2026!"
PLATFORM_NAME = "Linli Platform Ops"

APPLICANT_PHONE = "13812340001"
APPLICANT_NAME = "Wang Guoping"
APPLICANT_PASSWORD = "Orchard-Hill-2026!"

COMPANY = "Yantai Orchard Fresh Co., Ltd."
CREDIT_CODE = "91350100M000100Y43"
WRONG_CREDIT_CODE = "91350100M000100Y44"  # the check character (position 18) is wrong

PRODUCT = "烟台红富士苹果"
PRICE_YUAN = "39.9"
PRICE_SHOWN = "¥39.90"

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A served instance for this module alone."""
    with serve_live(tmp_path_factory.mktemp("merchants-live"), "merchants") as served:
        yield served


@pytest.fixture
def people(
    server: LiveServer, browser: Browser, request: pytest.FixtureRequest
) -> Iterator[People]:
    with people_of(server, browser, request) as crowd:
        yield crowd


def seed_operator(server: LiveServer) -> None:
    """A platform organisation with an operator, created the way an operator does it."""
    server.run_cli(
        "user",
        "create",
        "--phone",
        OPERATOR_PHONE,
        "--name",
        OPERATOR_NAME,
        "--password",
        OPERATOR_PASSWORD,
    )
    created = server.run_cli("org", "create", "--kind", "platform", "--name", PLATFORM_NAME)
    match = re.search(r"Created organisation (\d+)", created)
    assert match, f"no organisation id in {created!r}"
    server.run_cli(
        "user", "grant", "--phone", OPERATOR_PHONE, "--org", match.group(1), "--role", "operator"
    )


def tiny_pdf(path: Path, title: str) -> Path:
    """A small, well-formed one-page PDF (the server sniffs the leading %PDF-)."""
    path.write_bytes(
        b"%PDF-1.4\n"
        b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >> endobj\n"
        + f"% {title}\n".encode()
        + b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return path


def sign_up_and_apply(page: Page, base: str, scans: Path) -> None:
    page.goto(f"{base}/signup")
    form = page.locator('form[action="/signup"]')
    form.locator('input[name="phone"]').fill(APPLICANT_PHONE)
    form.locator('input[name="display_name"]').fill(APPLICANT_NAME)
    form.locator('input[name="password"]').fill(APPLICANT_PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".actingbar")).to_contain_text(APPLICANT_NAME)

    page.locator('nav a[href="/merchants/apply"]').click()
    expect(page).to_have_url(f"{base}/merchants/apply")
    expect(page.locator("h1")).to_have_text("Sell on Linli")
    form = page.locator('form[action="/merchants/apply"]')
    form.locator('input[name="company_name"]').fill(COMPANY)

    code = form.locator("input[data-credit-code]")
    status = form.locator("[data-credit-code-status]")
    code.fill(WRONG_CREDIT_CODE)
    expect(status).to_contain_text("Position 18")
    expect(status).to_have_class("field-error")
    code.fill(CREDIT_CODE)
    expect(status).to_have_text(f"✓ {CREDIT_CODE}")
    expect(status).to_have_class("ok")

    form.locator('input[name="legal_representative"]').fill("Wang Guoping")
    form.locator('input[name="address"]').fill("88 Guoyuan Road, Penglai, Yantai, Shandong")
    form.locator('input[name="province_code"]').fill("370000")
    form.locator('input[name="city_code"]').fill("370600")
    form.locator('input[name="district_code"]').fill("370686")
    form.locator('input[name="business_scope"][value="fresh_food"]').check()
    form.locator('input[name="contact_name"]').fill("Wang Guoping")
    form.locator('input[name="contact_phone"]').fill(APPLICANT_PHONE)

    today = date.today()
    valid_from = (today - timedelta(days=200)).isoformat()
    valid_to = (today + timedelta(days=3 * 365)).isoformat()
    form.locator('input[name="business_number"]').fill(CREDIT_CODE)
    form.locator('input[name="business_valid_from"]').fill(valid_from)
    form.locator('input[name="business_valid_to"]').fill(valid_to)
    form.locator('input[name="business_file"]').set_input_files(
        tiny_pdf(scans / "business-licence.pdf", "business licence")
    )
    form.locator('select[name="extra_type"]').select_option("food_business")
    form.locator('input[name="extra_number"]').fill("JY13706860012345")
    form.locator('input[name="extra_valid_from"]').fill(valid_from)
    form.locator('input[name="extra_valid_to"]').fill(valid_to)
    form.locator('input[name="extra_file"]').set_input_files(
        tiny_pdf(scans / "food-business-licence.pdf", "food business licence")
    )
    form.get_by_role("button", name="Submit application").click()

    expect(page).to_have_url(f"{base}/merchants/applications")
    expect(page.locator(".error-box")).to_have_count(0)
    expect(page.locator(".flash")).to_contain_text("submitted; we will tell you the decision.")
    application = page.locator("article", has_text=COMPANY)
    expect(application).to_have_count(1)
    expect(application.locator("[data-status]")).to_have_attribute("data-status", "submitted")


def operator_approves(page: Page, base: str) -> None:
    log_in(page, base, OPERATOR_PHONE, OPERATOR_PASSWORD)
    act_for(page, base, PLATFORM_NAME)
    page.locator('nav a[href="/ops/merchants"]').click()
    expect(page).to_have_url(f"{base}/ops/merchants")
    pending = page.locator("table").first
    pending.get_by_role("link", name=COMPANY).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/ops/merchants/\d+$"))
    expect(page.locator("h1")).to_contain_text(COMPANY)
    expect(page.locator("dl.facts")).to_contain_text(CREDIT_CODE)
    expect(page.locator("main li")).to_have_count(2)  # both licences, each with its scan
    page.get_by_role("button", name="Approve").click()
    expect(page).to_have_url(f"{base}/ops/merchants")
    expect(page.locator(".flash")).to_have_text("Approved.")


def wait_for_inbox(page: Page, base: str, title: str) -> None:
    """The dispatcher delivers the decision in the background: reload until it arrives."""
    message = page.locator("ul.inbox h2", has_text=title)
    deadline = time.monotonic() + INBOX_WAIT_S
    page.goto(f"{base}/inbox")
    while message.count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(message).to_be_visible(timeout=2_000)


def create_and_list_product(page: Page, base: str) -> None:
    page.locator('nav a[href="/merchant/products"]').click()
    expect(page).to_have_url(f"{base}/merchant/products")
    form = page.locator('form[action="/merchant/products"][method="post"]')
    form.locator('input[name="name"]').fill(PRODUCT)
    form.locator('select[name="category"]').select_option("fresh_food")
    form.locator('textarea[name="description"]').fill("Crisp Red Fuji apples from Qixia.")
    form.locator('input[name="unit"]').fill("box")
    form.locator('input[name="origin"]').fill("山东烟台")
    form.locator('input[name="shelf_life_days"]').fill("30")
    form.locator('select[name="storage_class"]').select_option("chilled")
    form.locator('input[name="code"]').fill("FUJI-5KG")
    form.locator('textarea[name="specs"]').fill("weight: 5 kg")
    form.locator('input[name="price"]').fill(PRICE_YUAN)
    form.locator('input[name="stock"]').fill("120")
    form.get_by_role("button", name="Create draft").click()

    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/merchant/products/\d+$"))
    expect(page.locator(".error-box")).to_have_count(0)
    expect(page.locator("h1")).to_contain_text(PRODUCT)
    expect(page.locator('[data-testid="status"]')).to_have_class(re.compile(r"status-draft"))
    sku = page.locator('[data-testid="skus"] tbody tr')
    expect(sku).to_have_count(1)
    expect(sku.locator("strong.price")).to_have_text(PRICE_SHOWN)

    page.get_by_role("button", name="List for sale").click()
    expect(page.locator(".error-box")).to_have_count(0)
    expect(page.locator(".flash")).to_have_text("Listed: it is on sale now.")
    expect(page.locator('[data-testid="status"]')).to_have_class(re.compile(r"status-listed"))


def search_catalogue(page: Page, base: str, words: str) -> None:
    form = page.locator('form[role="search"]')
    form.locator('input[name="q"]').fill(words)
    form.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/catalog\?.*q="))
    expect(form.locator('input[name="q"]')).to_have_value(words)
    card = page.locator("li.product-card", has_text=PRODUCT)
    expect(card).to_have_count(1)
    expect(card.locator(".price")).to_have_text(PRICE_SHOWN)


def test_apply_get_approved_list_a_product_and_find_it_in_the_catalogue(
    people: People, server: LiveServer, tmp_path: Path
) -> None:
    base = server.url
    seed_operator(server)

    applicant = people.page_of("applicant")
    sign_up_and_apply(applicant, base, tmp_path)

    operator_approves(people.page_of("operator"), base)

    wait_for_inbox(applicant, base, "Your merchant application is approved")
    act_for(applicant, base, COMPANY)
    create_and_list_product(applicant, base)

    resident = people.page_of("resident")
    resident.goto(f"{base}/catalog")
    expect(resident.locator(".actingbar")).to_have_count(0)
    search_catalogue(resident, base, "苹果")
    resident.locator("li.product-card a", has_text=PRODUCT).click()
    expect(resident).to_have_url(re.compile(rf"^{re.escape(base)}/p/\d+$"))
    expect(resident.locator("h1")).to_have_text(PRODUCT)
    expect(resident.locator('[data-testid="merchant"]')).to_have_text(COMPANY)
    expect(resident.locator("p.price.big")).to_contain_text(PRICE_SHOWN)
    expect(resident.locator("td.price")).to_have_text(PRICE_SHOWN)
    expect(resident.locator("dl.facts")).to_contain_text("山东烟台")

    resident.goto(f"{base}/catalog")
    search_catalogue(resident, base, "红富士")
