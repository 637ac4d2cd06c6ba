"""Every ticket filed in a range of Jalali dates, with its timings, escalations and rating, as
CSV (UTF-8 with a BOM, for Excel) or XLSX. No citizen data: no words, address or contact.

Rows are read from the database in pages by id and written out as they come: the CSV is
streamed, the XLSX is written by openpyxl's write-only workbook (rows go to a temporary file,
not to memory). Timings are hours, as numbers a spreadsheet can sum; dates are Jalali. Every
formula-like string is kept as text (cells.formula_like), as in the budget export.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from tortoise.functions import Count

from peygir.messages.persian import local_jalali
from peygir.ticket_store.models import EscalationAlert, Ticket
from peygir.web.panel.cells import XLSX, csv_safe, formula_like
from peygir.web.panel.cells import allowed as _allowed
from peygir.web.panel.common import Names, core_of, names_of, now_of
from peygir.web.panel.dashboards import RANGE_ERROR, custom_range
from peygir.web.panel.fmt import STATUS_STAFF, jshort
from peygir.web.panel.security import StaffDep

router = APIRouter()

BATCH = 500  # rows read per query: memory stays flat however long the range
HEADER = ["کد پیگیری", "گروه خدمت", "خدمت", "کد خدمت", "منطقه", "واحد", "وضعیت", "فوری",
          "تاریخ ثبت", "مهلت پاسخ", "نخستین پاسخ", "انجام", "بسته شدن",
          "ساعت تا نخستین پاسخ", "ساعت تا انجام", "پاسخ با تأخیر", "هشدارهای ارجاع به مدیر",
          "امتیاز شهروند"]
COLUMNS = ("id", "tracking_code", "service_code", "district", "unit_code", "status", "urgent",
           "created_at", "answer_due", "first_answer_at", "resolved_at", "closed_at", "rating")
SECOND = timedelta(seconds=1)
DATE_TEXT_MAX = 32  # a Jalali date typed in the form; anything longer is not one


def hours(since: datetime | None, until: datetime | None) -> float | None:
    """Hours between two moments, to two decimals; None if either is missing."""
    if since is None or until is None:
        return None
    return round((until - since).total_seconds() / 3600, 2)


def parse_range(start: str, end: str, now: datetime, tz: str
                ) -> tuple[datetime, datetime] | None:
    if len(start) > DATE_TEXT_MAX or len(end) > DATE_TEXT_MAX:
        return None
    return custom_range(start, end, now, tz)


def row_of(r: dict[str, Any], alerts: int, names: Names, tz: str) -> list[Any]:
    late = r["first_answer_at"] > r["answer_due"] if r["first_answer_at"] else None
    return [
        r["tracking_code"], names.groups.get(r["service_code"], ""),
        names.service(r["service_code"]), r["service_code"],
        names.district(r["district"]) if r["district"] else "—",
        names.unit(r["unit_code"]) if r["unit_code"] else "—",
        STATUS_STAFF.get(r["status"], r["status"]), "بله" if r["urgent"] else "خیر",
        jshort(r["created_at"], tz), jshort(r["answer_due"], tz),
        jshort(r["first_answer_at"], tz), jshort(r["resolved_at"], tz),
        jshort(r["closed_at"], tz),
        hours(r["created_at"], r["first_answer_at"]), hours(r["created_at"], r["resolved_at"]),
        "—" if late is None else ("بله" if late else "خیر"), alerts, r["rating"],
    ]


async def batches(start: datetime, end: datetime, names: Names, tz: str
                  ) -> AsyncIterator[list[list[Any]]]:
    """The range's tickets, BATCH at a time, oldest id first (keyset paging: each page is
    one indexed query, however far into the range)."""
    last = 0
    while True:
        rows = await Ticket.filter(created_at__gte=start, created_at__lt=end, id__gt=last
                                   ).order_by("id").limit(BATCH).values(*COLUMNS)
        if not rows:
            return
        ids = [r["id"] for r in rows]
        counted = await EscalationAlert.filter(ticket_id__in=ids).annotate(
            n=Count("id")).group_by("ticket_id").values("ticket_id", "n")
        alerts = {c["ticket_id"]: int(c["n"]) for c in counted}
        yield [row_of(r, alerts.get(r["id"], 0), names, tz) for r in rows]
        last = ids[-1]


def _csv_line(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(csv_safe(["" if cell is None else cell for cell in row]) for row in rows)
    return buffer.getvalue()


async def _csv(start: datetime, end: datetime, names: Names, tz: str) -> AsyncIterator[str]:
    yield "\ufeff" + _csv_line([HEADER])
    async for rows in batches(start, end, names, tz):
        yield _csv_line(rows)


async def _xlsx(start: datetime, end: datetime, names: Names, tz: str, path: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("درخواست‌ها")
    sheet.sheet_view.rightToLeft = True
    sheet.freeze_panes = "A2"
    header = []
    for title in HEADER:
        cell = WriteOnlyCell(sheet, title)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    async for rows in batches(start, end, names, tz):
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value)
                if formula_like(value):  # text, and kept text when edited in Excel
                    cell.data_type = "s"
                    cell.quotePrefix = True
                cells.append(cell)
            sheet.append(cells)
    await asyncio.to_thread(book.save, path)  # zipping a long sheet: off the event loop


@router.get("/export/tickets.{fmt}")
async def export_tickets(request: Request, fmt: str, staff: StaffDep, start: str = "",
                         end: str = "") -> Response:
    _allowed(staff)
    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404)
    tz = core_of(request).settings.timezone
    span = parse_range(start, end, now_of(request), tz)
    if span is None:
        raise HTTPException(400, RANGE_ERROR)
    names = names_of(request)
    first, last = (local_jalali(moment, tz) for moment in (span[0], span[1] - SECOND))
    filename = f"tickets-{first:%Y%m%d}-{last:%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        return StreamingResponse(_csv(*span, names, tz), media_type="text/csv; charset=utf-8",
                                 headers=headers)
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="peygir-export-")
    os.close(handle)
    try:
        await _xlsx(*span, names, tz, path)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(path, media_type=XLSX, headers=headers,
                        background=BackgroundTask(os.unlink, path))
