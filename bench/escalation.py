"""The deadline scheduler's scan with 100,000 open tickets, on SQLite and PostgreSQL.

Run from the repository root::

    .venv/bin/python -m bench.escalation [--tickets N] [--postgres URL | --no-postgres]

The store is filled with ``--tickets`` open tickets (filed over the last ten days, a tenth of
them already answered), then timed:

- *first scan*: every rung due at once (a scheduler that was off for days); it claims and
  records tens of thousands of alerts;
- *steady scan*: the same scan again, when nothing new is due: what
  ``peygir serve`` pays every ``PEYGIR_SCHEDULER_INTERVAL`` seconds;
- *trickle scan*: after 1,000 more tickets came due, as in a busy hour.
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

from peygir.config.pack import load_pack
from peygir.conversation.notices import Notices
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.escalation import escalate
from peygir.ticket_store.models import ESCALATION_DONE, Citizen, EscalationAlert, Ticket
from peygir.ticket_store.workflow import Workflow

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/test"


async def fill(count: int, now: datetime, seed: int = 7) -> None:
    rng = random.Random(seed)
    citizen = await Citizen.create(channel="bench", user_id="bench")
    units = ["north_works", "south_works", "r1_services", "r2_services", "traffic", None]
    batch = []
    for i in range(count):
        created = now - timedelta(minutes=rng.randrange(10 * 24 * 60))
        answered = rng.random() < 0.1
        batch.append(Ticket(
            tracking_code=str(10_000_000 + i), citizen=citizen, channel="bench", chat_id="b",
            service_code="asphalt", description="bench", status="assigned" if i % 3 else "new",
            answer_due=created + timedelta(hours=120), created_at=created,
            unit_code=rng.choice(units), latitude=34.8 + rng.random() * 0.05,
            longitude=48.5 + rng.random() * 0.05,
            first_answer_at=created + timedelta(hours=1) if answered else None,
            escalation_level=ESCALATION_DONE if answered else 0))
        if len(batch) == 5000:
            await Ticket.bulk_create(batch)
            batch = []
    if batch:
        await Ticket.bulk_create(batch)


async def analyze() -> None:
    """Fresh planner statistics, as autovacuum (PostgreSQL) would have after a bulk load."""
    from tortoise import connections

    await connections.get("default").execute_script("ANALYZE")


async def run(database_url: str, label: str, count: int) -> dict[str, float]:
    await open_db(database_url)
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        await fill(count, now)
        filled = time.perf_counter() - started
        pack = load_pack()
        workflow = Workflow(pack, voice=Notices(pack))
        figures: dict[str, float] = {"fill_s": filled}
        await analyze()

        started = time.perf_counter()
        fired = await escalate(workflow, now)
        figures["first_scan_s"] = time.perf_counter() - started
        figures["first_scan_alerts"] = len(fired)

        await analyze()
        steady = []
        for _ in range(5):
            started = time.perf_counter()
            again = await escalate(workflow, now)
            steady.append(time.perf_counter() - started)
            assert not again, "a rung fired twice"
        figures["steady_scan_ms_median"] = statistics.median(steady) * 1000
        figures["steady_scan_ms_max"] = max(steady) * 1000

        citizen = await Citizen.get(channel="bench")
        await Ticket.bulk_create([Ticket(
            tracking_code=str(20_000_000 + i), citizen=citizen, channel="bench", chat_id="b",
            service_code="asphalt", description="bench", status="assigned",
            answer_due=now + timedelta(hours=96), created_at=now - timedelta(hours=24, minutes=1),
            unit_code="north_works") for i in range(1000)])
        await analyze()
        started = time.perf_counter()
        trickle = await escalate(workflow, now)
        figures["trickle_scan_ms"] = (time.perf_counter() - started) * 1000
        figures["trickle_alerts"] = len(trickle)
        figures["alerts_in_store"] = await EscalationAlert.all().count()
    finally:
        await close_db()
    print(f"{label:10} {count:>7} tickets | fill {figures['fill_s']:.1f} s | first scan "
          f"{figures['first_scan_s']:.2f} s ({int(figures['first_scan_alerts'])} alerts) | "
          f"steady scan median {figures['steady_scan_ms_median']:.1f} ms, max "
          f"{figures['steady_scan_ms_max']:.1f} ms | trickle of 1000: "
          f"{figures['trickle_scan_ms']:.0f} ms ({int(figures['trickle_alerts'])} alerts)")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--postgres", default=PG_ADMIN)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await run(f"sqlite://{Path(tmp) / 'bench.db'}", "SQLite", args.tickets)
    if args.no_postgres:
        return
    name = f"peygir_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.postgres)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await run(f"{args.postgres.rsplit('/', 1)[0]}/{name}", "PostgreSQL", args.tickets)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
