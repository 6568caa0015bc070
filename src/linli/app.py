"""create_app(): settings, database, routers, templates, static files, the dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse

from linli import __version__, error_handlers, lean
from linli.assets import FingerprintedStaticFiles, Manifest
from linli.config import Settings
from linli.db import engine_from_settings, make_sessionmaker
from linli.files.service import FileStore
from linli.live import channel as live_channel
from linli.live import recordings as live_recordings
from linli.middleware import (
    BodyLimitMiddleware,
    CompressionMiddleware,
    LocaleMiddleware,
    PageCacheMiddleware,
    ResponseCacheMiddleware,
    SecurityHeadersMiddleware,
)
from linli.outbox import Dispatcher
from linli.reference import ensure_reference_data
from linli.routing import index_routes
from linli.security import CookieSigner
from linli.trace import subscriptions
from linli.trace.epcis_headers import EpcisHeadersMiddleware
from linli.web import STATIC_DIR, CSRFCookieMiddleware, make_environment

log = logging.getLogger(__name__)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["sqlite", "postgresql"]


def load_domain_handlers() -> None:
    """Import every module that subscribes to events, registers due jobs, or provides what a
    lower layer declares (docs/architecture.md)."""
    import linli.accounts.handlers
    import linli.accounts.identity
    import linli.community.personal_data
    import linli.community.points
    import linli.credit.grades
    import linli.credit.handlers
    import linli.credit.list_handlers
    import linli.credit.pay_later_handlers
    import linli.credit.pay_later_personal_data
    import linli.credit.personal_data
    import linli.groupbuy.handlers
    import linli.groupbuy.personal_data
    import linli.groupbuy.pickup
    import linli.live.commission_source
    import linli.live.handlers
    import linli.live.personal_data
    import linli.live.pickup_desk
    import linli.merchants.handlers
    import linli.notifications.handlers
    import linli.notifications.pay_later_handlers
    import linli.notifications.personal_data
    import linli.notifications.services_handlers
    import linli.notifications.supervision_handlers
    import linli.payments.handlers
    import linli.payments.personal_data
    import linli.privacy.handlers
    import linli.protection.claim_handlers
    import linli.protection.complaint_handlers
    import linli.protection.personal_data
    import linli.protection.return_handlers
    import linli.protection.reviews
    import linli.services.handlers
    import linli.services.personal_data
    import linli.supervision.case_handlers
    import linli.supervision.rule_handlers
    import linli.trace.safety_handlers
    import linli.trace.sellability  # noqa: F401


async def _run_dispatcher(dispatcher: Dispatcher, settings: Settings, stop: asyncio.Event) -> None:
    """The in-process dispatcher. On PostgreSQL every server process runs one (claims use
    FOR UPDATE SKIP LOCKED and leases). On SQLite only the process holding the lock file
    var/dispatcher.lock runs it: SQLite has one writer at a time, so more dispatchers would
    only queue for the write lock (their claims would still be safe: BEGIN IMMEDIATE plus the
    lease). Another process takes over when the holder exits."""
    if settings.database_kind != "sqlite":
        await dispatcher.run_forever(stop)
        return
    with _dispatcher_lock(settings.var_dir) as try_lock:
        while not try_lock():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=DISPATCHER_LOCK_RETRY_SECONDS)
            if stop.is_set():
                return
        log.info("this process runs the outbox dispatcher (SQLite: one process does)")
        await dispatcher.run_forever(stop)


DISPATCHER_LOCK_RETRY_SECONDS = 5.0
# Smaller answers are sent as they are: the encoding's own bytes and the CPU outweigh the gain.
COMPRESS_ABOVE_BYTES = 500


def configure_jobs(settings: Settings) -> None:
    """What due jobs read from the settings (webhook deliveries, recordings' remux): every
    process that runs jobs calls it (`create_app`, `linli worker`)."""
    subscriptions.configure(
        subscriptions.Policy(
            allow_private=settings.trace_webhook_allow_private,
            max_failures=settings.trace_webhook_max_failures,
            timeout_seconds=settings.trace_webhook_timeout_seconds,
        )
    )
    live_recordings.configure(
        live_recordings.MediaPolicy(
            recordings_dir=settings.media_dir / "recordings" if settings.media_dir else None,
            replays_dir=settings.var_dir / "live-replays",
            ffmpeg=settings.ffmpeg,
        )
    )


@contextlib.contextmanager
def _dispatcher_lock(var_dir: Path) -> Iterator[Callable[[], bool]]:
    """A non-blocking exclusive lock on var/dispatcher.lock, held until the block ends (or
    the process dies). Yields a function that tries to take it."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a single process is assumed
        yield lambda: True
        return
    var_dir.mkdir(parents=True, exist_ok=True)
    with (var_dir / "dispatcher.lock").open("a") as handle:

        def try_lock() -> bool:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        yield try_lock


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_production()
    load_domain_handlers()
    engine = engine_from_settings(settings)
    sessionmaker = make_sessionmaker(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_reference_data(sessionmaker)
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if settings.run_dispatcher:
            task = asyncio.create_task(_run_dispatcher(app.state.dispatcher, settings, stop))
        mqtt_task: asyncio.Task[None] | None = None
        if settings.mqtt_url:  # cold-chain sensors (off unless configured)
            from linli.trace import mqtt

            mqtt_task = asyncio.create_task(
                mqtt.listen(
                    sessionmaker,
                    settings.mqtt_url,
                    settings.mqtt_topic,
                    stop,
                    options=mqtt.client_options(settings),
                )
            )
        try:
            yield
        finally:
            stop.set()
            app.state.dispatcher.wake()
            if mqtt_task is not None:
                mqtt_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await mqtt_task
            if task is not None:
                await task
            await app.state.live_hub.stop()
            await engine.dispose()

    app = FastAPI(
        title="Linli API",
        version=__version__,
        description="Neighbourhood commerce with traceability, credit and supervision.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.reading_sessionmaker = make_sessionmaker(engine, reading=True)
    manifest = Manifest.build(STATIC_DIR)
    app.state.jinja = make_environment(manifest)
    app.state.file_store = FileStore(settings.var_dir / "files")
    app.state.session_signer = CookieSigner(settings.resolved_secret_key(), "linli.session")
    configure_jobs(settings)
    app.state.live_hub = live_channel.Hub(sessionmaker)
    app.state.dispatcher = Dispatcher(
        sessionmaker,
        batch_size=settings.dispatcher_batch_size,
        lease_seconds=settings.dispatcher_lease_seconds,
        max_attempts=settings.dispatcher_max_attempts,
        poll_seconds=settings.dispatcher_poll_seconds,
        coalesce_seconds=settings.dispatcher_coalesce_seconds,
    )

    error_handlers.install(app)
    # Added innermost first (each wraps the ones before): compression is outermost, so it
    # encodes the final body; caching sees the route's actor and every cookie set inside it;
    # locale must be known before anything can answer with an error; kept pages are
    # inside them, with the visitor's CSRF token and locale known; the lean routes of the
    # hottest endpoints innermost, so every other middleware wraps their answers too.
    if settings.lean_routes:
        app.add_middleware(lean.LeanRoutes, routes=lean.ROUTES)
    app.add_middleware(ResponseCacheMiddleware, engine=engine, max_age=settings.page_cache_seconds)
    app.add_middleware(CSRFCookieMiddleware, secure=settings.secure_cookies)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    # outside the body limit, so its 413 on /epcis/capture carries the capture limits too
    app.add_middleware(EpcisHeadersMiddleware, file_size_limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    app.add_middleware(LocaleMiddleware, default=settings.default_locale)
    app.add_middleware(PageCacheMiddleware)
    app.add_middleware(CompressionMiddleware, minimum_size=COMPRESS_ABOVE_BYTES)

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness and database check",
        response_model=Health,
        responses={503: {"model": Health, "description": "The database does not answer"}},
    )
    async def healthz() -> JSONResponse:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (OSError, SQLAlchemyError):
            log.exception("health check: the database does not answer")
            return JSONResponse(
                {"status": "unavailable", "database": settings.database_kind}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": settings.database_kind})

    _include_routers(app)
    app.mount(
        "/static", FingerprintedStaticFiles(directory=STATIC_DIR, manifest=manifest), name="static"
    )
    app.state.route_index = index_routes(app.router)
    return app


def _include_routers(app: FastAPI) -> None:
    from linli.accounts import api as accounts_api
    from linli.accounts import pages as accounts_pages
    from linli.audit import api as audit_api
    from linli.audit import pages as audit_pages
    from linli.catalog import api as catalog_api
    from linli.catalog import pages as catalog_pages
    from linli.community import api as community_api
    from linli.community import pages as community_pages
    from linli.credit import api as credit_api
    from linli.credit import list_api as credit_list_api
    from linli.credit import list_pages as credit_list_pages
    from linli.credit import pages as credit_pages
    from linli.credit import pay_later_api as credit_pay_later_api
    from linli.credit import pay_later_pages as credit_pay_later_pages
    from linli.files import api as files_api
    from linli.groupbuy import api as groupbuy_api
    from linli.groupbuy import fulfilment_api as groupbuy_fulfilment_api
    from linli.groupbuy import leader_pages as groupbuy_leader_pages
    from linli.groupbuy import merchant_pages as groupbuy_merchant_pages
    from linli.groupbuy import pages as groupbuy_pages
    from linli.live import api as live_api
    from linli.live import channel_api as live_channel_api
    from linli.live import leader_pages as live_leader_pages
    from linli.live import order_api as live_order_api
    from linli.live import order_pages as live_order_pages
    from linli.live import pages as live_pages
    from linli.merchants import api as merchants_api
    from linli.merchants import pages as merchants_pages
    from linli.notifications import api as notifications_api
    from linli.notifications import pages as notifications_pages
    from linli.ops import api as ops_api
    from linli.ops import pages as ops_pages
    from linli.payments import api as payments_api
    from linli.payments import pages as payments_pages
    from linli.privacy import api as privacy_api
    from linli.privacy import pages as privacy_pages
    from linli.protection import claim_api as protection_claim_api
    from linli.protection import claim_pages as protection_claim_pages
    from linli.protection import complaint_api as protection_complaint_api
    from linli.protection import complaint_pages as protection_complaint_pages
    from linli.protection import return_api as protection_return_api
    from linli.protection import return_pages as protection_return_pages
    from linli.protection import review_api as protection_review_api
    from linli.protection import review_pages as protection_review_pages
    from linli.rules import pages as rules_pages
    from linli.services import api as services_api
    from linli.services import desk_pages as services_desk_pages
    from linli.services import feedback_api as services_feedback_api
    from linli.services import feedback_pages as services_feedback_pages
    from linli.services import pages as services_pages
    from linli.services import room_api as services_room_api
    from linli.services import room_pages as services_room_pages
    from linli.supervision import case_api as supervision_case_api
    from linli.supervision import case_pages as supervision_case_pages
    from linli.supervision import chart_api as supervision_chart_api
    from linli.supervision import chart_pages as supervision_chart_pages
    from linli.supervision import consumption_api as supervision_consumption_api
    from linli.supervision import consumption_pages as supervision_consumption_pages
    from linli.supervision import plan_api as supervision_plan_api
    from linli.supervision import plan_pages as supervision_plan_pages
    from linli.supervision import report_api as supervision_report_api
    from linli.supervision import report_pages as supervision_report_pages
    from linli.supervision import risk_api as supervision_risk_api
    from linli.supervision import risk_pages as supervision_risk_pages
    from linli.trace import api as trace_api
    from linli.trace import device_api as trace_device_api
    from linli.trace import device_pages as trace_device_pages
    from linli.trace import epcis as trace_epcis
    from linli.trace import epcis_query as trace_epcis_query
    from linli.trace import public_pages as trace_public_pages
    from linli.trace import safety_api as trace_safety_api
    from linli.trace import safety_pages as trace_safety_pages

    for router in (
        accounts_api,
        audit_api,
        catalog_api,
        community_api,
        credit_api,
        credit_list_api,
        credit_pay_later_api,
        files_api,
        groupbuy_api,
        groupbuy_fulfilment_api,
        live_api,
        live_channel_api,
        live_order_api,
        merchants_api,
        notifications_api,
        ops_api,
        payments_api,
        privacy_api,
        protection_review_api,
        protection_complaint_api,
        protection_return_api,
        protection_claim_api,
        services_api,
        services_feedback_api,
        services_room_api,
        supervision_plan_api,
        supervision_report_api,
        supervision_case_api,
        supervision_chart_api,
        supervision_consumption_api,
        supervision_risk_api,
        trace_api,
        trace_device_api,
        trace_epcis,
        trace_epcis_query,
        trace_safety_api,
    ):
        _add_routes(app, router.router)
    for router in (
        accounts_pages,
        audit_pages,
        catalog_pages,
        community_pages,
        credit_pages,
        credit_pay_later_pages,
        credit_list_pages,
        groupbuy_pages,
        live_pages,
        live_order_pages,
        live_leader_pages,
        groupbuy_leader_pages,
        groupbuy_merchant_pages,
        merchants_pages,
        notifications_pages,
        ops_pages,
        payments_pages,
        privacy_pages,
        protection_review_pages,
        protection_complaint_pages,
        protection_return_pages,
        protection_claim_pages,
        rules_pages,
        services_pages,
        services_desk_pages,
        services_feedback_pages,
        services_room_pages,
        supervision_plan_pages,
        supervision_report_pages,
        supervision_case_pages,
        supervision_chart_pages,
        supervision_consumption_pages,
        supervision_risk_pages,
        trace_device_pages,
        trace_public_pages,
        trace_safety_pages,
    ):
        _add_routes(app, router.router)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """The router's routes, as built once at import, become the app's own routes.

    `include_router` would wrap them in a per-app inclusion whose routes FastAPI builds again,
    lazily, for each new app: about a second on the first request of every app (each test makes
    one). Our routers carry their prefix, tags, responses and dependencies on their routes
    already, and set no lifespan or event handlers, so nothing of the inclusion is lost."""
    if router.on_startup or router.on_shutdown:
        raise RuntimeError("a router with event handlers must be included, not added")
    app.router.routes.extend(router.routes)
