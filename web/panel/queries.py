"""The panel's reads: queues (filtered, sorted, paginated in SQL), who may see which ticket,
dashboard figures aggregated in SQL (SQLite and PostgreSQL alike), the budget export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections

from peygir.ticket_store import rollups
from peygir.ticket_store.models import OPEN_STATUSES, StaffRole, StaffUser, Ticket
from peygir.ticket_store.store import Params

TABLE = Ticket._meta.db_table
PER_PAGE = 50


# -- who sees what ---------------------------------------------------------------------------
def scope(user: StaffUser, query: Any) -> Any:
    """A unit sees only the tickets assigned to it; the 137 centre and managers see all."""
    if user.role == StaffRole.UNIT:
        return query.filter(unit_code=user.unit_code)
    return query


async def ticket_for(user: StaffUser, tracking_code: str) -> Ticket | None:
    if not (tracking_code.isascii() and tracking_code.isdigit() and len(tracking_code) == 8):
        return None
    return await scope(user, Ticket.filter(tracking_code=tracking_code)).first()


# -- queues ----------------------------------------------------------------------------------
@dataclass
class QueueFilter:
    state: str = "open"  # open, late, all, or one status
    service: str = ""
    unit: str = ""
    district: str = ""
    page: int = 1

    def args(self, **changes: Any) -> dict[str, Any]:
        values = {"state": self.state, "service": self.service, "unit": self.unit,
                  "district": self.district, "page": self.page} | changes
        return {k: v for k, v in values.items() if v not in ("", None)}


@dataclass
class QueuePage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    filters: QueueFilter = field(default_factory=QueueFilter)


QUEUE_COLUMNS = ["id", "tracking_code", "service_code", "status", "urgent", "onsite_due",
                 "answer_due", "created_at", "address", "unit_code", "district", "priority",
                 "duplicate_count"]


async def queue(user: StaffUser, filters: QueueFilter, now: datetime,
                per_page: int = PER_PAGE) -> QueuePage:
    query = scope(user, Ticket.all())
    if filters.state == "open":
        query = query.filter(status__in=OPEN_STATUSES)
    elif filters.state == "late":
        query = query.filter(status__in=OPEN_STATUSES, answer_due__lt=now)
    elif filters.state != "all":
        query = query.filter(status=filters.state)
    if filters.service:
        query = query.filter(service_code=filters.service)
    if filters.unit and user.role != StaffRole.UNIT:
        query = query.filter(unit_code=filters.unit)
    if filters.district:
        query = query.filter(district=filters.district)
    total = await query.count()
    pages = max(1, -(-total // per_page))
    page = min(max(1, filters.page), pages)
    # Most pressing first: priority (urgent 2, a trusted citizen 1), then the deadline.
    # The page's ids come from the (status, priority, answer_due) index alone; only those
    # rows are read.
    ids = await query.order_by("-priority", "answer_due", "id") \
        .offset((page - 1) * per_page).limit(per_page).values_list("id", flat=True)
    by_id = {row["id"]: row for row in await Ticket.filter(id__in=ids).values(*QUEUE_COLUMNS)}
    rows = [by_id[i] for i in ids if i in by_id]
    filters.page = page
    return QueuePage(rows, total, page, pages, filters)


# -- dashboards ------------------------------------------------------------------------------
async def _rows(sql: str, params: Params) -> list[dict[str, Any]]:
    return await connections.get("default").execute_query_dict(sql, params.values)


def _in(statuses: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{s}'" for s in statuses) + ")"  # constants, never user input


@dataclass
class Figures:
    key: str | None
    opened: int = 0
    resolved: int = 0
    late: int = 0
    open_now: int = 0
    median_first_answer: float | None = None  # seconds, from the roll-ups' buckets
    rating: float | None = None
    score: float | None = None

    @classmethod
    def of(cls, key: str | None, acc: rollups.Acc) -> Figures:
        return cls(key, acc.opened, acc.resolved, acc.late, acc.open_now,
                   acc.median_first_answer, acc.rating)


@dataclass
class Dashboard:
    city: Figures
    by_unit: list[Figures]
    by_district: list[Figures]
    by_service: list[Figures]


async def dashboard(start: datetime, end: datetime, now: datetime,
                    unit: str | None = None) -> Dashboard:
    """Opened, resolved, late, open, satisfaction and median time to first answer, for the
    city and per unit, district and service, for tickets created in [start, end).

    Whole past days come from the daily roll-ups (``ticket_store/rollups.py``) where they are
    current, the rest from the tickets; either way the figures are those of the tickets.
    Late: still open past its answer deadline, or first answered after it. Medians come from
    the roll-ups' fixed buckets of the time to first answer.
    """
    figures = await rollups.read(start, end, now, unit=unit)

    def ordered(dim: str) -> list[Figures]:
        rows = [Figures.of(code or None, acc) for code, acc in figures.groups[dim].items()]
        return sorted(rows, key=lambda f: (-f.opened, str(f.key)))

    return Dashboard(Figures.of(None, figures.city), ordered("u"), ordered("d"), ordered("s"))


def _group(p: Params, column: str) -> str:
    """A GROUP BY term. On SQLite a unary plus keeps the planner from walking the whole
    service_code index to avoid a sort, when the created_at range is far more selective."""
    return column if p.postgres else f"+{column}"


async def hotspots(now: datetime, hours: int = 24, limit: int = 12,
                   unit: str | None = None) -> list[dict[str, Any]]:
    """The last day's reports counted by service and district, most first."""
    p = Params()
    where = f"created_at >= {p(now - timedelta(hours=hours))}"
    if unit is not None:
        where += f" AND unit_code = {p(unit)}"
    sql = ("SELECT service_code, district, COUNT(*) AS n, "
           "SUM(CASE WHEN urgent THEN 1 ELSE 0 END) AS urgent "
           f"FROM {TABLE} WHERE {where} "
           f"GROUP BY {_group(p, 'service_code')}, {_group(p, 'district')} "
           f"ORDER BY n DESC, service_code LIMIT {int(limit)}")
    return await _rows(sql, p)


async def weekly(now: datetime, weeks: int = 12, unit: str | None = None
                 ) -> list[dict[str, Any]]:
    """Tickets opened and resolved per week, the last ``weeks`` weeks, oldest first."""
    start = now - timedelta(weeks=weeks)
    out = [{"start": start + timedelta(weeks=i), "opened": 0, "resolved": 0}
           for i in range(weeks)]

    async def count(column: str, extra: str = "") -> None:
        p = Params()
        bucket = f"FLOOR({p.seconds(column, p(start))} / 604800.0)" if p.postgres else \
            f"CAST({p.seconds(column, p(start))} / 604800.0 AS INTEGER)"
        where = f"{column} >= {p(start)} AND {column} < {p(now)}{extra}"
        if unit is not None:
            where += f" AND unit_code = {p(unit)}"
        sql = f"SELECT {bucket} AS w, COUNT(*) AS n FROM {TABLE} WHERE {where} GROUP BY w"
        name = "opened" if column == "created_at" else "resolved"
        for row in await _rows(sql, p):
            week = int(row["w"])
            if 0 <= week < weeks:
                out[week][name] = int(row["n"])

    await count("created_at")
    await count("resolved_at")
    return out


# -- the budget export -----------------------------------------------------------------------
async def unresolved_summary(start: datetime, end: datetime, now: datetime
                             ) -> list[dict[str, Any]]:
    """Unresolved requests filed in [start, end), by service and district."""
    p = Params()
    sql = ("SELECT service_code, district, COUNT(*) AS n, "
           f"SUM(CASE WHEN answer_due < {p(now)} THEN 1 ELSE 0 END) AS late, "
           "MIN(created_at) AS oldest "
           f"FROM {TABLE} WHERE status IN {_in(OPEN_STATUSES)} "
           f"AND created_at >= {p(start)} AND created_at < {p(end)} "
           f"GROUP BY {_group(p, 'service_code')}, {_group(p, 'district')} "
           "ORDER BY service_code, district")
    return await _rows(sql, p)


async def unresolved_detail(start: datetime, end: datetime) -> list[dict[str, Any]]:
    columns = ["tracking_code", "service_code", "status", "urgent", "created_at",
               "answer_due", "address", "unit_code", "district"]
    return await Ticket.filter(status__in=OPEN_STATUSES, created_at__gte=start,
                               created_at__lt=end).order_by("created_at").values(*columns)


async def escalations(now: datetime, unit: str | None = None, days: int = 7,
                      limit: int = 30) -> list[Any]:
    """Alerts the escalation ladder fired lately on tickets still open, newest first."""
    from peygir.ticket_store.models import EscalationAlert

    query = EscalationAlert.filter(fired_at__gte=now - timedelta(days=days),
                                   ticket__status__in=OPEN_STATUSES)
    if unit is not None:
        query = query.filter(ticket__unit_code=unit)
    return await query.select_related("ticket").order_by("-fired_at").limit(limit)
