"""Queues: each role's open tickets, most pressing first, filtered and paginated in SQL."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.ticket_store.models import OPEN_STATUSES, StaffRole
from peygir.web.panel import queries
from peygir.web.panel.common import names_of, now_of, render
from peygir.web.panel.fmt import STATUS_STAFF, remaining
from peygir.web.panel.security import PATH, StaffDep

router = APIRouter()

STATE_CHOICES = {"open": "همهٔ باز", "late": "دیرکرد", "all": "همه"} | STATUS_STAFF


@router.get("/")
async def home(staff: StaffDep) -> Response:
    target = "dashboard" if staff.role == StaffRole.MANAGER else "queue"
    return RedirectResponse(f"{PATH}/{target}", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request, staff: StaffDep, state: str = "open", service: str = "",
                     unit: str = "", district: str = "", page: int = 1) -> HTMLResponse:
    now = now_of(request)
    if state not in STATE_CHOICES:
        state = "open"
    names = names_of(request)
    filters = queries.QueueFilter(state=state, service=service[:64], unit=unit[:64],
                                  district=district[:64], page=max(1, min(page, 100_000)))
    result = await queries.queue(staff.user, filters, now)
    for row in result.rows:
        # The on-site deadline of an urgent ticket matters until someone is on it.
        due = row["onsite_due"] if row["urgent"] and row["status"] in ("new", "assigned") \
            and row["onsite_due"] else row["answer_due"]
        open_ = row["status"] in OPEN_STATUSES
        row["left"], row["late"] = remaining(due, now) if open_ else ("—", False)
    context = {
        "result": result,
        "states": STATE_CHOICES,
        "services": sorted(names.services.items(), key=lambda kv: kv[1]),
        "units": sorted(names.units.items(), key=lambda kv: kv[1]),
        "districts": sorted(names.districts.items(), key=lambda kv: kv[1]),
        "show_unit": staff.role != StaffRole.UNIT,
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "queue":
        return render(request, "panel/_queue_table.html", context)
    return render(request, "panel/queue.html", context)
