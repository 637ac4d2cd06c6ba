"""Staff panel render times with a year of tickets (100,000 by default), on SQLite and
PostgreSQL: the manager's dashboard (targets p99 ≤ 300 ms) and the queues (p99 ≤ 100 ms).

    python -m bench.panel [--tickets 100000] [--runs 60] [--postgres URL|--no-postgres]

Each request goes through the whole app (routing, session and CSRF checks, SQL, Jinja2,
the SVG charts) over httpx's in-process ASGI transport, so the figure is the server's time to
answer, without a network. The database is seeded with bulk inserts, then ANALYZEd, then the
scheduler's roll-up job builds the dashboard's daily roll-ups (timed: a full year, then a
normal pass after a minute's worth of changes to old tickets).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from tortoise import connections

from peygir.ticket_store import rollups
from peygir.ticket_store import staff as staff_store
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import Citizen, PanelRollupChange, Ticket

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
OPEN = ("new", "assigned", "in_progress", "reopened")


async def seed(count: int, pack, now: datetime) -> None:
    rng = random.Random(137)
    services = [s.service_code for s in pack.services if not s.is_referral]
    units = [u.code for u in pack.city.units] or [None]
    districts = [d.code for d in pack.city.districts] or [None]
    citizens = await Citizen.bulk_create(
        [Citizen(channel="telegram", user_id=str(i)) for i in range(2000)], batch_size=1000)
    if not citizens or citizens[0].id is None:
        citizens = await Citizen.all()
    batch: list[Ticket] = []
    for i in range(count):
        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
        urgent = rng.random() < 0.05
        answer_due = created + timedelta(hours=24 if urgent else 120)
        # Most of the year's work is done; the last fortnight is mostly open, and a backlog
        # of about 3 % of older tickets is still open (late).
        roll = rng.random()
        status = ("closed" if roll < 0.80 else "resolved" if roll < 0.90 else
                  "rejected" if roll < 0.97 else rng.choice(OPEN))
        if created > now - timedelta(days=14) and rng.random() < 0.6:
            status = rng.choice(OPEN)
        first = created + timedelta(hours=rng.uniform(0.5, 160)) if status != "new" else None
        resolved = first + timedelta(hours=rng.uniform(1, 72)) \
            if first and status in ("resolved", "closed") else None
        closed = resolved + timedelta(hours=rng.uniform(1, 72)) \
            if resolved and status == "closed" else None
        batch.append(Ticket(
            tracking_code=str(10_000_000 + i), citizen=rng.choice(citizens),
            channel="telegram", chat_id=str(i % 2000), service_code=rng.choice(services),
            description="گزارش آزمایشی", status=status, urgent=urgent,
            onsite_due=created + timedelta(hours=2) if urgent else None,
            answer_due=answer_due, created_at=created, updated_at=created,
            unit_code=rng.choice(units) if status != "new" else None,
            district=rng.choice(districts), priority=2 if urgent else rng.choice((0, 0, 0, 1)),
            first_answer_at=first, resolved_at=resolved, closed_at=closed,
            rating=rng.randint(1, 5) if closed and rng.random() < 0.6 else None,
            latitude=34.8 + rng.uniform(-0.05, 0.05), longitude=48.5 + rng.uniform(-0.05, 0.05),
        ))
        if len(batch) == 5000:
            await Ticket.bulk_create(batch)
            batch = []
    if batch:
        await Ticket.bulk_create(batch)
    # created_at is auto_now_add: bulk_create keeps the given value, but make sure.
    await connections.get("default").execute_script("ANALYZE")


def _stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return (f"p50 {statistics.median(ordered):7.1f} ms  p95 {p(0.95):7.1f} ms  "
            f"p99 {p(0.99):7.1f} ms  max {ordered[-1]:7.1f} ms")


async def measure(database_url: str, tickets: int, runs: int) -> None:
    from tests.panel_support import PASSWORD, build_app, client, sign_in

    await open_db(database_url)
    media = Path(tempfile.mkdtemp())
    app = build_app(database_url, media)
    pack = app.state.core.pack
    now = datetime.now(UTC)
    started = time.perf_counter()
    await seed(tickets, pack, now)
    print(f"  seeded {await Ticket.all().count():,} tickets in "
          f"{time.perf_counter() - started:.1f} s")
    full = await rollups.refresh(now)
    await connections.get("default").execute_script("ANALYZE")
    print(f"  roll-up of the whole year: {full.days} days, {full.rows:,} rows in "
          f"{full.seconds:.1f} s")
    idle = await rollups.refresh(now)
    # A busy minute: 60 ticket changes spread over 20 past days.
    rng = random.Random(1)
    today = rollups.day_of(now)
    for _ in range(60):
        await PanelRollupChange.create(day=today - rng.randint(1, 20))
    busy = await rollups.refresh(now)
    print(f"  scheduler pass: nothing changed {idle.seconds * 1000:.0f} ms; "
          f"60 changes on {busy.days} days {busy.seconds * 1000:.0f} ms")
    unit = pack.city.units[0].code
    await staff_store.add_user("bench-boss", PASSWORD, "manager")
    await staff_store.add_user("bench-op", PASSWORD, "operator")
    await staff_store.add_user("bench-unit", PASSWORD, "unit", unit_code=unit)
    pages = {
        "dashboard (7 days)": ("bench-boss", "/panel/dashboard?days=7"),
        "dashboard (30 days)": ("bench-boss", "/panel/dashboard"),
        "dashboard (90 days)": ("bench-boss", "/panel/dashboard?days=90"),
        "dashboard (1 year)": ("bench-boss", "/panel/dashboard?days=365"),
        "dashboard, unit (7 days)": ("bench-unit", "/panel/dashboard?days=7"),
        "dashboard, unit (30 days)": ("bench-unit", "/panel/dashboard"),
        "dashboard, unit (90 days)": ("bench-unit", "/panel/dashboard?days=90"),
        "dashboard, unit (1 year)": ("bench-unit", "/panel/dashboard?days=365"),
        "queue, operator, open": ("bench-op", "/panel/queue"),
        "queue, operator, page 40": ("bench-op", "/panel/queue?page=40"),
        "queue, filtered (service+district)": (
            "bench-op", f"/panel/queue?service={pack.services[0].service_code}"
            f"&district={pack.city.districts[0].code if pack.city.districts else ''}"),
        "queue, late": ("bench-op", "/panel/queue?state=late"),
        "queue, unit": ("bench-unit", "/panel/queue"),
        "export page (year)": ("bench-boss", "/panel/export"),
    }
    clients = {}
    for username in ("bench-boss", "bench-op", "bench-unit"):
        c = client(app)
        assert (await sign_in(c, username)).status_code == 303
        clients[username] = c
    for name, (username, path) in pages.items():
        c = clients[username]
        response = await c.get(path)
        assert response.status_code == 200, (path, response.status_code)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = await c.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        print(f"  {name:36s} {_stats(samples)}")
    for c in clients.values():
        await c.aclose()
    await close_db()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--postgres", default=PG_ADMIN, help="an admin URL to create a db in")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite, {args.tickets:,} tickets")
        await measure(f"sqlite://{tmp}/bench.db", args.tickets, args.runs)
    if args.no_postgres:
        return
    name = f"peygir_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        print(f"PostgreSQL, {args.tickets:,} tickets")
        await measure(f"{args.postgres.rsplit('/', 1)[0]}/{name}", args.tickets, args.runs)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
