"""The `linli` command: set up, serve, run workers, seed the demo city, manage users."""

from __future__ import annotations

import asyncio
import getpass
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from linli.config import Settings

app = typer.Typer(
    help="Linli (邻里): neighbourhood commerce with traceability, credit and supervision.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
org_app = typer.Typer(help="Manage organisations.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
trace_app = typer.Typer(help="Traceability: batches and EPCIS events.", no_args_is_help=True)
files_app = typer.Typer(help="Uploaded files.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(trace_app, name="trace")
app.add_typer(files_app, name="files")
console = Console()
T = TypeVar("T")
SHOWN_BROKEN_LINKS = 20  # `trace verify` lists this many, then counts the rest


def _settings() -> Settings:
    """The LINLI_* settings; in production, refuse unsafe ones with what to change."""
    from linli.config import UnsafeProductionSettings

    settings = Settings()
    try:
        settings.check_production()
    except UnsafeProductionSettings as error:
        console.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    return settings


def _init_schema(settings: Settings) -> None:
    """Migrate to the latest schema and install the reference data (rules, categories)."""
    from linli.app import load_domain_handlers
    from linli.db import make_engine, make_sessionmaker
    from linli.migrate import upgrade_url
    from linli.reference import ensure_reference_data

    load_domain_handlers()  # reference data schedules recurring jobs: their runners must exist
    upgrade_url(settings.resolved_database_url)

    async def install() -> None:
        engine = make_engine(settings.resolved_database_url)
        try:
            await ensure_reference_data(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    asyncio.run(install())


def _run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction against the configured database; errors exit 1."""
    from linli.app import load_domain_handlers
    from linli.db import make_engine, make_sessionmaker
    from linli.errors import DomainError

    settings = _settings()
    load_domain_handlers()

    async def run() -> T:
        engine = make_engine(settings.resolved_database_url)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except DomainError as error:
        details = "; ".join(f"{k}: {v.render()}" for k, v in error.fields.items())
        console.print(f"[red]{error.message.render()}[/red] {details}")
        raise typer.Exit(1) from None


@app.command()
def init() -> None:
    """Create the database schema, or upgrade it to the latest version."""
    settings = _settings()
    _init_schema(settings)
    console.print(f"Schema is up to date on {settings.database_kind}.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes (default LINLI_WEB_WORKERS, 1). On PostgreSQL use one "
            "per core; on SQLite one is enough",
        ),
    ] = None,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="One log line per request (default LINLI_ACCESS_LOG; unset: on in "
            "development, off with LINLI_ENV=production)",
        ),
    ] = None,
) -> None:
    """Upgrade the schema, then serve the web app (with the event dispatcher inside)."""
    import uvicorn

    settings = _settings()
    _init_schema(settings)
    the_host, the_port = host or settings.host, port or settings.port
    processes = workers or settings.web_workers
    shown = f", {processes} processes" if processes > 1 else ""
    console.print(
        f"Linli on http://{the_host}:{the_port} ({settings.database_kind}{shown}); Ctrl+C stops."
    )
    options = uvicorn_options(settings, the_host, the_port, access_log=access_log)
    if processes == 1:
        from linli.app import create_app

        uvicorn.run(create_app(settings), **options)
    else:
        # Each worker process builds the app from the same LINLI_* settings.
        uvicorn.run("linli.app:create_app", factory=True, workers=processes, **options)


def uvicorn_options(
    settings: Settings, host: str, port: int, *, access_log: bool | None = None
) -> dict[str, Any]:
    """`uvicorn.run`'s options for `linli serve` (bench/floor_app.py serves the same way).

    `access_log` None: the settings decide (`Settings.serve_access_log`)."""
    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": settings.serve_access_log if access_log is None else access_log,
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
    }


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Drain what is due now, then exit")] = False,
) -> None:
    """Deliver outbox events and run due jobs. Start as many as you like (PostgreSQL)."""
    from linli.app import configure_jobs, load_domain_handlers
    from linli.db import engine_from_settings, make_sessionmaker
    from linli.outbox import Dispatcher

    settings = _settings()
    load_domain_handlers()
    configure_jobs(settings)

    async def run() -> None:
        engine = engine_from_settings(settings)
        dispatcher = Dispatcher(
            make_sessionmaker(engine),
            batch_size=settings.dispatcher_batch_size,
            lease_seconds=settings.dispatcher_lease_seconds,
            max_attempts=settings.dispatcher_max_attempts,
            poll_seconds=settings.dispatcher_poll_seconds,
            coalesce_seconds=settings.dispatcher_coalesce_seconds,
        )
        try:
            from linli.reference import ensure_reference_data

            await ensure_reference_data(make_sessionmaker(engine))
            if once:
                handled = await dispatcher.run_once()
                console.print(f"Handled {handled} events and jobs.")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print(f"Worker {dispatcher.worker_id} running; Ctrl+C stops.")
            await dispatcher.run_forever(stop)
        finally:
            await engine.dispose()

    asyncio.run(run())


@app.command("media-config")
def media_config(
    directory: Annotated[
        Path, typer.Option("--dir", help="The media server's own directory (created)")
    ] = Path("var/media"),
    rtmp_port: Annotated[int, typer.Option(help="RTMP ingest port (OBS)")] = 1935,
    http_port: Annotated[int, typer.Option(help="HTTP port serving /hls/")] = 8080,
    listen: Annotated[
        str, typer.Option(help="127.0.0.1, or 0.0.0.0 for publishers on other machines")
    ] = "127.0.0.1",
    linli_url: Annotated[
        str | None,
        typer.Option(help="Where nginx reaches Linli's callbacks; default LINLI_PUBLIC_BASE_URL"),
    ] = None,
    module: Annotated[Path, typer.Option(help="nginx's RTMP module")] = Path(
        "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    ),
) -> None:
    """Write nginx's configuration for the live rooms' video (RTMP in, HLS out, recordings
    as replays) into DIR/nginx.conf, and say how to run it and what to set for Linli."""
    import os

    from linli.live.media_server import MediaServer

    settings = _settings()
    absolute = directory.resolve()
    try:
        server = MediaServer(
            directory=absolute,
            linli_url=linli_url or settings.public_base_url,
            callback_secret=settings.media_callback_secret(),
            rtmp_port=rtmp_port,
            http_port=http_port,
            listen=listen,
            module=module,
            user=getpass.getuser() if os.geteuid() == 0 else None,
        )
    except ValueError as error:
        console.print(f"Cannot write it: {error}", style="red", markup=False)
        raise typer.Exit(code=2) from None
    path = server.write()
    lines = [f"Wrote {path}"]
    if not module.exists():
        lines.append(f"{module} is missing: apt-get install nginx-light libnginx-mod-rtmp ffmpeg")
    lines += [
        "Run the media server (in the foreground):",
        "  " + " ".join(server.command()),
        "and start Linli with:",
        f"  LINLI_MEDIA_RTMP_URL={server.rtmp_url}",
        f"  LINLI_MEDIA_HLS_URL={server.hls_url}",
        f"  LINLI_MEDIA_DIR={absolute}",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same city")] = 7,
    residents: Annotated[int, typer.Option(min=1, max=100_000, help="How many residents")] = 2000,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the demo when seeded")
    ] = True,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    history_days: Annotated[
        int, typer.Option(min=0, max=60, help="Days of past group buying to play through")
    ] = 14,
) -> None:
    """Create a fresh demo database, seed the demo city, print logins, then serve it."""
    from linli.demo.seed import DEMO_PASSWORD, seed_city

    settings = _settings()
    _reset_database(settings)
    _init_schema(settings)
    from linli.files.service import FileStore

    file_store = FileStore(settings.var_dir / "files")
    logins = _run_in_session(
        lambda session: seed_city(
            session, seed=seed, console=console, file_store=file_store, residents=residents
        )
    )
    from rich.table import Table

    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    table.add_column("role")
    table.add_column("name")
    table.add_column("phone")
    for role, name, phone in logins:
        table.add_row(role, name, phone)
    _play_history(settings, seed, history_days)
    console.print(table)
    if serve_after:
        serve(host=host, port=port)


def _play_history(settings: Settings, seed: int, days: int) -> None:
    """Two weeks of campaigns, orders, cut-offs, pickups and refunds (demo/history.py), then
    batches with their journeys, a cold-chain excursion and a recall (demo/traceability.py)."""
    from linli.app import load_domain_handlers
    from linli.db import make_engine, make_sessionmaker
    from linli.demo.credit import credit_figures
    from linli.demo.credit_story import seed_credit_story
    from linli.demo.history import seed_history
    from linli.demo.live import seed_live
    from linli.demo.pay_later import PayLaterFigures, seed_pay_later
    from linli.demo.protection_claims import seed_claims
    from linli.demo.protection_complaints import seed_complaints
    from linli.demo.protection_returns import seed_returns
    from linli.demo.protection_reviews import seed_reviews
    from linli.demo.services import seed_services
    from linli.demo.supervision import seed_supervision
    from linli.demo.supervision_draws import seed_inspections_and_reports
    from linli.demo.traceability import seed_traceability

    load_domain_handlers()

    async def run() -> None:
        engine = make_engine(settings.resolved_database_url)
        try:
            sessionmaker = make_sessionmaker(engine)
            if days:
                with console.status(f"Playing {days} days of group buying"):
                    figures = await seed_history(sessionmaker, settings, seed=seed, days=days)
                console.print(
                    f"Group buying history: {figures.campaigns} campaigns, "
                    f"{figures.orders} orders ({figures.failed_orders} refunded because their "
                    f"group failed), {figures.picked_up} pickups, {figures.uncollected} "
                    f"uncollected, {figures.merchant_refunds} refunds of collected goods."
                )
            paid_later = PayLaterFigures()
            if days:  # after the history, which left nothing undelivered
                from linli.demo.seed import RESIDENT_PHONE

                paid_later = await seed_pay_later(
                    sessionmaker, settings, seed=seed, resident_phone=RESIDENT_PHONE
                )
            with console.status("Recording batches, their journeys and a recall"):
                trace = await seed_traceability(sessionmaker, settings, seed=seed)
            reviewed = await seed_reviews(sessionmaker, seed=seed)
            complained = await seed_complaints(sessionmaker, seed=seed)
            kept = await seed_returns(sessionmaker, seed=seed)
            claimed = await seed_claims(sessionmaker, settings, seed=seed)
            supervised = await seed_supervision(sessionmaker, seed=seed)
            inspected = await seed_inspections_and_reports(sessionmaker, seed=seed)
            streamed = await seed_live(sessionmaker, settings, seed=seed)
            served = await seed_services(sessionmaker, settings, seed=seed)
            story = await seed_credit_story(sessionmaker, seed=seed)  # delivers the outbox
            credit = await credit_figures(sessionmaker)
        finally:
            await engine.dispose()
        held = f"batch {trace.held_batch} on hold" if trace.held_batch else "no batch on hold"
        console.print(
            f"Traceability: {trace.batches} batches with journeys, "
            f"{trace.excursions} excursion ({held}), {trace.recalls} recall in progress "
            f"({trace.buyers_notified} buyers notified)."
        )
        console.print(
            f"Reviews: {reviewed.reviews} of collected goods, {reviewed.replies} answered by "
            f"the merchant, {reviewed.hidden} hidden for a legal reason."
        )
        console.print(
            f"Complaints: {complained.complaints} in every status, "
            f"{complained.escalated} taken from the platform to the regulator."
        )
        console.print(
            f"Returns: {kept.returns} in every state ({kept.refunded} refunded, "
            f"{kept.overdue} refund overdue)."
        )
        console.print(
            f"Quality claims: {claimed.claims} in every state ({claimed.refunded} refunded "
            f"without return, {claimed.escalated} taken to the platform)."
        )
        console.print(
            f"Supervision: a random inspection of {inspected.inspected} merchants, "
            f"results published; {inspected.reports} report forwarded to the regulator."
        )
        console.print(
            f"Supervision: an emergency declared, a gouging alert fired {supervised.alerts} "
            f"times, {supervised.cases} cases (one penalty of "
            f"{supervised.penalty_fen / 100:,.2f} yuan published, two open)."
        )
        console.print(
            f"Supervision: {supervised.discrimination_alerts} price-discrimination alert "
            "(one campaign item charged to residents at different prices at once)."
        )
        console.print(
            f"Live selling: {streamed.rooms} rooms (a replay with {streamed.orders} paid "
            "orders, one tonight, one on air now, "
            + ("the group leader's tonight" if streamed.leader_room else "no leader's")
            + "); the replay's video: "
            + (
                "a generated test pattern."
                if streamed.replay_video
                else "none (ffmpeg is not on the PATH, or it failed)."
            )
        )
        console.print(
            f"Online services: a course in progress ({served.enrolments} pupils, "
            f"{served.classes_delivered} classes delivered and released from escrow, "
            f"{served.refunds} refund of the classes not delivered); "
            f"{served.consultations} follow-up consultations ({served.prescriptions_approved} "
            f"prescriptions approved, {served.dispensed} dispensed, "
            f"{served.prescriptions_waiting} left unreviewed, "
            f"{served.referrals} referred offline)."
        )
        grades = credit.grades_text()
        console.print(f"Credit: {credit.records} records; grades: {grades or 'none'}.")
        console.print(
            f"Credit lists: {story.listed} on the serious-dishonesty list until "
            f"{story.listed_until}; "
            f"{story.repair_requests} credit repair waiting for the regulator "
            f"({story.repairing})."
        )
        if paid_later.facilities:
            console.print(
                f"Pay later: {paid_later.facilities} residents, {paid_later.charges} orders on "
                f"credit; bills {paid_later.repaid_on_time} repaid, {paid_later.overdue} "
                f"overdue, {paid_later.open_bills} open."
            )

    asyncio.run(run())


def _reset_database(settings: Settings) -> None:
    """The demo always starts from an empty database."""
    url = settings.resolved_database_url
    if settings.database_kind == "sqlite":
        path = Path(url.split("///", 1)[-1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from linli.db import make_engine
    from linli.migrate import downgrade

    async def run() -> None:
        engine = make_engine(url)
        try:
            await downgrade(engine, "base")
        finally:
            await engine.dispose()

    asyncio.run(run())


def _ask_password(password: str | None) -> str:
    if password:
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        console.print("[red]The passwords differ.[/red]")
        raise typer.Exit(1)
    return first


@user_app.command("create")
def user_create(
    phone: Annotated[str, typer.Option(help="Mainland mobile number")],
    name: Annotated[str, typer.Option(help="Display name")],
    password: Annotated[str | None, typer.Option(help="Asked for when omitted")] = None,
) -> None:
    """Create a user account (as a resident; grant roles with `linli user grant`)."""
    from linli.accounts import service
    from linli.authz import Actor

    secret = _ask_password(password)

    async def work(session: AsyncSession) -> str:
        user = await service.signup(
            session, Actor.for_system(), phone=phone, password=secret, display_name=name
        )
        return user.phone

    console.print(f"Created {_run_in_session(work)}.")


@user_app.command("set-password")
def user_set_password(
    phone: Annotated[str, typer.Option(help="Mainland mobile number")],
    password: Annotated[str | None, typer.Option(help="Asked for when omitted")] = None,
) -> None:
    """Set a user's password and sign them out everywhere."""
    from linli.accounts import service
    from linli.authz import Actor

    secret = _ask_password(password)

    async def work(session: AsyncSession) -> str:
        user = await service.set_password(session, Actor.for_system(), phone=phone, password=secret)
        return user.phone

    console.print(f"Password set for {_run_in_session(work)}.")


@user_app.command("grant")
def user_grant(
    phone: Annotated[str, typer.Option(help="Mainland mobile number")],
    org: Annotated[int, typer.Option(help="Organisation id")],
    role: Annotated[str, typer.Option(help="owner, staff, inspector, supervisor, operator, admin")],
) -> None:
    """Give a user a role in an organisation."""
    from linli.accounts import service
    from linli.authz import Actor

    async def work(session: AsyncSession) -> None:
        await service.grant_role(
            session, Actor.for_system(), organisation_id=org, phone=phone, role=role
        )

    _run_in_session(work)
    console.print(f"Granted {role} in organisation {org}.")


@org_app.command("create")
def org_create(
    kind: Annotated[str, typer.Option(help="merchant, supplier, regulator or platform")],
    name: Annotated[str, typer.Option(help="Organisation name")],
    foreign_trade: Annotated[
        bool, typer.Option(help="A foreign-trade enterprise (suppliers)")
    ] = False,
    province: Annotated[str | None, typer.Option(help="6-digit province code")] = None,
    city: Annotated[str | None, typer.Option(help="6-digit city code")] = None,
    district: Annotated[str | None, typer.Option(help="6-digit district code")] = None,
) -> None:
    """Create an organisation and print its id."""
    from linli.accounts import service
    from linli.authz import Actor

    async def work(session: AsyncSession) -> int:
        organisation = await service.create_organisation(
            session,
            Actor.for_system(),
            kind=kind,
            name=name,
            foreign_trade=foreign_trade,
            province_code=province,
            city_code=city,
            district_code=district,
        )
        return organisation.id

    console.print(f"Created organisation {_run_in_session(work)}.")


@token_app.command("create")
def token_create(
    phone: Annotated[str, typer.Option(help="The user the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'ERP trace push'")],
    scope: Annotated[list[str], typer.Option(help="Repeat for several scopes")],
    org: Annotated[int | None, typer.Option(help="Organisation the token acts for")] = None,
    days: Annotated[int | None, typer.Option(help="Expire after this many days")] = None,
) -> None:
    """Create an API token for a user acting for an organisation, and print it once."""
    from sqlalchemy import select

    from linli.accounts import service
    from linli.accounts.models import User
    from linli.authz import Actor

    async def work(session: AsyncSession) -> str:
        normalized = service.require_mobile(phone)
        user = await session.scalar(select(User).where(User.phone == normalized))
        if user is None:
            console.print("[red]No account uses this phone number.[/red]")
            raise typer.Exit(1)
        token, _row = await service.create_token(
            session,
            Actor.for_system(),
            name=name,
            scopes=scope,
            organisation_id=org,
            expires_in_days=days,
            for_user=user,
        )
        return token

    console.print(_run_in_session(work))


@files_app.command("sweep")
def files_sweep(
    hours: Annotated[
        int, typer.Option(min=1, help="Only files untouched for at least this many hours")
    ] = 1,
) -> None:
    """Delete stored bytes no file record refers to (left by uploads that failed)."""
    from datetime import timedelta

    from linli.files.service import FileStore, sweep_orphans

    file_store = FileStore(_settings().var_dir / "files")
    removed = _run_in_session(
        lambda session: sweep_orphans(session, file_store, older_than=timedelta(hours=hours))
    )
    console.print(f"Removed {len(removed)} orphaned files.")


@trace_app.command("verify")
def trace_verify(
    batch: Annotated[
        str | None, typer.Option(help="Only this batch (its public code); default: every chain")
    ] = None,
    independent: Annotated[
        bool,
        typer.Option(
            help="Recompute every hash in this process (Python's hashlib), not in the database"
        ),
    ] = False,
    deep: Annotated[
        bool,
        typer.Option(
            help="As --independent, and re-derive each event's indexed columns from its document"
        ),
    ] = False,
) -> None:
    """Check the hash chains of trace events; report the broken links and exit 1."""
    from sqlalchemy import select

    from linli.trace import verification
    from linli.trace.models import TraceBatch

    async def work(session: AsyncSession) -> verification.Verification | None:
        batch_id = None
        if batch is not None:
            batch_id = await session.scalar(select(TraceBatch.id).where(TraceBatch.code == batch))
            if batch_id is None:
                return None
        return await verification.verify_chains(
            session, batch_id, independent=independent, deep=deep
        )

    result = _run_in_session(work)
    if result is None:
        console.print(f"[red]No batch has the code {batch}.[/red]")
        raise typer.Exit(2)
    if result.broken_links:
        for broken in result.broken_links[:SHOWN_BROKEN_LINKS]:
            console.print(
                f"[red]BROKEN[/red] {broken.chain} link {broken.seq}"
                f" (event {broken.event_id or '-'}): {broken.problem}"
            )
        hidden = len(result.broken_links) - SHOWN_BROKEN_LINKS
        if hidden > 0:
            console.print(f"... and {hidden} more broken links.")
        raise typer.Exit(1)
    console.print(f"OK: {result.chains} chains, {result.links} links intact.")
