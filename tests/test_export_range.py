"""The export of every ticket filed in a range of Jalali dates, as CSV and XLSX, on SQLite and
PostgreSQL through the real panel routes: the timings equal a direct computation, dates are
Jalali, the year is written ۱۴۰۵ (no thousands separator), rows come in pages, formula-like
values stay text, and a bad range gets a Persian message."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from peygir.messages.digits import persian_digits
from peygir.messages.persian import local_jalali
from peygir.ticket_store.models import EscalationAlert, Ticket
from peygir.web.panel import export_range
from peygir.web.panel.export_range import HEADER
from peygir.web.panel.fmt import jshort
from tests.panel_support import build_app, days_ago, file, signed_in

HOURS_TO_ANSWER, HOURS_TO_DONE = HEADER.index("ساعت تا نخستین پاسخ"), HEADER.index("ساعت تا انجام")
ALERTS, RATING = HEADER.index("هشدارهای ارجاع به مدیر"), HEADER.index("امتیاز شهروند")
CREATED = HEADER.index("تاریخ ثبت")


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


def typed(moment: datetime, ascii_digits: bool = False) -> str:
    j = local_jalali(moment)
    text = f"{j.year}/{j.month:02d}/{j.day:02d}"
    return text if ascii_digits else persian_digits(text)


async def _tickets() -> dict[str, Ticket]:
    """Seven tickets in the last ten days with answers, resolutions, alerts and ratings, and
    one filed long before the range."""
    made: dict[str, Ticket] = {}
    for n in range(7):
        created = days_ago(9 - n) - timedelta(minutes=37 * n)
        ticket = await file("asphalt" if n % 2 else "waste_bin", chat=f"c{n}", now=created,
                            unit="north_works", district="r1")
        changes: dict[str, object] = {}
        if n >= 1:  # answered after an odd number of minutes: hours have decimals
            changes["first_answer_at"] = created + timedelta(hours=n * 3, minutes=7 * n)
        if n >= 3:
            changes |= {"status": "closed", "resolved_at": created + timedelta(hours=30 + n),
                        "closed_at": created + timedelta(hours=40 + n), "rating": n - 2}
        if n == 5:
            changes["district"] = "=1+2"  # not in the pack: shown as it is, and as text
        await Ticket.filter(id=ticket.id).update(**changes)
        for level in range(1, n % 3 + 1):
            await EscalationAlert.create(ticket=ticket, level=level, fired_at=created,
                                         recipient="manager")
        await ticket.refresh_from_db()
        made[ticket.tracking_code] = ticket
    await file("asphalt", chat="old", now=days_ago(400))
    return made


def _hours(since: datetime | None, until: datetime | None) -> float | None:
    if since is None or until is None:
        return None
    return round((until - since).total_seconds() / 3600, 2)


async def _check_rows(rows: list[list[object]], made: dict[str, Ticket],
                      as_text: bool) -> None:
    assert sorted(str(r[0]) for r in rows) == sorted(made)  # the old one is out of range
    for row in rows:
        ticket = made[str(row[0])]
        alerts = await EscalationAlert.filter(ticket_id=ticket.id).count()
        expected = [_hours(ticket.created_at, ticket.first_answer_at),
                    _hours(ticket.created_at, ticket.resolved_at), alerts, ticket.rating]
        got = [row[HOURS_TO_ANSWER], row[HOURS_TO_DONE], row[ALERTS], row[RATING]]
        if as_text:  # CSV: numbers as a spreadsheet reads them, empty for none
            got = [None if v == "" else float(str(v)) for v in got]
            expected = [None if v is None else float(v) for v in expected]
        assert got == expected, (row, expected)
        assert row[CREATED] == jshort(ticket.created_at)
        assert str(row[CREATED]).startswith("۱۴") and "٬" not in str(row[CREATED])


async def test_csv_of_a_range_with_timings_escalations_and_ratings(app, monkeypatch) -> None:
    monkeypatch.setattr(export_range, "BATCH", 3)  # seven rows: three pages and a short one
    made = await _tickets()
    start, end = typed(days_ago(10)), typed(days_ago(0), ascii_digits=True)
    async with signed_in(app, "boss", "manager") as c:
        response = await c.get("/panel/export/tickets.csv", params={"start": start, "end": end})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert "attachment" in disposition and ".csv" in disposition
    assert response.content.startswith("\ufeff".encode())  # a BOM, for Excel
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == HEADER
    await _check_rows(rows[1:], made, as_text=True)  # type: ignore[arg-type]
    districts = {row[4] for row in rows[1:]}
    assert "'=1+2" in districts  # formula-like: behind a quote


async def test_xlsx_of_a_range_keeps_numbers_and_text(app) -> None:
    made = await _tickets()
    start, end = typed(days_ago(10), ascii_digits=True), typed(days_ago(0))
    async with signed_in(app, "ops", "operator") as c:
        response = await c.get("/panel/export/tickets.xlsx", params={"start": start, "end": end})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    assert sheet.sheet_view.rightToLeft
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADER
    body = [[None if v is None else v for v in row] for row in rows[1:]]
    await _check_rows(body, made, as_text=False)
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    hostile = [c for c in cells if c.value == "=1+2"]
    assert hostile and all(c.data_type == "s" and c.quotePrefix for c in hostile)
    assert all(isinstance(r[HOURS_TO_ANSWER], float | int) for r in body
               if r[HOURS_TO_ANSWER] is not None)


async def test_the_export_page_writes_the_year_without_a_separator(app) -> None:
    year = local_jalali(days_ago(0)).year
    async with signed_in(app, "boss", "manager") as c:
        page = (await c.get("/panel/export")).text
        assert f"سال {persian_digits(str(year))}</h1>" in page
        assert "۱٬۴" not in page
        start, end = typed(days_ago(3)), typed(days_ago(0))
        ready = (await c.get("/panel/export", params={"start": start, "end": end})).text
        assert 'id="range-csv"' in ready and 'id="range-error"' not in ready


BAD_RANGES = [
    ("1405/13/01", "1405/13/02"),  # no such month
    ("1405/05/10", "1405/05/01"),  # the end before the start
    ("1300/01/01", "1405/01/01"),  # longer than five years
    ("دیروز", "امروز"),
    ("", "1405/01/01"),
    ("1" * 5000, "1405/01/01"),
]


async def test_a_bad_range_gets_a_persian_message(app) -> None:
    tomorrow = typed(days_ago(-2))
    async with signed_in(app, "boss", "manager") as c:
        for start, end in [*BAD_RANGES, (tomorrow, tomorrow)]:
            page = await c.get("/panel/export", params={"start": start, "end": end})
            assert page.status_code == 200
            assert 'id="range-error"' in page.text and "۱۴۰۵/۰۸/۰۱" in page.text, start
            assert 'id="range-csv"' not in page.text
            for fmt in ("csv", "xlsx"):
                refused = await c.get(f"/panel/export/tickets.{fmt}",
                                      params={"start": start, "end": end})
                assert refused.status_code == 400, (start, end)
                assert "بازهٔ تاریخ" in refused.text


async def test_a_unit_cannot_export(app) -> None:
    async with signed_in(app, "crew", "unit", unit="north_works") as c:
        start, end = typed(days_ago(3)), typed(days_ago(0))
        response = await c.get("/panel/export/tickets.csv", params={"start": start, "end": end})
        assert response.status_code == 403
        assert (await c.get("/panel/export/tickets.pdf")).status_code in (403, 404)
