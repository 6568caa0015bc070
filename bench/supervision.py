"""Supervision benchmark: the CPU a `PriceChanged` or `OrderPaid` event costs in rule
evaluation, at demo scale, against the bare transaction around it, in the same run.

Seeds the demo city (`linli demo --no-serve`, defaults: 2,000 residents, 14 days of history)
into a fresh PostgreSQL database, then, in this process, delivers to the supervision handlers
(`supervision.rule_handlers.price_changed` and `.order_paid`) envelopes built from the
demo's own price rows and paid orders, each in its own transaction that is rolled back, so
every event meets the same data. CPU is this process's `time.process_time()` (the Linli
server's share: Python, SQLAlchemy, asyncpg); PostgreSQL's own CPU, its backend's from /proc
(schedstat), is reported beside it and in a column of both together. The
baseline is the same transaction with one `SELECT 1` round trip instead of the handler. Two
passes: with no emergency in force (the common case) and with an emergency declared over the
demo district's essentials (every price event then runs the gouging rule).

    .venv/bin/python bench/supervision.py [--events 300] [--residents 2000] [--json] [--keep-db]

Exit status: 0 when rule evaluation stays under the target (1 ms of CPU per event) in every
pass, 1 when it does not, 2 when the run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flash_sale import DEFAULT_SERVER, create_database, drop_database, linli_command

TARGET_MS = 1.0


def log(message: str) -> None:
    print(f"[supervision] {message}", file=sys.stderr, flush=True)


def backend_cpu(pid: int | None) -> float:
    """CPU seconds a PostgreSQL backend on this machine has used so far (/proc schedstat, in
    nanoseconds: fine enough for one event); 0 without a backend (SQLite)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def mean(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs)


async def measure(url: str, events: int) -> dict[str, Any]:
    from linli import clock
    from linli.accounts.models import Organisation
    from linli.app import load_domain_handlers
    from linli.catalog.models import PriceChange, Product, Sku
    from linli.categories.models import Category
    from linli.db import make_engine, make_sessionmaker
    from linli.events import OrderPaid, PriceChanged
    from linli.groupbuy.models import Order
    from linli.outbox import Envelope
    from linli.supervision import rule_gouging, rule_handlers
    from linli.supervision.emergency_models import EmergencyDeclaration
    from linli.supervision.rule_service import forget_cached_rules

    load_domain_handlers()
    engine = make_engine(url)
    sessionmaker = make_sessionmaker(engine)
    async with sessionmaker() as s:
        price_rows = (
            await s.execute(
                select(PriceChange, Product.id, Product.organisation_id)
                .join(Sku, Sku.id == PriceChange.sku_id)
                .join(Product, Product.id == Sku.product_id)
                .order_by(PriceChange.id.desc())
                .limit(events)
            )
        ).all()
        orders = (
            await s.scalars(
                select(Order)
                .where(Order.paid_at.is_not(None))
                .order_by(Order.id.desc())
                .limit(events)
            )
        ).all()
        regulator = await s.scalar(select(Organisation).where(Organisation.kind == "regulator"))
        scale = {
            "price_rows": int(await s.scalar(text("SELECT count(*) FROM price_changes")) or 0),
            "paid_orders": int(
                await s.scalar(
                    text("SELECT count(*) FROM groupbuy_orders WHERE paid_at IS NOT NULL")
                )
                or 0
            ),
            "skus": int(await s.scalar(text("SELECT count(*) FROM skus")) or 0),
            "merchants": int(
                await s.scalar(text("SELECT count(*) FROM organisations WHERE kind = 'merchant'"))
                or 0
            ),
        }
    if not price_rows or not orders or regulator is None:
        raise RuntimeError("the demo city has no price rows, paid orders or regulator")
    price_events = [
        PriceChanged(
            sku_id=row.sku_id,
            product_id=product_id,
            organisation_id=organisation_id,
            old_price_fen=row.old_price_fen,
            new_price_fen=row.new_price_fen * 2,  # far over any threshold: the full path
            source="edit",
            user_id=None,
        )
        for row, product_id, organisation_id in price_rows
    ]
    # An OrderPaid is published in the payment's transaction: its envelope carries paid_at.
    paid_at = {o.id: o.paid_at or clock.now() for o in orders}
    order_events = [
        OrderPaid(
            order_id=o.id,
            campaign_id=o.campaign_id,
            user_id=o.user_id,
            merchant_organisation_id=o.organisation_id,
            pickup_point_id=o.pickup_point_id,
            total_fen=o.total_fen,
            intent_id=1,
        )
        for o in orders
    ]

    # In the pass with alerts open, each event comes with its price row (written before the
    # clock starts, in the same transaction): a new price of a SKU already alerted, so the
    # rule takes the merge path, as it does for a merchant raising prices again.
    new_price_rows = False

    async def price_row(session: Any, payload: Any) -> None:
        if new_price_rows and isinstance(payload, PriceChanged):
            await session.execute(
                insert(PriceChange).values(
                    sku_id=payload.sku_id,
                    old_price_fen=payload.old_price_fen,
                    new_price_fen=payload.new_price_fen,
                    changed_at=clock.now(),
                    organisation_id=payload.organisation_id,
                    source="edit",
                )
            )

    postgres = engine.dialect.name == "postgresql"

    async def timed(
        work: Callable[[Any], Awaitable[None]], payloads: list[Any]
    ) -> tuple[float, float]:
        """CPU seconds per event of this process and of its PostgreSQL backend, each event in
        its own rolled-back transaction."""
        total = backend = 0.0
        for payload in payloads:
            async with sessionmaker() as session:
                # The transaction is open before the clock starts, for every run alike (the
                # dispatcher's transaction exists before any handler runs).
                await session.connection()
                await price_row(session, payload)
                pid = await session.scalar(text("SELECT pg_backend_pid()")) if postgres else None
                backend_start = backend_cpu(pid)
                start = time.process_time()
                await work(session) if payload is None else await work((session, payload))
                await session.flush()
                total += time.process_time() - start
                backend += backend_cpu(pid) - backend_start
                await session.rollback()
        return total / len(payloads), backend / len(payloads)

    async def bare(arg: Any) -> None:
        session = arg[0] if isinstance(arg, tuple) else arg
        await session.execute(text("SELECT 1"))

    def envelope(payload: Any) -> Envelope[Any]:
        return Envelope(str(uuid.uuid4()), payload.event_name, payload, clock.now())

    # The dispatcher runs every handler inside a transaction that records the delivery: the
    # handlers are measured inside the baseline's transaction (its SELECT 1 first), so that
    # "rules" is what they add to it.
    async def on_price(arg: Any) -> None:
        session, payload = arg
        await session.execute(text("SELECT 1"))
        await rule_handlers.price_changed(session, envelope(payload))

    async def on_order(arg: Any) -> None:
        session, payload = arg
        await session.execute(text("SELECT 1"))
        await rule_handlers.order_paid(
            session,
            Envelope(str(uuid.uuid4()), payload.event_name, payload, paid_at[payload.order_id]),
        )

    async with sessionmaker() as s, s.begin():
        # The demo's own declaration goes: the first pass has none in force.
        await s.execute(text("DELETE FROM supervision_emergencies"))
    forget_cached_rules()
    passes: dict[str, dict[str, float]] = {}
    alerts_before: int | None = None
    for name in ("no_emergency", "emergency", "alerts_open"):
        if name == "alerts_open":
            # The emergency stays; its alerts are raised once and kept (committed; removed
            # after the pass, so that a database given with --url can be measured again).
            async with sessionmaker() as s:
                alerts_before = int(
                    await s.scalar(text("SELECT coalesce(max(id), 0) FROM supervision_alerts")) or 0
                )
            for payload in price_events:
                async with sessionmaker() as s, s.begin():
                    await rule_gouging.price_gouging(s, payload.sku_id, payload.new_price_fen)
            new_price_rows = True
        if name == "emergency":
            # The worst case: every price event in scope. One declaration per province where
            # the events' merchants are, over every top-level category.
            async with sessionmaker() as s, s.begin():
                now = clock.now()
                provinces = sorted(
                    {
                        p
                        for p in (
                            await s.scalars(
                                select(Organisation.province_code).where(
                                    Organisation.kind == "merchant"
                                )
                            )
                        ).all()
                        if p
                    }
                )
                roots = sorted(
                    (
                        await s.scalars(select(Category.code).where(Category.parent_id.is_(None)))
                    ).all()
                )
                for province in provinces:
                    s.add(
                        EmergencyDeclaration(
                            regulator_organisation_id=regulator.id,
                            title="bench",
                            description="",
                            region_code=province,
                            categories=roots,
                            starts_at=now - timedelta(hours=1),
                            ends_at=now + timedelta(days=7),
                            reference_at=now - timedelta(days=30),
                            created_at=now,
                        )
                    )
            forget_cached_rules()  # as emergency_service.declare does
        # Warm up (statement caches, rule versions): the figures are the steady state.
        for work, payloads in (
            (bare, price_events),
            (on_price, price_events),
            (on_order, order_events),
        ):
            await timed(work, payloads[:20])
        # Baseline and handler alternate event by event (in blocks of ten), so that load
        # from other work on the machine weighs on both alike.
        bases: list[tuple[float, float]] = []
        prices_: list[tuple[float, float]] = []
        orders_: list[tuple[float, float]] = []
        for i in range(0, max(len(price_events), len(order_events)), 10):
            bases.append(await timed(bare, price_events[i : i + 10] or price_events[:10]))
            if price_events[i : i + 10]:
                prices_.append(await timed(on_price, price_events[i : i + 10]))
            if order_events[i : i + 10]:
                orders_.append(await timed(on_order, order_events[i : i + 10]))
        (baseline, baseline_pg), (price, price_pg), (order, order_pg) = (
            mean(bases),
            mean(prices_),
            mean(orders_),
        )
        fired = 0  # how many price events raise or merge an alert (not timed)
        for payload in price_events:
            async with sessionmaker() as session:
                await price_row(session, payload)
                fired += await rule_gouging.price_gouging(
                    session, payload.sku_id, payload.new_price_fen
                )
                await session.rollback()
        passes[name] = {
            "price_events_firing": fired,
            "baseline_ms": baseline * 1000,
            "price_changed_ms": price * 1000,
            "price_rules_ms": (price - baseline) * 1000,
            "order_paid_ms": order * 1000,
            "order_rules_ms": (order - baseline) * 1000,
            # PostgreSQL's own CPU (its backend's, from /proc; 0 on SQLite, counted above)
            "baseline_pg_ms": baseline_pg * 1000,
            "price_changed_pg_ms": price_pg * 1000,
            "order_paid_pg_ms": order_pg * 1000,
            "price_rules_total_ms": (price + price_pg - baseline - baseline_pg) * 1000,
            "order_rules_total_ms": (order + order_pg - baseline - baseline_pg) * 1000,
        }
    async with sessionmaker() as s, s.begin():
        if alerts_before is not None:
            await s.execute(
                text("DELETE FROM supervision_alerts WHERE id > :before"),
                {"before": alerts_before},
            )
        await s.execute(text("DELETE FROM supervision_emergencies WHERE title = 'bench'"))
    await engine.dispose()
    return {
        "scale": scale,
        "events": len(price_events),
        "orders": len(order_events),
        "passes": passes,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--server", default=DEFAULT_SERVER)
    parser.add_argument(
        "--database",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="seed a fresh PostgreSQL database (default) or a SQLite file",
    )
    parser.add_argument(
        "--url",
        help="measure a database the demo was already seeded into (no seeding, kept as is "
        "apart from the demo's emergency declaration, which is removed)",
    )
    args = parser.parse_args()
    server = make_url(args.server)
    name = f"linli_bench_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="linli-bench-supervision-"))
    created = False
    if args.url:
        url_text = args.url
    elif args.database == "sqlite":
        url_text = f"sqlite+aiosqlite:///{work / 'linli.db'}"
    else:
        url_text = create_database(server, name).render_as_string(hide_password=False)
        created = True
    env = {**os.environ, "LINLI_DATABASE_URL": url_text, "LINLI_VAR_DIR": str(work)}
    try:
        if not args.url:
            log(f"seeding the demo city into {args.database} (a few minutes)")
            seeded = subprocess.run(
                [*linli_command(), "demo", "--no-serve", "--residents", str(args.residents)],
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            if seeded.returncode != 0:
                log(seeded.stderr[-2000:])
                return 2
        os.environ.update(env)
        log(f"measuring {args.events} events of each kind, twice")
        result = asyncio.run(measure(url_text, args.events))
        result["database"] = make_url(url_text).get_backend_name()
    except Exception as exc:
        log(f"failed: {exc!r}")
        return 2
    finally:
        if created and not args.keep_db:
            drop_database(server, name)
        if not args.keep_db:
            shutil.rmtree(work, ignore_errors=True)
    # The target is the server's CPU (Linli's processes; PostgreSQL's is reported beside it,
    # as issue 14's benchmark reports client, server and database apart).
    worst = max(max(p["price_rules_ms"], p["order_rules_ms"]) for p in result["passes"].values())
    result["target_ms"] = TARGET_MS
    result["ok"] = worst < TARGET_MS
    if args.json:
        print(json.dumps(result))
    else:
        s = result["scale"]
        print(
            f"{result['database']}; demo scale: {s['merchants']} merchants, {s['skus']} SKUs, "
            f"{s['price_rows']} price rows, {s['paid_orders']} paid orders; "
            f"{result['events']} price events, {result['orders']} order events per pass"
        )
        head = f"{'pass':<14}{'baseline':>10}{'PriceChanged':>14}{'rules':>9}{'OrderPaid':>11}"
        print(f"{head}{'rules':>9}{'fired':>7}  (ms CPU/event, Linli's process)")
        for name_, p in result["passes"].items():
            print(
                f"{name_:<14}{p['baseline_ms']:>10.3f}{p['price_changed_ms']:>14.3f}"
                f"{p['price_rules_ms']:>9.3f}{p['order_paid_ms']:>11.3f}{p['order_rules_ms']:>9.3f}"
                f"{int(p['price_events_firing']):>7}"
            )
        if result["database"] == "postgresql":
            print(f"{head}{'rules':>9}  (ms CPU/event, the PostgreSQL backend)")
            for name_, p in result["passes"].items():
                print(
                    f"{name_:<14}{p['baseline_pg_ms']:>10.3f}{p['price_changed_pg_ms']:>14.3f}"
                    f"{p['price_changed_pg_ms'] - p['baseline_pg_ms']:>9.3f}"
                    f"{p['order_paid_pg_ms']:>11.3f}"
                    f"{p['order_paid_pg_ms'] - p['baseline_pg_ms']:>9.3f}"
                )
        print(
            f"{'pass':<14}{'PriceChanged rules':>20}{'OrderPaid rules':>17}  (ms CPU/event, both)"
        )
        for name_, p in result["passes"].items():
            print(
                f"{name_:<14}{p['price_rules_total_ms']:>20.3f}{p['order_rules_total_ms']:>17.3f}"
            )
        verdict = "met" if result["ok"] else "NOT met"
        print(f"target: rule evaluation < {TARGET_MS} ms of Linli's CPU per event: {verdict}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
