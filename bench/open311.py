"""Open311 over HTTP with 100,000 tickets in the store: POST requests.json and
GET requests.json?status=open per second and their latency, on SQLite and PostgreSQL.

Run from the repository root::

    .venv/bin/python -m bench.open311 [--databases sqlite,postgres] [--json FILE]

`peygir serve` runs as in production, in a process of its own, on a database that this
process has migrated and filled beforehand (bulk inserts, timed apart). This process plays
the Open311 clients over loopback with httpx, ``--concurrency`` requests in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bots import database, machine_info, percentile

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-open311-key"
PREFIX = "/open311/v2"
# The default pack's city (districts.geojson): about 8 km by 8 km.
LAT, LON = (34.76, 34.84), (48.47, 48.55)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres",
                        help="which to run, comma-separated (default: both)")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "PEYGIR_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a server where a scratch database may be created and dropped")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--gets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=137)
    parser.add_argument("--json", type=Path, help="write every figure here")
    return parser.parse_args(argv)


async def fill(database_url: str, count: int, rng: random.Random) -> dict[str, Any]:
    """Migrate, then bulk-insert ``count`` tickets (half older than the 90-day window), each
    with its filing event and, for most, a routing note."""
    from peygir.config.pack import load_pack
    from peygir.ticket_store.db import close_db, open_db
    from peygir.ticket_store.models import Citizen, Ticket, TicketEvent, TicketStatus

    pack = load_pack()
    codes = [s.service_code for s in pack.services if not s.is_referral]
    statuses = list(TicketStatus)
    weights = [30, 20, 15, 5, 10, 15, 3, 2]  # new … reopened: 60 % open, 40 % closed
    await open_db(database_url)
    try:
        began = time.perf_counter()
        citizen = await Citizen.create(channel="open311", user_id="bench")
        now = datetime.now(UTC)
        batch = 5000
        for start in range(0, count, batch):
            tickets = []
            for i in range(start, min(count, start + batch)):
                created = now - timedelta(seconds=rng.uniform(60, 180 * 86400))
                tickets.append(Ticket(
                    tracking_code=str(10_000_000 + i), citizen=citizen, channel="open311",
                    chat_id="bench", service_code=rng.choice(codes), description="گزارش آزمایشی",
                    latitude=rng.uniform(*LAT), longitude=rng.uniform(*LON),
                    status=rng.choices(statuses, weights)[0], answer_due=created +
                    timedelta(hours=120), created_at=created, updated_at=created))
            await Ticket.bulk_create(tickets, batch_size=batch)
        ids = await Ticket.filter(chat_id="bench").values_list("id", "created_at")
        events = []
        for ticket_id, created in ids:
            events.append(TicketEvent(ticket_id=ticket_id, actor="citizen", to_status="new",
                                      note="ثبت از Open311", at=created))
            if rng.random() < 0.7:
                events.append(TicketEvent(ticket_id=ticket_id, actor="system",
                                          note="ارجاع به واحد", at=created))
        await TicketEvent.bulk_create(events, batch_size=batch)
        seconds = time.perf_counter() - began
        span = await Ticket.filter(chat_id="bench").order_by("created_at").values_list(
            "created_at", flat=True)
        return {"tickets": count, "events": len(events), "seconds": seconds,
                "oldest_days": (now - span[0]).days, "plan": await plan()}
    finally:
        await close_db()


async def plan() -> list[str]:
    """How the database answers GET requests?status=open (the default 90-day window)."""
    from tortoise import connections

    from peygir.ticket_store.open311 import BY_OPEN311_STATUS, RequestQuery, requests_query

    now = datetime.now(UTC)
    query = RequestQuery(statuses=BY_OPEN311_STATUS["open"], start=now - timedelta(days=90),
                         end=now)
    sql = requests_query(query).sql(params_inline=True)
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        rows = await connection.execute_query_dict("EXPLAIN ANALYZE " + sql)
        return [row["QUERY PLAN"] for row in rows]
    rows = await connection.execute_query_dict("EXPLAIN QUERY PLAN " + sql)
    return [row["detail"] for row in rows]


class Server:
    def __init__(self, database_url: str, folder: Path) -> None:
        from tests.support import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PEYGIR_DATABASE_URL": database_url,
               "PEYGIR_WEB_HOST": "127.0.0.1", "PEYGIR_WEB_PORT": str(self.port),
               "PEYGIR_MEDIA_DIR": str(folder / "media"), "PEYGIR_OPEN311_KEYS": KEY}
        self.log = (folder / "serve.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve",
                                      "--log-level", "warning"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    async def ready(self) -> None:
        import httpx

        async with httpx.AsyncClient(trust_env=False) as client:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise RuntimeError("peygir serve exited; see its log")
                try:
                    if (await client.get(self.base + "/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("peygir serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


async def hammer(base: str, count: int, concurrency: int, make: Any) -> dict[str, Any]:
    """``count`` requests, ``concurrency`` at a time; per second and latency percentiles."""
    import httpx

    latencies: list[float] = []
    failures: dict[int, int] = {}
    size = 0
    queue = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal size
        for i in queue:
            method, url, kwargs = make(i)
            began = time.perf_counter()
            response = await client.request(method, url, **kwargs)
            latencies.append(time.perf_counter() - began)
            size += len(response.content)
            if response.status_code != 200:
                failures[response.status_code] = failures.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base + PREFIX, trust_env=False, limits=limits,
                                 timeout=60) as client:
        await client.get("/services.json")  # warm the connection and the app
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"requests": count, "per_second": count / wall, "wall_s": wall,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "max_ms": max(latencies) * 1000, "bytes_per_response": size / max(1, count),
            "failures": failures}


async def one_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from peygir.config.pack import load_pack

    rng = random.Random(args.seed)
    codes = [s.service_code for s in load_pack().services if not s.is_referral]
    with tempfile.TemporaryDirectory(prefix="peygir-bench-open311-") as tmp:
        folder = Path(tmp)
        url = args.postgres_url if kind == "postgres" else None
        async with database(url, folder) as database_url:
            filled = await fill(database_url, args.tickets, rng)
            server = Server(database_url, folder)
            try:
                await server.ready()

                def post(i: int) -> tuple[str, str, dict[str, Any]]:
                    return "POST", "/requests.json", {"data": {
                        "api_key": KEY, "service_code": rng.choice(codes),
                        "lat": f"{rng.uniform(*LAT):.6f}", "long": f"{rng.uniform(*LON):.6f}",
                        "description": f"گزارش شماره {i}", "phone": "09120000000"}}

                def get(i: int) -> tuple[str, str, dict[str, Any]]:
                    return "GET", "/requests.json", {"params": {"status": "open"}}

                posts = await hammer(server.base, args.posts, args.concurrency, post)
                gets = await hammer(server.base, args.gets, args.concurrency, get)
            finally:
                server.stop()
    return {"database": kind, "fill": filled, "post": posts, "get_open": gets}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| database | operation | requests | req/s | p50 ms | p99 ms | max ms | "
             "bytes/resp | non-200 |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for result in results:
        for name, key in (("POST requests.json", "post"),
                          ("GET requests.json?status=open", "get_open")):
            r = result[key]
            lines.append(
                f"| {result['database']} | {name} | {r['requests']} | {r['per_second']:.1f} | "
                f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
                f"{r['bytes_per_response']:.0f} | {r['failures'] or '-'} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
        print(f"{kind}: filling {args.tickets:,} tickets …", flush=True)
        result = await one_database(kind, args)
        fill = result["fill"]
        print(f"{kind}: filled {fill['tickets']:,} tickets and {fill['events']:,} events in "
              f"{fill['seconds']:.1f} s (oldest {fill['oldest_days']} days)")
        print(f"{kind}: plan of GET requests?status=open:")
        for line in fill["plan"]:
            print(f"    {line}")
        results.append(result)
    print()
    print(f"concurrency {args.concurrency}; {args.tickets:,} tickets in the store; "
          "GET answers the spec's default: the last 90 days, newest 1000")
    print(table(results))
    return {"machine": machine_info("sqlite://"), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": results}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = asyncio.run(run(args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
