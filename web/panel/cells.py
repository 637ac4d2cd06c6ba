"""What every export shares: the XLSX media type, who may export, and cells kept as text.

A text cell starting with one of ``FORMULA_STARTS`` is a formula to Excel and LibreOffice
(OWASP's CSV injection list): an address typed as =HYPERLINK(...) must stay text for the
budget office.
"""

from __future__ import annotations

from typing import Any

from peygir.ticket_store.models import StaffRole

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    """A string a spreadsheet would evaluate; numbers (even negative ones) are left alone."""
    return isinstance(value, str) and value.lstrip(" \n").startswith(FORMULA_STARTS)


def csv_safe(row: list[Any]) -> list[Any]:
    """The row with each formula-like string behind a quote, which makes it text."""
    return ["'" + cell if formula_like(cell) else cell for cell in row]


def allowed(staff: Any) -> None:
    """Exports are for the centre and its managers, never a unit's crew."""
    staff.require(StaffRole.MANAGER, StaffRole.ADMIN, StaffRole.OPERATOR)
