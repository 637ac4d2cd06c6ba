"""Ticket search (``/panel/search``): words of the report or transcript, tracking code, the
citizen's phone (for the roles that see it), service, district, unit, state and Jalali dates.
The query and the role rules live in ``ticket_store/search.py``; this page parses the form
and words its refusals in Persian. A plain GET form: the URL of a search can be shared or
bookmarked, and the back button works."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import search as ticket_search
from peygir.ticket_store.models import StaffRole
from peygir.web.panel.common import core_of, names_of, render
from peygir.web.panel.dashboards import jalali_day
from peygir.web.panel.fmt import STATUS_STAFF
from peygir.web.panel.security import StaffDep

router = APIRouter()

FIELDS = ("q", "code", "phone", "service", "district", "unit", "state", "since", "until")
STATE_CHOICES = {"": "همه", "open": "همهٔ باز"} | STATUS_STAFF
ERRORS = {
    "text": "متن جستجو حداکثر ۲۰۰ نویسه و ۸ کلمه است، هر کلمه تا ۴۰ حرف.",
    "short": "هر کلمهٔ جستجو دست‌کم دو حرف داشته باشد.",
    "code": "کد پیگیری هشت رقم است.",
    "phone": "شمارهٔ تلفن را کامل بنویسید (۵ تا ۱۵ رقم).",
    "service": "خدمت انتخاب‌شده معتبر نیست.",
    "district": "منطقهٔ انتخاب‌شده معتبر نیست.",
    "unit": "واحد انتخاب‌شده معتبر نیست.",
    "state": "وضعیت انتخاب‌شده معتبر نیست.",
    "dates": "تاریخ را به شکل ۱۴۰۵/۰۹/۱۵ بنویسید؛ «از» پیش از «تا» باشد.",
}
PHONE_REFUSED = "جستجو با شمارهٔ تلفن در دسترس نقش شما نیست."


def _page_number(text: str) -> int:
    digits = ascii_digits(text.strip())[:6]
    return int(digits) if digits.isascii() and digits.isdigit() else 1


def _query(form: dict[str, str], tz: str, page: int) -> ticket_search.SearchQuery:
    """The search the form asks for; BadSearch names the first field it cannot use."""
    since = until = None
    for name in ("since", "until"):
        if form[name].strip():
            day = jalali_day(form[name][:32], tz)
            if day is None:
                raise ticket_search.BadSearch("dates")
            if name == "since":
                since = day
            else:
                until = day + timedelta(days=1)  # the whole last day
    return ticket_search.SearchQuery.build(
        text=form["q"], code=form["code"], phone=form["phone"], service=form["service"],
        district=form["district"], unit=form["unit"], state=form["state"], since=since,
        before=until, page=page)


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, staff: StaffDep) -> HTMLResponse:
    # Read by hand rather than as typed parameters: a garbled page or an oversized field
    # gets a Persian sentence on the page, not FastAPI's 422 JSON.
    params = request.query_params
    form = {name: params.get(name, "")[:400] for name in FIELDS}
    may_phone = ticket_search.may_search_phone(staff.user)
    names = names_of(request)
    context: dict[str, Any] = {
        "form": form,
        "states": STATE_CHOICES,
        "services": sorted(names.services.items(), key=lambda kv: kv[1]),
        "units": sorted(names.units.items(), key=lambda kv: kv[1]),
        "districts": sorted(names.districts.items(), key=lambda kv: kv[1]),
        "show_unit": staff.role != StaffRole.UNIT,
        "show_phone": may_phone,
        "result": None,
        "error": "",
    }
    if not any(form.values()):
        return render(request, "panel/search.html", context)
    status = 200
    try:
        if form["phone"].strip() and not may_phone:
            raise ticket_search.SearchRefused("phone")
        query = _query(form, core_of(request).settings.timezone,
                       _page_number(params.get("page", "1")))
        result = await ticket_search.search(staff.user, query)
    except ticket_search.BadSearch as bad:
        context["error"], status = ERRORS.get(bad.field, ERRORS["text"]), 400
    except ticket_search.SearchRefused:
        context["error"], status = PHONE_REFUSED, 403
    else:
        args = {k: v for k, v in form.items() if v}
        context["result"] = result
        context["prev_url"] = "/panel/search?" + urlencode(args | {"page": result.page - 1}) \
            if result.page > 1 else ""
        context["next_url"] = "/panel/search?" + urlencode(args | {"page": result.page + 1}) \
            if result.has_next and result.page < ticket_search.MAX_PAGE else ""
    return render(request, "panel/search.html", context, status_code=status)
