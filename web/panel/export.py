"""The budget office's export: the Jalali year's unresolved requests by service and district,
as CSV (UTF-8 with a BOM, so Excel reads the Persian) and XLSX (a summary sheet and one row per
request, right to left)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from peygir.messages.persian import jalali_midnight, local_jalali
from peygir.web.panel import queries
from peygir.web.panel.cells import XLSX, csv_safe, formula_like
from peygir.web.panel.cells import allowed as _allowed
from peygir.web.panel.common import Names, core_of, names_of, now_of, render
from peygir.web.panel.fmt import STATUS_STAFF, jshort
from peygir.web.panel.security import StaffDep

router = APIRouter()

SUMMARY_HEADER = ["گروه خدمت", "خدمت", "کد خدمت", "منطقه", "تعداد درخواست حل‌نشده",
                  "دارای تأخیر", "قدیمی‌ترین درخواست"]
DETAIL_HEADER = ["کد پیگیری", "گروه خدمت", "خدمت", "منطقه", "واحد", "وضعیت", "فوری",
                 "تاریخ ثبت", "مهلت پاسخ", "نشانی"]


def year_bounds(year: int, tz: str) -> tuple[datetime, datetime]:
    """The Jalali year [1 Farvardin year, 1 Farvardin year+1) as UTC instants."""
    return jalali_midnight(year, 1, 1, tz), jalali_midnight(year + 1, 1, 1, tz)


def current_year(now: datetime, tz: str) -> int:
    return local_jalali(now, tz).year


def _moment(value: Any) -> datetime | None:
    """Raw SQL gives SQLite's text or PostgreSQL's datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _summary_rows(rows: list[dict[str, Any]], names: Names, tz: str) -> list[list[Any]]:
    return [[names.groups.get(r["service_code"], ""), names.service(r["service_code"]),
             r["service_code"], names.district(r["district"]) if r["district"] else "—",
             int(r["n"]), int(r["late"] or 0), jshort(_moment(r["oldest"]), tz, False)]
            for r in rows]


def _detail_rows(rows: list[dict[str, Any]], names: Names, tz: str) -> list[list[Any]]:
    return [[r["tracking_code"], names.groups.get(r["service_code"], ""),
             names.service(r["service_code"]),
             names.district(r["district"]) if r["district"] else "—",
             names.unit(r["unit_code"]) if r["unit_code"] else "—",
             STATUS_STAFF.get(r["status"], r["status"]), "بله" if r["urgent"] else "خیر",
             jshort(r["created_at"], tz), jshort(r["answer_due"], tz), r["address"] or ""]
            for r in rows]


def _append_as_text(sheet: Any, row: list[Any]) -> None:
    """sheet.append, except that a formula-like string is kept as a text cell (openpyxl would
    write it as a formula) and marked quotePrefix, so editing it in Excel keeps it text."""
    sheet.append(row)
    for cell in sheet[sheet.max_row]:
        if formula_like(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True


@router.get("/export", response_class=HTMLResponse)
async def export_page(request: Request, staff: StaffDep, year: int | None = None,
                      start: str = "", end: str = "") -> HTMLResponse:
    _allowed(staff)
    tz = core_of(request).settings.timezone
    now = now_of(request)
    # Every ticket of a range of Jalali dates (export_range): the form checks the range here
    # first, so a bad one gets a Persian message on this page rather than an error page.
    from peygir.web.panel.dashboards import RANGE_ERROR
    from peygir.web.panel.export_range import parse_range

    asked = bool(start or end)
    range_ok = asked and parse_range(start, end, now, tz) is not None
    this_year = current_year(now, tz)
    year = year if year and 1300 <= year <= 1500 else this_year
    year_start, year_end = year_bounds(year, tz)
    names = names_of(request)
    rows = _summary_rows(await queries.unresolved_summary(year_start, year_end, now), names,
                         tz)
    return render(request, "panel/export.html", {
        "year": year, "years": list(range(this_year, this_year - 5, -1)),
        "header": SUMMARY_HEADER, "rows": rows, "total": sum(r[4] for r in rows),
        "range": (start[:32], end[:32]), "range_ok": range_ok,
        "range_error": RANGE_ERROR if asked and not range_ok else "",
    })


@router.get("/export/unresolved.{fmt}")
async def export_file(request: Request, fmt: str, staff: StaffDep, year: int | None = None
                      ) -> Response:
    _allowed(staff)
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404)
    tz = core_of(request).settings.timezone
    now = now_of(request)
    year = year if year and 1300 <= year <= 1500 else current_year(now, tz)
    start, end = year_bounds(year, tz)
    names = names_of(request)
    summary = _summary_rows(await queries.unresolved_summary(start, end, now), names, tz)
    filename = f"unresolved-{year}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(SUMMARY_HEADER)
        writer.writerows(csv_safe(row) for row in summary)
        return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers=headers)
    detail = _detail_rows(await queries.unresolved_detail(start, end), names, tz)
    return Response(_xlsx(year, summary, detail), media_type=XLSX, headers=headers)


def _xlsx(year: int, summary: list[list[Any]], detail: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook opens on one empty worksheet
    sheet.title = f"خلاصه {year}"
    sheet.sheet_view.rightToLeft = True
    sheet.append(SUMMARY_HEADER)
    for row in summary:
        _append_as_text(sheet, row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFG", (18, 30, 16, 16, 12, 12, 16), strict=True):
        sheet.column_dimensions[letter].width = width
    rows = book.create_sheet("درخواست‌ها")
    rows.sheet_view.rightToLeft = True
    rows.append(DETAIL_HEADER)
    for row in detail:
        _append_as_text(rows, row)
    for cell in rows[1]:
        cell.font = Font(bold=True)
    rows.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
