"""The panel's maps: the queue as a map view and the last day's hotspots, as JSON the page's
script (``web/static/panel-map.js``) draws over the city's tiles and district outlines. Each
staff member sees on the map exactly the tickets their queue shows them (a unit: its own).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from peygir.ticket_store.models import OPEN_STATUSES, StaffRole, Ticket
from peygir.web.panel import queries
from peygir.web.panel.common import names_of, now_of, render
from peygir.web.panel.fmt import STATUS_STAFF
from peygir.web.panel.queues import STATE_CHOICES
from peygir.web.panel.security import StaffDep

router = APIRouter()

MAX_POINTS = 2000  # markers on one map: the most pressing first
HOT_HOURS = 24
COLUMNS = ("tracking_code", "service_code", "status", "urgent", "answer_due", "latitude",
           "longitude", "district")


def _point(row: dict[str, Any], names: Any, late: bool) -> dict[str, Any]:
    return {"code": row["tracking_code"], "lat": row["latitude"], "lon": row["longitude"],
            "service": names.service(row["service_code"]), "status": row["status"],
            "status_label": STATUS_STAFF.get(row["status"], row["status"]),
            "urgent": bool(row["urgent"]), "late": late,
            "open": row["status"] in OPEN_STATUSES}


@router.get("/queue/map", response_class=HTMLResponse)
async def queue_map_page(request: Request, staff: StaffDep, state: str = "open",
                         service: str = "", unit: str = "", district: str = "") -> HTMLResponse:
    names = names_of(request)
    filters = queries.QueueFilter(state=state if state in STATE_CHOICES else "open",
                                  service=service[:64], unit=unit[:64], district=district[:64])
    return render(request, "panel/queue_map.html", {
        "filters": filters,
        "args": filters.args(page=None),
        "states": STATE_CHOICES,
        "services": sorted(names.services.items(), key=lambda kv: kv[1]),
        "units": sorted(names.units.items(), key=lambda kv: kv[1]),
        "districts": sorted(names.districts.items(), key=lambda kv: kv[1]),
        "show_unit": staff.role != StaffRole.UNIT,
    })


@router.get("/queue/map.json")
async def queue_points(request: Request, staff: StaffDep, state: str = "open",
                       service: str = "", unit: str = "", district: str = "") -> JSONResponse:
    """The queue's tickets that have a point, with the queue's filters and scope."""
    now = now_of(request)
    query = queries.scope(staff.user, Ticket.filter(latitude__isnull=False,
                                                    longitude__isnull=False))
    if state == "late":
        query = query.filter(status__in=OPEN_STATUSES, answer_due__lt=now)
    elif state in STATUS_STAFF:
        query = query.filter(status=state)
    elif state != "all":
        query = query.filter(status__in=OPEN_STATUSES)
    if service:
        query = query.filter(service_code=service[:64])
    if unit and staff.role != StaffRole.UNIT:
        query = query.filter(unit_code=unit[:64])
    if district:
        query = query.filter(district=district[:64])
    total = await query.count()
    rows = await query.order_by("-priority", "answer_due", "id").limit(MAX_POINTS) \
        .values(*COLUMNS)
    names = names_of(request)
    points = [_point(r, names, r["status"] in OPEN_STATUSES and r["answer_due"] < now)
              for r in rows]
    return JSONResponse({"total": total, "shown": len(points), "points": points})


@router.get("/dashboard/hotspots.json")
async def hotspots(request: Request, staff: StaffDep) -> JSONResponse:
    """The last day's reports: a count per district (the dashboard's hotspots, drawn as
    shaded districts) and each report's point."""
    now = now_of(request)
    query = Ticket.filter(created_at__gte=now - timedelta(hours=HOT_HOURS))
    if staff.role == StaffRole.UNIT:
        query = query.filter(unit_code=staff.user.unit_code)
    rows = await query.order_by("-created_at").limit(MAX_POINTS).values(*COLUMNS)
    names = names_of(request)
    counts = Counter(r["district"] for r in rows if r["district"])
    points = [_point(r, names, False) for r in rows
              if r["latitude"] is not None and r["longitude"] is not None]
    return JSONResponse({
        "hours": HOT_HOURS,
        "districts": [{"code": code, "name": names.district(code), "count": n}
                      for code, n in counts.most_common()],
        "points": points,
    })
