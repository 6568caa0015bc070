"""Server-rendered pages: Jinja2 environment, CSRF for forms, flash messages, rendering."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linli import i18n, labels
from linli.assets import Manifest
from linli.authz import (
    CATALOG_MANAGE,
    COMPLAINTS_READ,
    CREDIT_READ,
    GROUPBUY_READ,
    LIVE_READ,
    OPS_OUTBOX_READ,
    ORG_AUDIT_READ,
    PLATFORM_AUDIT_READ,
    PLATFORM_CLAIMS,
    PLATFORM_COMPLAINTS,
    PLATFORM_LIVE,
    PLATFORM_REVIEW,
    PLATFORM_REVIEWS_HIDE,
    PLATFORM_SUPERVISION_REPORTS,
    PROTECTION_CLAIMS_READ,
    REGULATOR_COMPLAINTS_READ,
    REGULATOR_CREDIT_READ,
    REGULATOR_REPORTS_READ,
    REGULATOR_TRACE_READ,
    REVIEWS_READ,
    SERVICES_READ,
    SUPERVISION_PLANS_READ,
    SUPERVISION_READ,
    TRACE_RECALL,
    TRACE_SAFETY_READ,
    Actor,
    current_actor,
)
from linli.errors import DomainError, Forbidden
from linli.i18n import N_
from linli.middleware import LANG_COOKIE
from linli.money import format_fen
from linli.phone import mask_phone
from linli.security import constant_time_equal

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
FLASH_COOKIE = "linli_flash"
CSRF_COOKIE = "linli_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"


def make_environment(manifest: Manifest | None = None) -> Environment:
    """The pages' Jinja2 environment; `static_url(name)` gives a static file's fingerprinted
    URL from `manifest` (built from the static directory when not given)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["money"] = format_fen
    env.filters["localtime"] = i18n.format_datetime
    env.filters["mask_phone"] = mask_phone
    env.globals["LOCALE_NAMES"] = i18n.LOCALE_NAMES
    env.globals["term"] = i18n.term
    env.globals.update(labels.TEMPLATE_GLOBALS)
    env.globals["static_url"] = (manifest or Manifest.build(STATIC_DIR)).url
    return env


# --- CSRF ---------------------------------------------------------------------------------


class CSRFCookieMiddleware:
    """Gives every visitor a random CSRF token cookie (double-submit pattern)."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.cookies.get(CSRF_COOKIE)
        fresh = not token or len(token) < 32
        if fresh:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = token

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                secure = "; Secure" if self.secure else ""
                headers.append(
                    "set-cookie",
                    f"{CSRF_COOKIE}={token}; Path=/; SameSite=Lax; Max-Age=31536000{secure}",
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_token(request: Request) -> str:
    return str(request.state.csrf_token)


async def verify_csrf(request: Request) -> None:
    """Router dependency for HTML forms: the posted token must equal the cookie's."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    posted = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(posted, str) or not cookie or not constant_time_equal(posted, cookie):
        raise Forbidden(
            N_("This form has expired or did not come from this site. Reload and try again."),
            code="csrf_failed",
        )


# --- flash messages -----------------------------------------------------------------------


def flash(response: Response, text: str, level: str = "info") -> None:
    """Show `text` (already translated) on the next page the browser renders."""
    value = json.dumps([level, text], ensure_ascii=True)
    response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax")


def pop_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        level, text = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if level not in ("info", "success", "error") or not isinstance(text, str):
        return None
    request.state.clear_flash = True
    return level, text[:500]


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths may be redirect targets."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def redirect(url: str, *, text: str | None = None, level: str = "success") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    if text:
        flash(response, text, level)
    return response


# --- rendering ----------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    actor: Actor | None = None,
    public: bool = False,
    fresh_for: float | None = None,
) -> HTMLResponse:
    """The page `template` rendered for the request's actor. `public`: the page shows the same
    to every anonymous visitor (a product, a merchant, a batch's trace), so its answer is
    validated with an ETag and may be kept by the visitor's browser (middleware.
    PageCacheMiddleware); it turns personal (`private, no-store`) for a logged-in visitor, and
    anonymous visitors may be answered the page kept by middleware.ResponseCacheMiddleware
    until content is written or `fresh_for` seconds (LINLI_PAGE_CACHE_SECONDS if not given)
    have passed: a page that changes with time alone says how long it stays true."""
    if public:
        request.state.public_page = True
        if fresh_for is not None:
            request.state.page_fresh_for = fresh_for
    env: Environment = request.app.state.jinja
    the_actor = actor or getattr(request.state, "actor", None) or Actor()
    flashed = pop_flash(request)
    page = env.get_template(template).render(
        request=request,
        actor=the_actor,
        locale=i18n.get_locale(),
        csrf_token=csrf_token(request),
        flashed=flashed,
        nav=[(path, i18n.gettext(label)) for path, label in navigation(the_actor)],
        **(context or {}),
    )
    response = HTMLResponse(page, status_code=status_code)
    if flashed:
        response.delete_cookie(FLASH_COOKIE)
    return response


def navigation(actor: Actor) -> list[tuple[str, str]]:
    """Menu entries (path, label msgid) for what this actor can do, in the role they act in."""
    items: list[tuple[str, str]] = [
        ("/", N_("Home")),
        ("/catalog", N_("Catalogue")),
        ("/services", N_("Online services")),
    ]
    if not actor.is_authenticated:
        return [
            *items,
            ("/export", N_("Export quality")),
            ("/credit/query", N_("Credit query")),
            ("/credit/lists", N_("Credit lists")),
            ("/login", N_("Log in")),
            ("/signup", N_("Sign up")),
        ]
    items.append(("/inbox", N_("Inbox")))
    kind = actor.organisation_kind
    if kind is None:
        items.append(("/groupbuy", N_("Group buys")))
        items.append(("/live", N_("Live selling")))
        items.append(("/groupbuy/cart", N_("My cart")))
        items.append(("/groupbuy/orders", N_("My orders")))
        items.append(("/live/orders", N_("My live orders")))
        items.append(("/services/bookings", N_("My bookings")))
        items.append(("/reviews/mine", N_("My reviews")))
        items.append(("/communities", N_("My community")))
        items.append(("/protection/complaints", N_("My complaints")))
        items.append(("/credit", N_("My credit")))
        items.append(("/supervision/reports", N_("My reports")))
        items.append(("/leader", N_("My pickup point")))
        if actor.user is not None and actor.user.leads_point:
            items.append(("/leader/pickup", N_("Pickup desk")))
            items.append(("/leader/live-orders", N_("Live orders at my point")))
            items.append(("/leader/earnings", N_("Earnings")))
            items.append(("/leader/complaints", N_("Complaints about me")))
            items.append(("/leader/credit", N_("My credit as a group leader")))
        items.append(("/merchants/apply", N_("Sell on Linli")))
    elif kind in ("merchant", "supplier"):
        items.append(("/merchant", N_("Merchant console")))
        if actor.has(CATALOG_MANAGE):
            items.append(("/merchant/products", N_("My products")))
        if actor.has(GROUPBUY_READ) and kind == "merchant":
            items.append(("/merchant/groupbuy", N_("Group buys")))
        if actor.has(LIVE_READ) and kind == "merchant":
            items.append(("/merchant/live", N_("Live studio")))
            items.append(("/merchant/live-orders", N_("Live orders")))
        if actor.has(TRACE_SAFETY_READ):
            items.append(("/merchant/batches", N_("Batches and traceability")))
        if actor.has(TRACE_RECALL):
            items.append(("/merchant/recalls", N_("Recalls")))
        if actor.has(REVIEWS_READ) and kind == "merchant":
            items.append(("/merchant/reviews", N_("Reviews")))
        if actor.has(COMPLAINTS_READ):
            items.append(("/merchant/complaints", N_("Complaints about us")))
        if actor.has(CREDIT_READ) and kind == "merchant":
            items.append(("/merchant/credit", N_("Our credit")))
        if actor.has(PROTECTION_CLAIMS_READ) and kind == "merchant":
            items.append(("/merchant/claims", N_("Quality claims")))
        if actor.has(SERVICES_READ) and kind == "merchant":
            items.append(("/services/desk", N_("Services desk")))
    elif kind == "regulator":
        if actor.has(REGULATOR_TRACE_READ):
            items.append(("/regulator/recalls", N_("Recalls")))
        if actor.has(REGULATOR_COMPLAINTS_READ):
            items.append(("/regulator/complaints", N_("Complaints in our jurisdiction")))
        if actor.has(REGULATOR_CREDIT_READ):
            items.append(("/regulator/credit", N_("Credit desk")))
        if actor.has(SUPERVISION_PLANS_READ):
            items.append(("/regulator/inspections", N_("Random inspection plans")))
        if actor.has(REGULATOR_REPORTS_READ):
            items.append(("/regulator/reports", N_("Reports forwarded to us")))
        if actor.has(SUPERVISION_READ):
            items.append(("/regulator/alerts", N_("Supervision alerts")))
            items.append(("/regulator/cases", N_("Case board")))
            items.append(("/regulator/emergencies", N_("Emergency declarations")))
            items.append(("/regulator/supervision-rules", N_("Supervision rules")))
            items.append(("/regulator/charts", N_("Supervision charts")))
    if actor.has(PLATFORM_REVIEW):
        items.append(("/ops/merchants", N_("Merchant reviews")))
        items.append(("/ops/certifications", N_("Certifications")))
        items.append(("/ops/leaders", N_("Leader reviews")))
        items.append(("/ops/communities", N_("Communities")))
        items.append(("/ops/groupbuy", N_("Group-buy oversight")))
    if actor.has(PLATFORM_REVIEWS_HIDE):
        items.append(("/ops/reviews", N_("Reviews")))
    if actor.has(PLATFORM_COMPLAINTS):
        items.append(("/ops/complaints", N_("Platform disputes")))
    if actor.has(PLATFORM_CLAIMS):
        items.append(("/platform/claims", N_("Quality claims")))
    if actor.has(PLATFORM_SUPERVISION_REPORTS):
        items.append(("/ops/supervision/reports", N_("Reports to triage")))
    if actor.has(PLATFORM_LIVE):
        items.append(("/platform/live", N_("Live now")))
    if actor.has(OPS_OUTBOX_READ):
        items.append(("/ops/outbox", N_("Event delivery")))
    if actor.has(PLATFORM_AUDIT_READ):
        items.append(("/ops/rules", N_("Rules")))
    if actor.has(ORG_AUDIT_READ) or actor.has(PLATFORM_AUDIT_READ):
        items.append(("/audit", N_("Audit log")))
    items.append(("/credit/query", N_("Credit query")))
    items.append(("/credit/lists", N_("Credit lists")))
    if actor.organisation is not None:
        items.append((f"/orgs/{actor.organisation.id}", N_("My organisation")))
    items.append(("/account", N_("Account")))
    return items


# --- sections a higher domain adds to a lower domain's page ------------------------------------
# Lower layers ask, higher layers provide: a page of a lower domain names a slot ("product" on
# the catalogue's product page, "merchant" on the merchant's page) and a domain above it
# (protection: ratings and reviews) fills it when its page module is imported.
PageSection = Callable[[Request, AsyncSession, int], Awaitable[Markup]]
_SECTIONS: dict[str, dict[str, PageSection]] = {}


def provide_section(slot: str, name: str, section: PageSection) -> None:
    """Show `section` (its HTML for the page's subject id) on the pages naming `slot`."""
    _SECTIONS.setdefault(slot, {})[name] = section


async def page_sections(
    slot: str, request: Request, session: AsyncSession, subject_id: int
) -> list[Markup]:
    """The sections provided for `slot`, in the order of their names."""
    provided = _SECTIONS.get(slot, {})
    return [await provided[name](request, session, subject_id) for name in sorted(provided)]


def render_fragment(request: Request, template: str, context: dict[str, Any]) -> Markup:
    """A template rendered (autoescaped) as a piece of a page, for a page section."""
    env: Environment = request.app.state.jinja
    html = env.get_template(template).render(
        request=request, locale=i18n.get_locale(), csrf_token=csrf_token(request), **context
    )
    return Markup(html)  # noqa: S704 - rendered by the autoescaping environment


__all__ = [
    "CSRF_FIELD",
    "LANG_COOKIE",
    "CSRFCookieMiddleware",
    "ErrorAnswer",
    "current_actor",
    "flash",
    "flash_error",
    "form_action",
    "form_data",
    "make_environment",
    "page_sections",
    "provide_section",
    "redirect",
    "render",
    "render_fragment",
    "safe_next",
    "settle_failed_form",
    "validate_form",
    "verify_csrf",
]


async def form_data(request: Request) -> dict[str, str]:
    """The posted form as plain strings (files are handled by the routes that take them)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != CSRF_FIELD}


def validate_form(model: type[M], data: dict[str, Any]) -> M:
    """Validate a form with the API's schema; failures become the API's field messages."""
    from linli.error_handlers import translate_validation

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise translate_validation(exc.errors()) from None


async def settle_failed_form(session: AsyncSession, error: DomainError) -> None:
    """A page that shows an error instead of raising must still not commit half the work."""
    if error.keep_changes:
        await session.commit()
    else:
        await session.rollback()


# What a page answers when its form's work failed: the form again with the error (async when
# it has to load the page), or a redirect with the error as a flash.
ErrorAnswer = Callable[[DomainError], Awaitable[Response] | Response]


async def form_action(
    session: AsyncSession, do: Callable[[], Awaitable[T]], *, on_error: ErrorAnswer
) -> T | Response:
    """Run a form's work (its validation included) and return what `do` returns; on a
    `DomainError` settle the transaction (`settle_failed_form`) and return `on_error`'s answer.

    A pydantic `ValidationError` that escaped `validate_form` (a model built directly) is
    answered the same way, as the API's field messages, never as a server error. Callers tell
    the two outcomes apart with `isinstance(outcome, Response)`, so `do` returns data, not a
    response.
    """
    from linli.error_handlers import translate_validation

    try:
        return await do()
    except DomainError as error:
        failure = error
    except ValidationError as exc:
        failure = translate_validation(exc.errors())
    await settle_failed_form(session, failure)
    answer = on_error(failure)
    return answer if isinstance(answer, Response) else await answer


def flash_error(url: str) -> Callable[[DomainError], Response]:
    """`on_error` for forms that go back to `url` with the error's message as a flash."""

    def answer(error: DomainError) -> Response:
        return redirect(url, text=error.message.render(), level="error")

    return answer
