"""Ticket search (ticket_store/search.py) at 100,000 and 1,000,000 tickets on PostgreSQL and
100,000 on SQLite: p50/p99 of each kind of search, and the same word searches without the
index (a plain ILIKE/LIKE scan of the description) as the baseline.

    python -m bench.search [--sizes 100000,1000000] [--sqlite-size 100000] [--runs 200]
                           [--postgres ADMIN_URL | --no-postgres] [--no-sqlite]

PostgreSQL runs in a database of its own, ``peygir_bench_search`` (created, migrated, filled
and dropped here; never the tests' database). Tickets are made in bulk SQL
(``INSERT … SELECT generate_series``) with synthetic Persian reports drawn from a small word
list with a skewed frequency (a few words in most reports, many in few), one report in 20 with
a voice transcript, a third of the citizens with a phone; then the trigram index is built and
the tables ANALYZEd. SQLite is filled with executemany through its triggers, as the service
writes. Each search is the real call, ``search.search(user, SearchQuery.build(...))``: the SQL
for the page's ids and the ORM read of its rows; inputs vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from tortoise import connections

from bench.bots import percentile
from peygir.config.pack import load_pack
from peygir.ticket_store import search
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import StaffUser
from peygir.ticket_store.search import SearchQuery

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "peygir_bench_search"
STEP = timedelta(seconds=30)  # between tickets: 1,000,000 tickets ≈ a year at 2,900 a day
_WORD_LIST = (
    "کوچه خیابان چاله آسفالت زباله سطل درخت لامپ روشنایی آب فاضلاب جوی پیاده‌رو ترافیک "
    "پارک صدا بو سگ موش گربه تیر برق شکسته خراب افتاده ریخته مسدود نشت گرفتگی کثیف خطرناک "
    "بزرگ کوچک شب صبح هفته روز محله مدرسه بیمارستان مسجد میدان پل تقاطع چهارراه ایستگاه "
    "اتوبوس تاکسی پارکینگ دیوار سقف نیمکت وسایل بازی کودکان آلودگی دود نخاله ساختمانی "
    "گودال حفاری لوله شیر آتش‌نشانی تابلو علامت سرعت‌گیر نرده جدول باران برف یخ سیل"
)
WORDS = tuple(_WORD_LIST.split())
# Place names, one in about half the reports, each in about one report in 800: the rare words
# a search must find through its index rather than by reading the newest tickets.
SYLLABLES = ("مهر", "گل", "نار", "سرو", "یاس", "لاله", "شب", "بو", "کوه", "دشت", "باغ",
             "آفتاب", "ماه", "ستاره", "نسیم", "بهار", "پاییز", "سپید", "نور", "رود")
STATES = ("closed", "closed", "closed", "resolved", "rejected", "new", "assigned",
          "in_progress", "reopened", "referred")


def _word(rng: random.Random) -> str:
    # Skewed: the first words of the list come up in most reports, the last in few.
    return WORDS[int(len(WORDS) * rng.random() ** 2.5)]


def _place(rng: random.Random) -> str:
    return rng.choice(SYLLABLES) + rng.choice(SYLLABLES)


def _report(rng: random.Random) -> str:
    words = " ".join(_word(rng) for _ in range(5 + rng.randrange(8)))
    return f"{words} کوچه {_place(rng)}" if rng.random() < 0.5 else words


def _phone(i: int) -> str:
    # Stored as messengers and Open311 give them: with and without the country code.
    return ("+98" if i % 2 else "0") + str(9_120_000_000 + i)


# -- filling ---------------------------------------------------------------------------------
async def _pg_extras(conn: asyncpg.Connection, table: str, given: set[str]) -> dict[str, str]:
    """Zero values for NOT NULL columns without a default that this script does not know
    (another migration's): the insert keeps working as the schema grows."""
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 "
        "AND is_nullable = 'NO' AND column_default IS NULL", table)
    zero = {"boolean": "false", "text": "''", "character varying": "''", "jsonb": "'{}'",
            "json": "'{}'", "timestamp with time zone": "now()"}
    return {r["column_name"]: zero.get(r["data_type"], "0") for r in rows
            if r["column_name"] not in given}


async def pg_fill(url: str, start: int, end: int, total: int, pack: Any) -> None:
    """Tickets start+1..end (and their citizens), created STEP apart, the last of ``total``
    about now."""
    conn = await asyncpg.connect(url)
    try:
        t0 = datetime.now(UTC) - STEP * total
        citizens = {"channel", "user_id", "phone", "standing", "created_at"}
        extra = await _pg_extras(conn, "citizen", citizens)
        names = ", ".join(extra)
        await conn.execute(
            f"INSERT INTO citizen (id, channel, user_id, phone, standing, created_at"
            f"{', ' + names if names else ''}) "
            "SELECT g, 'telegram', 'bench' || g, CASE WHEN g % 3 = 0 THEN "
            "(CASE WHEN g % 2 = 1 THEN '+98' ELSE '0' END) || (9120000000 + g)::text END, "
            f"'', now(){', ' + ', '.join(extra.values()) if extra else ''} "
            "FROM generate_series($1::int, $2::int) g", start // 3 + 1, end // 3)
        await conn.execute("SELECT setval(pg_get_serial_sequence('citizen', 'id'), "
                           "(SELECT max(id) FROM citizen))")
        services = [s.service_code for s in pack.services if not s.is_referral]
        units = [u.code for u in pack.city.units]
        districts = [d.code for d in pack.city.districts]
        # The words are drawn in SQL with the same skew as _word(); the correlated
        # generate_series (its bound uses g) makes PostgreSQL draw them again for each row.
        draw = ("(SELECT string_agg(($1::text[])[1 + floor({n} * power(random(), 2.5))::int],"
                " ' ') FROM generate_series(1, 5 + (g * 7 + {salt}) % 8))")
        columns = {
            "tracking_code": "(10000000 + g)::text",
            "citizen_id": "1 + (g * 2654435761 % $2::bigint)::int",
            "channel": "'telegram'",
            "chat_id": "g::text",
            "service_code": "($3::text[])[1 + (g * 31) % cardinality($3::text[])]",
            "description": draw.format(n=len(WORDS), salt=0) + " || CASE WHEN random() < 0.5 "
            "THEN ' کوچه ' || ($10::text[])[1 + floor(random() * 20)::int] "
            "|| ($10::text[])[1 + floor(random() * 20)::int] ELSE '' END",
            "transcript": f"CASE WHEN g % 20 = 0 THEN {draw.format(n=len(WORDS), salt=3)} END",
            "status": "($4::text[])[1 + (g * 17 + (random() * 3)::int) % 10]",
            "urgent": "false",
            "answer_due": "c.at + interval '120 hours'",
            "district": "($5::text[])[1 + g % cardinality($5::text[])]",
            "unit_code": "($6::text[])[1 + (g * 13) % cardinality($6::text[])]",
            "priority": "0", "duplicate_count": "0", "contact_consent": "false",
            "escalation_level": "0", "created_at": "c.at", "updated_at": "c.at",
        }
        columns |= await _pg_extras(conn, "ticket", set(columns))
        await conn.execute(
            f"INSERT INTO ticket ({', '.join(columns)}) SELECT {', '.join(columns.values())} "
            "FROM generate_series($7::int, $8::int) g, "
            "LATERAL (SELECT $9::timestamptz + g * interval '30 seconds' AS at) c",
            list(WORDS), max(1, end // 3), services, list(STATES), districts, units,
            start + 1, end, t0, list(SYLLABLES))
    finally:
        await conn.close()


def sqlite_fill(path: str, count: int, pack: Any) -> None:
    """``count`` tickets through the triggers (each folds its text into the FTS table)."""
    rng = random.Random(137)
    services = [s.service_code for s in pack.services if not s.is_referral]
    units = [u.code for u in pack.city.units]
    districts = [d.code for d in pack.city.districts]
    t0 = datetime.now(UTC) - STEP * count
    db = sqlite3.connect(path)
    try:
        db.executemany(
            "INSERT INTO citizen (id, channel, user_id, phone, standing, created_at) "
            "VALUES (?, 'telegram', ?, ?, '', ?)",
            [(i, f"bench{i}", _phone(i) if i % 3 == 0 else None, str(t0))
             for i in range(1, count // 3 + 1)])
        rows = []
        for g in range(1, count + 1):
            at = str(t0 + STEP * g)  # as tortoise writes it: «2026-12-06 04:23:03+00:00»
            due = str(t0 + STEP * g + timedelta(hours=120))
            rows.append((str(10_000_000 + g), 1 + g * 2654435761 % (count // 3), str(g),
                         services[g * 31 % len(services)], _report(rng),
                         _report(rng) if g % 20 == 0 else None, STATES[g * 17 % 10],
                         due, districts[g % len(districts)], units[g * 13 % len(units)], at,
                         at))
        db.executemany(
            "INSERT INTO ticket (tracking_code, citizen_id, channel, chat_id, service_code, "
            "description, transcript, status, urgent, answer_due, district, unit_code, "
            "priority, duplicate_count, contact_consent, escalation_level, created_at, "
            "updated_at) VALUES (?, ?, 'telegram', ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, 0, 0, 0, ?, ?)",
            rows)
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


# -- measuring -------------------------------------------------------------------------------
Kind = Callable[[random.Random], dict[str, Any]]
MUST_FIND = ("word, common", "tracking code", "no criteria (newest)")


def kinds(pack: Any, size: int) -> dict[str, tuple[str, Kind]]:
    """name → (role, the search's fields for one run)."""
    services = [s.service_code for s in pack.services if not s.is_referral]
    districts = [d.code for d in pack.city.districts]
    newest = datetime.now(UTC)
    return {
        "word, common": ("operator", lambda r: {"text": r.choice(WORDS[:5])}),
        "word, rare (a place name)": ("operator", lambda r: {"text": _place(r)}),
        "word, uncommon": ("operator", lambda r: {"text": r.choice(WORDS[-15:])}),
        "two words": ("operator", lambda r: {"text": f"{_word(r)} {_word(r)}"}),
        "two-letter word": ("operator", lambda r: {"text": r.choice(["آب", "پل", "یخ"])}),
        "word + service + open": ("operator", lambda r: {
            "text": _word(r), "service": r.choice(services), "state": "open"}),
        "word, page 10": ("operator", lambda r: {"text": r.choice(WORDS[:5]), "page": 10}),
        "word, a unit's user": ("unit", lambda r: {"text": _word(r)}),
        "tracking code": ("operator", lambda r: {"code": str(10_000_000 + r.randint(1, size))}),
        "phone": ("operator", lambda r: {"phone": "0" + str(9_120_000_000
                                                               + 3 * r.randint(1, size // 3))}),
        "district + 30 days": ("operator", lambda r: {
            "district": r.choice(districts), "since": newest - timedelta(days=30)}),
        "no criteria (newest)": ("manager", lambda r: {}),
    }


async def timed(call: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    await call()  # warm
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t) * 1000)
    return percentile(samples, 0.5), percentile(samples, 0.99)


async def measure(pack: Any, size: int, runs: int, baseline: bool
                  ) -> dict[str, tuple[float, float]]:
    users = {"operator": StaffUser(username="op", role="operator", password_hash="-"),
             "manager": StaffUser(username="boss", role="manager", password_hash="-"),
             "unit": StaffUser(username="crew", role="unit", password_hash="-",
                               unit_code=pack.city.units[0].code)}
    out: dict[str, tuple[float, float]] = {}
    for name, (role, fields) in kinds(pack, size).items():
        rng = random.Random(name)

        async def one(fields: Kind = fields, role: str = role, rng: random.Random = rng,
                      name: str = name) -> None:
            page = await search.search(users[role], SearchQuery.build(**fields(rng)))
            assert page.rows or name not in MUST_FIND, name

        out[name] = await timed(one, runs)
        print(f"    {name:28s} p50 {out[name][0]:8.1f} ms   p99 {out[name][1]:8.1f} ms",
              flush=True)
    if baseline:
        # The same searches as they would be written without this work: the description
        # scanned with ILIKE (SQLite: LIKE, case-blind for ASCII), newest first.
        conn = connections.get("default")
        postgres = conn.capabilities.dialect == "postgres"
        op, mark = ("ILIKE", "$1") if postgres else ("LIKE", "?")
        for name in ("word, common", "word, rare (a place name)", "two words"):
            rng = random.Random(name)
            fields = kinds(pack, size)[name][1]

            async def scan(fields: Kind = fields, rng: random.Random = rng) -> None:
                words = fields(rng)["text"].split()
                where = " AND ".join(
                    f"description {op} {mark if i == 0 else ('$2' if postgres else '?')}"
                    for i in range(len(words)))
                await conn.execute_query(
                    f"SELECT id FROM ticket WHERE {where} ORDER BY created_at DESC, id DESC "
                    f"LIMIT {search.PER_PAGE + 1}", [f"%{w}%" for w in words])

            key = f"{name} — no index (ILIKE scan)"
            out[key] = await timed(scan, max(20, runs // 4))
            print(f"    {key:28s} p50 {out[key][0]:8.1f} ms   p99 {out[key][1]:8.1f} ms",
                  flush=True)
    return out


# -- the runs --------------------------------------------------------------------------------
async def run_sqlite(pack: Any, size: int, runs: int) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/bench.db"
        await open_db(f"sqlite://{path}")  # migrated: the FTS table and its triggers
        await close_db()
        t = time.perf_counter()
        sqlite_fill(path, size, pack)
        print(f"  SQLite: {size:,} tickets filled through the triggers in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        await open_db(f"sqlite://{path}")
        try:
            return await measure(pack, size, runs, baseline=True)
        finally:
            await close_db()


async def run_postgres(pack: Any, admin_url: str, sizes: list[int], runs: int
                       ) -> dict[int, dict[str, tuple[float, float]]]:
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{BENCH_DB}"
    results: dict[int, dict[str, tuple[float, float]]] = {}
    try:
        await open_db(url)
        await close_db()
        conn = await asyncpg.connect(url)
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ticket_search_trgm'")
        await conn.close()
        assert definition, "migration 0011 made no trigram index (pg_trgm missing?)"
        done = 0
        for size in sorted(sizes):
            conn = await asyncpg.connect(url)
            try:
                # Bulk load without the GIN index, then build it: how a big import is done.
                await conn.execute("DROP INDEX ticket_search_trgm")
                t = time.perf_counter()
                await pg_fill(url, done, size, max(sizes), pack)
                filled = time.perf_counter() - t
                t = time.perf_counter()
                await conn.execute("SET maintenance_work_mem = '256MB'")
                await conn.execute(definition)
                built = time.perf_counter() - t
                await conn.execute("VACUUM ANALYZE ticket")
                await conn.execute("ANALYZE citizen")
                mb = await conn.fetchval(
                    "SELECT pg_relation_size('ticket_search_trgm') / 1048576.0")
            finally:
                await conn.close()
            print(f"  PostgreSQL: {size:,} tickets (filled {filled:.0f} s; trigram index "
                  f"built in {built:.0f} s, {mb:.0f} MB)", flush=True)
            done = size
            await open_db(url, upgrade=False)
            try:
                results[size] = await measure(pack, size, runs,
                                              baseline=size == min(sizes))
            finally:
                await close_db()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await admin.close()
    return results


def table(columns: dict[str, dict[str, tuple[float, float]]]) -> str:
    names = list(dict.fromkeys(k for col in columns.values() for k in col))
    lines = ["| search | " + " | ".join(f"{c} p50 / p99 ms" for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name in names:
        cells = [f"{col[name][0]:.1f} / {col[name][1]:.1f}" if name in col else "—"
                 for col in columns.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="PostgreSQL ticket counts")
    parser.add_argument("--sqlite-size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--postgres", default=PG_ADMIN, help="an admin URL to create a db in")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    pack = load_pack()
    columns: dict[str, dict[str, tuple[float, float]]] = {}
    if not args.no_sqlite:
        columns[f"SQLite {args.sqlite_size:,}"] = await run_sqlite(pack, args.sqlite_size,
                                                                   args.runs)
    if not args.no_postgres:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        for size, figures in (await run_postgres(pack, args.postgres, sizes,
                                                 args.runs)).items():
            columns[f"PostgreSQL {size:,}"] = figures
    print()
    print(table(columns))


if __name__ == "__main__":
    asyncio.run(main())
