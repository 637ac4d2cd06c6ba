"""Daily roll-ups of the dashboard's figures, kept on the database by the scheduler.

A roll-up row counts one UTC day's tickets (by ``created_at``) for one dashboard row: a unit,
a district or a service city-wide ("u", "d", "s"), or a district or service within one unit
("ud", "us"). Per-dimension rows, not one per day × unit × district × service: a city of
100,000 tickets a year files ~270 a day over ~2,000 such combinations, so that key would hold
about one ticket a row and read no faster than the tickets; per dimension a day is ~65 rows
city-wide and ~35 for a unit.

What a row keeps depends only on its tickets' own fields: opened, resolved, open now, first
answered late, rating sum and count, and a histogram of the time to first answer in the fixed
buckets of ``ANSWER_BUCKETS_MIN`` (medians are not sums; a bucket's counts are). The one
figure that moves with the clock alone, "open and past its answer deadline", is counted live
from the open tickets (a few thousand, from the status index).

Correctness when tickets change after their day: the workflow (the one place tickets change)
writes a ``PanelRollupChange`` for the ticket's day in the same transaction as the change.
The job redoes every day that has a change mark or was never done, and deletes exactly the
marks it read, under a lock (one job at a time across processes) and reading the tickets after
the marks, so a change committed meanwhile keeps its mark for the next pass. The dashboard
reads from roll-ups only the days that are done and carry no mark; everything else (the
period's first partial day, today, marked or missing days) it counts from the tickets with
the same code, so its figures equal a direct count whether or not the job has caught up.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from peygir.ticket_store.db import column
from peygir.ticket_store.models import (
    ANSWER_BUCKETS_MIN,
    OPEN_STATUSES,
    PanelRollup,
    PanelRollupChange,
    PanelRollupDay,
    Ticket,
)
from peygir.ticket_store.store import Params, placeholders

DONE_STATUSES = ("resolved", "closed")
EDGES_S = tuple(m * 60 for m in ANSWER_BUCKETS_MIN)
BUCKETS = len(EDGES_S)
HIST = [f"h{i:02d}" for i in range(BUCKETS)]
COUNTS = ("opened", "resolved", "open_now", "late_answered", "rating_sum", "rated")
CITY_DIMS = ("u", "d", "s")
UNIT_DIMS = ("ud", "us")
EPOCH = date(1970, 1, 1)
DAYS_PER_TRANSACTION = 31
LOCK_KEY = 137_0007  # PostgreSQL advisory lock of the roll-up job
TICKET_COLUMNS = ("created_at", "unit_code", "district", "service_code", "status",
                  "answer_due", "first_answer_at", "rating")


def day_of(moment: datetime) -> int:
    """The UTC day of a moment, as days since 1970-01-01."""
    return (moment.astimezone(UTC).date() - EPOCH).days


def day_start(day: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)


def bucket_of(seconds: float) -> int:
    return max(0, bisect_right(EDGES_S, seconds) - 1)


def median_of(hist: Sequence[int]) -> float | None:
    """The median, in seconds, from bucket counts: the rank n/2 placed linearly within its
    bucket (the open-ended last bucket gives its lower edge). Within one bucket's width of
    the exact median whenever the two middle values share a bucket."""
    n = sum(hist)
    if not n:
        return None
    rank, seen = n / 2, 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            if i + 1 == BUCKETS:
                return float(EDGES_S[i])
            return EDGES_S[i] + (rank - seen) / count * (EDGES_S[i + 1] - EDGES_S[i])
        seen += count
    return None  # unreachable


@dataclass
class Acc:
    """The summable figures of one dashboard row."""

    opened: int = 0
    resolved: int = 0
    open_now: int = 0
    late_answered: int = 0
    rating_sum: int = 0
    rated: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    late_open: int = 0  # open and past the answer deadline now (never rolled up)

    def add_ticket(self, status: str, late: bool, rating: int | None,
                   bucket: int | None) -> None:
        self.opened += 1
        if status in DONE_STATUSES:
            self.resolved += 1
        elif status in OPEN_STATUSES:
            self.open_now += 1
        if late:
            self.late_answered += 1
        if rating is not None:
            self.rating_sum += rating
            self.rated += 1
        if bucket is not None:
            self.hist[bucket] += 1

    def add_row(self, row: dict[str, Any]) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))
        hist = self.hist
        for i, name in enumerate(HIST):
            hist[i] += int(row[name] or 0)

    @property
    def late(self) -> int:
        return self.late_answered + self.late_open

    @property
    def rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    @property
    def median_first_answer(self) -> float | None:
        return median_of(self.hist)


def _ticket_facts(row: Sequence[Any]) -> tuple[str, bool, int | None, int | None]:
    _, _, _, _, status, answer_due, first, rating = row
    late = first is not None and first > answer_due
    bucket = bucket_of((first - row[0]).total_seconds()) if first is not None else None
    return str(status), late, rating, bucket


def _keys(row: Sequence[Any], unit_dims: bool) -> list[tuple[str, str, str]]:
    """(dim, unit_code, code) of the rows a ticket counts in; "" stands for none."""
    unit, district, service = row[1] or "", row[2] or "", row[3] or ""
    keys = [("u", "", unit), ("d", "", district), ("s", "", service)]
    if unit_dims and unit:
        keys += [("ud", unit, district), ("us", unit, service)]
    return keys


async def _tickets(ranges: Iterable[tuple[datetime, datetime]],
                   unit: str | None = None) -> list[tuple[Any, ...]]:
    """The tickets created in the ranges (read by the created_at index; a unit's are picked
    here, since a unit_code condition lures SQLite onto the unit's whole index)."""
    rows: list[tuple[Any, ...]] = []
    for lo, hi in ranges:
        rows += await Ticket.filter(created_at__gte=lo, created_at__lt=hi
                                    ).values_list(*TICKET_COLUMNS)
    return rows if unit is None else [r for r in rows if r[1] == unit]


def _ranges(days: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted days merged into [first, last + 1) runs."""
    out: list[tuple[int, int]] = []
    for day in sorted(days):
        if out and out[-1][1] == day:
            out[-1] = (out[-1][0], day + 1)
        else:
            out.append((day, day + 1))
    return out


# -- marking ---------------------------------------------------------------------------------
async def mark(created_at: datetime) -> None:
    """Note that a ticket created at ``created_at`` changed; call inside the change's
    transaction so the mark and the change commit together."""
    await PanelRollupChange.create(day=day_of(created_at))


# -- the job ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refresh:
    days: int  # days recomputed
    rows: int  # roll-up rows written
    seconds: float


async def _lock(conn: Any) -> None:
    """One roll-up job at a time, across processes, until the transaction ends."""
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
    else:  # a write first takes SQLite's write lock for the whole transaction
        await conn.execute_query("DELETE FROM panel_rollup_day WHERE day < -1000000")


async def _first_day() -> int | None:
    first = await column(Ticket.all().order_by("created_at").limit(1).values_list(
        "created_at", flat=True))
    return day_of(first[0]) if first else None


async def refresh(now: datetime, max_passes: int = 50) -> Refresh:
    """Redo the roll-ups of past days that changed or were never done (a first run does the
    whole history, a month a transaction); today is always counted live."""
    started = time.perf_counter()
    today = day_of(now)
    total_days = total_rows = 0
    for _ in range(max_passes):
        async with in_transaction() as conn:
            await _lock(conn)
            marks = await conn.execute_query_dict(
                "SELECT id, day FROM panel_rollup_change WHERE day < "
                + placeholders(conn, 1)[0], [today])
            first = await _first_day()
            done = set(await column(PanelRollupDay.filter(day__lt=today).values_list(
                "day", flat=True)))
            todo = {int(m["day"]) for m in marks}
            if first is not None:
                todo |= set(range(first, today)) - done
            batch = sorted(todo)[:DAYS_PER_TRANSACTION]
            if not batch:
                break
            rows = await _compute(batch)
            await PanelRollup.filter(day__in=batch).delete()
            await PanelRollup.bulk_create(rows, batch_size=1000)
            await PanelRollupDay.filter(day__in=batch).delete()
            await PanelRollupDay.bulk_create(
                [PanelRollupDay(day=d, computed_at=now) for d in batch])
            chosen = set(batch)
            seen = [int(m["id"]) for m in marks if int(m["day"]) in chosen]
            for i in range(0, len(seen), 500):
                await PanelRollupChange.filter(id__in=seen[i:i + 500]).delete()
            total_days += len(batch)
            total_rows += len(rows)
        if len(todo) <= len(batch):
            break
    return Refresh(total_days, total_rows, time.perf_counter() - started)


async def _compute(days: Sequence[int]) -> list[PanelRollup]:
    accs: dict[tuple[int, str, str, str], Acc] = {}
    ranges = [(day_start(a), day_start(b)) for a, b in _ranges(days)]
    for row in await _tickets(ranges):
        day = day_of(row[0])
        facts = _ticket_facts(row)
        for dim, unit, code in _keys(row, unit_dims=True):
            key = (day, dim, unit, code)
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = Acc()
            acc.add_ticket(*facts)
    out = []
    for (day, dim, unit, code), acc in accs.items():
        values = {name: getattr(acc, name) for name in COUNTS}
        values.update(zip(HIST, acc.hist, strict=True))
        out.append(PanelRollup(day=day, dim=dim, unit_code=unit, code=code, **values))
    return out


# -- reading ---------------------------------------------------------------------------------
@dataclass
class Figures:
    """The period's rows: ``city`` and, per dim "u", "d", "s", code → Acc ("" for none)."""

    city: Acc
    groups: dict[str, dict[str, Acc]]
    rolled_days: int = 0  # days read from roll-ups (the rest counted from tickets)


async def read(start: datetime, end: datetime, now: datetime,
               unit: str | None = None) -> Figures:
    """The dashboard's figures for tickets created in [start, end), optionally one unit's:
    whole past days from roll-ups where they are current, the rest from tickets."""
    conn = connections.get("default")
    first_full = day_of(start) + (0 if start == day_start(day_of(start)) else 1)
    last_full = min(day_of(now), day_of(end))  # whole days end by then, and before today
    rolled: list[int] = []
    if first_full < last_full:
        done = await column(PanelRollupDay.filter(day__gte=first_full, day__lt=last_full
                                                  ).values_list("day", flat=True))
        stale = set(await column(PanelRollupChange.filter(day__gte=first_full, day__lt=last_full
                                                          ).distinct().values_list("day",
                                                                                   flat=True)))
        rolled = sorted(set(done) - stale)
    city = Acc()
    groups: dict[str, dict[str, Acc]] = {"u": {}, "d": {}, "s": {}}
    dims = {"u": "u", "d": "d", "s": "s"} if unit is None else {"ud": "d", "us": "s"}

    def acc(dim: str, code: str) -> Acc:
        found = groups[dim].get(code)
        if found is None:
            found = groups[dim][code] = Acc()
        return found

    # Roll-ups: whole days, summed on the database.
    if rolled:
        lo, hi = rolled[0], rolled[-1] + 1
        holes = sorted(set(range(lo, hi)) - set(rolled))
        p = Params()
        where = (f"dim IN ({', '.join(p(d) for d in dims)}) AND unit_code = {p(unit or '')} "
                 f"AND day >= {p(lo)} AND day < {p(hi)}")
        if holes:
            where += f" AND day NOT IN ({', '.join(p(d) for d in holes)})"
        sums = ", ".join(f"SUM({c}) AS {c}" for c in (*COUNTS, *HIST))
        for row in await conn.execute_query_dict(
                f"SELECT dim, code, {sums} FROM panel_rollup WHERE {where} GROUP BY dim, code",
                p.values):
            target = dims[row["dim"]]
            acc(target, row["code"]).add_row(row)
            if target == "d":  # every ticket is in exactly one district row
                city.add_row(row)
                if unit is not None:  # and, for one unit, in that unit's row
                    acc("u", unit).add_row(row)
    # Tickets: the first partial day, today and any day not (currently) rolled up.
    cut = [(day_start(a), day_start(b)) for a, b in _ranges(rolled)]
    ranges, cursor = [], start
    for lo_t, hi_t in cut:
        if cursor < lo_t:
            ranges.append((cursor, lo_t))
        cursor = max(cursor, hi_t)
    if cursor < end:
        ranges.append((cursor, end))
    for row in await _tickets(ranges, unit):
        facts = _ticket_facts(row)
        city.add_ticket(*facts)
        for dim, _, code in _keys(row, unit_dims=False):
            acc(dim, code).add_ticket(*facts)
    # Open and past the deadline by now: moves with the clock, so counted live (late
    # answers are already in late_answered).
    p = Params()
    statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)  # constants
    where = (f"status IN ({statuses}) AND created_at >= {p(start)} AND created_at < {p(end)} "
             f"AND answer_due < {p(now)} "
             "AND (first_answer_at IS NULL OR first_answer_at <= answer_due)")
    if unit is not None:
        where += f" AND {'' if p.postgres else '+'}unit_code = {p(unit)}"
    for row in await conn.execute_query_dict(
            f"SELECT unit_code, district, service_code, COUNT(*) AS n FROM {Ticket._meta.db_table} "
            f"WHERE {where} GROUP BY unit_code, district, service_code", p.values):
        n = int(row["n"])
        city.late_open += n
        acc("u", row["unit_code"] or "").late_open += n
        acc("d", row["district"] or "").late_open += n
        acc("s", row["service_code"] or "").late_open += n
    return Figures(city, groups, len(rolled))
