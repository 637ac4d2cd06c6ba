"""Active citizens and volunteers in the panel (issue 20).

- ``/panel/volunteers``: the centre's operators (and managers, admins) see pending volunteer
  applications and approve or reject each once; approval makes the citizen a volunteer
  (ticket_store.standing), and the citizen hears the decision in their chat.
- ``/panel/ranking``: managers and admins see a Jalali month's (or year's) ranking of the
  citizens who opted in, and download it as CSV for the ceremony: rank, the public name the
  citizen chose and the count; never a phone, a chat id or a messenger name. They can also
  take an unsuitable name off the list (the citizen may choose another).

A unit's crew works on tickets, not people: refused here.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.conversation.active import month_label, review_application
from peygir.messages import active_texts as t
from peygir.messages.persian import CHANNEL_LABELS, local_jalali
from peygir.ticket_store import active
from peygir.ticket_store.models import StaffRole
from peygir.web.media import MAX_ID
from peygir.web.panel.cells import csv_safe
from peygir.web.panel.common import core_of, now_of, render
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()
REVIEWERS = (StaffRole.OPERATOR, StaffRole.MANAGER, StaffRole.ADMIN)
RANKERS = (StaffRole.MANAGER, StaffRole.ADMIN)
MESSAGES = {"approve": "درخواست پذیرفته شد؛ شهروند همیار شد و به او خبر داده شد.",
            "reject": "درخواست رد شد؛ به شهروند خبر داده شد.",
            "removed": "نام از فهرست شهروندان فعال برداشته شد."}
ERRORS = {"gone": "این درخواست پیش‌تر بررسی شده است.",
          "period": "دوره را به شکل ۱۴۰۵-۰۹ (ماه) یا ۱۴۰۵ (سال) انتخاب کنید."}
MONTHS = ("فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
          "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند")


@router.get("/volunteers", response_class=HTMLResponse)
async def volunteers_page(request: Request, staff: StaffDep, done: str = "", error: str = ""
                          ) -> HTMLResponse:
    staff.require(*REVIEWERS)
    return render(request, "panel/volunteers.html", {
        "pending": await active.pending(), "decided": await active.decided(),
        "channels": CHANNEL_LABELS, "labels": t.STATUS_LABELS,
        "message": MESSAGES.get(done, ""), "error": ERRORS.get(error, ""),
    })


@router.post("/volunteers/{application_id}/review")
async def review(request: Request, application_id: int, staff: CsrfStaff,
                 decision: Annotated[Literal["approve", "reject"], Form()],
                 note: Annotated[str, Form(max_length=active.NOTE_MAX)] = "") -> Response:
    staff.require(*REVIEWERS)
    if not 1 <= application_id <= MAX_ID:
        raise HTTPException(404)
    decided = await review_application(application_id, decision == "approve", staff.actor,
                                       now_of(request), note)
    if decided is None:
        return RedirectResponse(f"{PATH}/volunteers?error=gone", status_code=303)
    core_of(request).wake(decided.channel)  # the citizen's news
    return RedirectResponse(f"{PATH}/volunteers?done={decision}", status_code=303)


def _period(request: Request, text: str) -> active.Period | None:
    tz = core_of(request).settings.timezone
    if not text:
        return active.this_month(now_of(request), tz)
    return active.parse_period(text[:16], tz)


@router.get("/ranking", response_class=HTMLResponse)
async def ranking_page(request: Request, staff: StaffDep, period: str = "", done: str = ""
                       ) -> HTMLResponse:
    staff.require(*RANKERS)
    chosen = _period(request, period)
    error = "" if chosen is not None else ERRORS["period"]
    if chosen is None:
        chosen = _period(request, "")
    assert chosen is not None
    this_year = local_jalali(now_of(request), core_of(request).settings.timezone).year
    return render(request, "panel/ranking.html", {
        "period": chosen, "label": month_label(chosen),
        "rows": await active.ranking(chosen.start, chosen.end),
        "years": list(range(this_year, this_year - 5, -1)),
        "months": list(enumerate(MONTHS, start=1)),
        "message": MESSAGES.get(done, ""), "error": error,
    })


@router.get("/ranking.csv")
async def ranking_csv(request: Request, staff: StaffDep, period: str = "") -> Response:
    staff.require(*RANKERS)
    chosen = _period(request, period)
    if chosen is None:
        raise HTTPException(404)
    body = ranking_csv_text(await active.ranking(chosen.start, chosen.end))
    return Response("\ufeff" + body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="active-citizens-{chosen.key}.csv"'})


def ranking_csv_text(rows: list[active.Ranked]) -> str:
    """Rank, public name, count: what a ceremony needs and nothing that identifies anyone
    beyond the name they chose."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(t.CSV_HEADER)
    writer.writerows(csv_safe([r.rank, r.name, r.count]) for r in rows)
    return buffer.getvalue()


@router.post("/ranking/{citizen_id}/remove")
async def remove_name(citizen_id: int, staff: CsrfStaff,
                      period: Annotated[str, Form(max_length=16)] = "") -> Response:
    """An unsuitable name leaves the list; the citizen may opt in again under another."""
    staff.require(*RANKERS)
    if not 1 <= citizen_id <= MAX_ID:
        raise HTTPException(404)
    await active.opt_out(citizen_id)
    back = f"{PATH}/ranking?done=removed"
    if period and active.parse_period(period, "UTC") is not None:
        back += f"&period={period}"
    return RedirectResponse(back, status_code=303)
