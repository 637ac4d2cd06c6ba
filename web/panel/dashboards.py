"""Dashboards: per unit and district figures, the last day's hotspots, weekly trends, unit
scores; all aggregated in SQL, the charts drawn here as SVG."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

import jdatetime
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from peygir.messages.persian import jalali_midnight, local_jalali
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import happenings
from peygir.ticket_store.models import StaffRole
from peygir.web.panel import not_tickets, queries
from peygir.web.panel.charts import Series, bars, hbars
from peygir.web.panel.common import core_of, names_of, now_of, render
from peygir.web.panel.fmt import fa, jshort
from peygir.web.panel.security import StaffDep

router = APIRouter()

PERIODS = {7: "۷ روز", 30: "۳۰ روز", 90: "۹۰ روز", 365: "یک سال"}
MAX_RANGE_DAYS = 5 * 366  # a custom range: five years at most
JALALI_DATE = re.compile(r"^\s*(1[34]\d\d)\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*$")
RANGE_ERROR = ("بازهٔ تاریخ را به شکل ۱۴۰۵/۰۸/۰۱ بنویسید، «از» پیش از «تا» و نه در آینده؛ "
               "تا پنج سال.")


def jalali_day(text: str, tz: str) -> datetime | None:
    """Local midnight of a Jalali date typed as ۱۴۰۵/۸/۱, 1405-08-01 or 1405.8.1."""
    found = JALALI_DATE.match(ascii_digits(text or ""))
    if not found:
        return None
    year, month, day = (int(part) for part in found.groups())
    try:
        return jalali_midnight(year, month, day, tz)
    except ValueError:
        return None


def custom_range(start_text: str, end_text: str, now: datetime, tz: str
                 ) -> tuple[datetime, datetime] | None:
    """[start of the first day, end of the last day) in UTC, cut at now; None if unusable."""
    start, last = jalali_day(start_text, tz), jalali_day(end_text, tz)
    if start is None or last is None or last < start or start > now:
        return None
    end = min(last + timedelta(days=1), now)
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        return None
    return start, end


CHART_W = 420  # viewBox width of the dashboard's charts
SCORES_TTL = 60.0  # seconds: a month's unit scores move slowly; the dashboard need not wait


async def _scores(request: Request, now: Any, tz: str) -> dict[str, Any]:
    """This Jalali month's unit scores, from the workflow's own formula, kept a minute.

    ``Workflow.unit_scores`` reads the month's closed tickets one by one (tens of ms at
    100,000 tickets a year), so one computation serves every dashboard for a minute.
    """
    local = local_jalali(now, tz)
    key = (local.year, local.month)
    cache = getattr(request.app.state, "panel_scores", None)
    if cache is None:
        cache = request.app.state.panel_scores = {}
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < SCORES_TTL:
        return hit[1]
    rows = await core_of(request).workflow.unit_scores(local.year, local.month)
    scores = {row.unit_code: row.score for row in rows}
    cache.clear()
    cache[key] = (time.monotonic(), scores)
    return scores


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, staff: StaffDep, days: int = 30,
                    start: str = "", end: str = "") -> HTMLResponse:
    """The last ``days`` days, or the Jalali dates ``start`` to ``end`` (both included)."""
    staff.require(StaffRole.MANAGER, StaffRole.ADMIN, StaffRole.OPERATOR, StaffRole.UNIT)
    if days not in PERIODS:
        days = 30
    now = now_of(request)
    tz = core_of(request).settings.timezone
    names = names_of(request)
    unit = staff.user.unit_code if staff.role == StaffRole.UNIT else None
    span = custom_range(start, end, now, tz) if start or end else None
    range_error = RANGE_ERROR if (start or end) and span is None else None
    since, until = span or (now - timedelta(days=days), now)
    figures = await queries.dashboard(since, until, now, unit=unit)
    scores = await _scores(request, now, tz)
    for row in figures.by_unit:
        row.score = scores.get(row.key) if row.key is not None else None
    # What is not a ticket, and the deputies' shares: city-wide matters, not a unit's.
    others = None if unit is not None else await not_tickets.read(
        core_of(request).pack, since, until, tz, figures.by_unit)
    hot = await queries.hotspots(now, unit=unit)
    weeks = await queries.weekly(now, unit=unit)
    labels = [jshort(w["start"], tz, with_time=False)[5:] for w in weeks]
    series = [Series("ثبت‌شده", "s1", [w["opened"] for w in weeks]),
              Series("انجام‌شده", "s2", [w["resolved"] for w in weeks])]
    hot_rows = [(names.service(h["service_code"])
                 + (f" — {names.district(h['district'])}" if h["district"] else ""), h["n"])
                for h in hot]
    return render(request, "panel/dashboard.html", {
        "days": days if span is None else None,
        "periods": PERIODS,
        "range": (start, end), "range_error": range_error,
        "range_label": (f"{jshort(since, tz, with_time=False)} تا "
                        f"{jshort(until - timedelta(seconds=1), tz, with_time=False)}"),
        "city": figures.city,
        "by_unit": figures.by_unit,
        "by_district": figures.by_district,
        "by_service": figures.by_service[:15],
        "hot": hot,
        # Narrow viewBoxes: a phone draws them near their own size, so the text stays
        # readable there (panel.css caps their width on a desktop).
        "hot_chart": hbars(hot_rows, "کانون‌های ۲۴ ساعت گذشته", width=CHART_W,
                           label_w=190) if hot_rows else None,
        "trend_chart": bars(labels, series, "روند هفتگی", width=CHART_W, height=230),
        "alerts": await queries.escalations(now, unit=unit),
        "recipients": {"manager": "مدیر واحد", "deputy": "معاون"},
        "others": others,
        "why": not_tickets.WHY,
        "others_days": (f"{jday(others.first_day)} تا {jday(others.last_day)}"
                        if others else ""),
    })


def jday(day: int) -> str:
    """A local day (days since 1970-01-01) as a Jalali date, ۱۴۰۵/۰۸/۰۱."""
    j = jdatetime.date.fromgregorian(date=happenings.day_date(day))
    return fa(f"{j.year:04d}/{j.month:02d}/{j.day:02d}")
