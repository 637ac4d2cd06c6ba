"""QR codes for staff members and places (issue 20): the pack's rules, and the city's file.

The rules sit in the pack's ``deadlines.yaml`` under ``qr:`` (every key optional)::

    qr:
      city_name: شهرداری نمونه  # printed on every sheet
      complaint_threshold: 5    # the panel flags a staff member with this many complaints ...
      complaint_days: 30        # ... in this many days

The city's file (``peygir qr sync FILE``) is kept by the city, not in the pack: YAML with
``staff:`` and ``places:`` lists, or a CSV with one row per entry (column ``type``: staff or
place). :func:`load_entries` reads either and names every problem it finds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from peygir.config.strict import Strict

PlaceKind = Literal["park", "bus_line", "metro_station", "market", "taxi", "other"]
PLACE_KINDS: tuple[str, ...] = ("park", "bus_line", "metro_station", "market", "taxi", "other")
REF_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"


class QrRules(Strict):
    city_name: str = Field(default="", max_length=120)
    complaint_threshold: int = Field(default=5, ge=1, le=100_000)
    complaint_days: int = Field(default=30, ge=1, le=366)


class StaffEntry(Strict):
    """A staff member: the city's own id, the name and role citizens see, and the unit (never
    shown to citizens; the review team reads it)."""

    id: str = Field(pattern=REF_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    role: str = Field(min_length=1, max_length=128)
    unit: str = Field(default="", max_length=64)


class PlaceEntry(Strict):
    """A place: a park, a bus line, a metro station, a market, a taxi line or another."""

    id: str = Field(pattern=REF_PATTERN)
    kind: PlaceKind = "other"
    name: str = Field(min_length=1, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    district: str | None = Field(default=None, max_length=64)
    services: tuple[str, ...] = ()

    @field_validator("services", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # CSV cells hold "park_maintenance; playground_equipment".
        if isinstance(value, str):
            return tuple(s.strip() for s in value.replace(",", ";").split(";") if s.strip())
        return value


@dataclass(frozen=True)
class Entries:
    staff: tuple[StaffEntry, ...]
    places: tuple[PlaceEntry, ...]
    city_name: str = ""  # the file's own ``city:``, if it names one


def load_entries(path: Path) -> tuple[Entries, list[str]]:
    """The city's file as entries, with a line for each problem (empty: all good)."""
    problems: list[str] = []
    text = path.read_text(encoding="utf-8-sig")
    raw_staff: list[Any] = []
    raw_places: list[Any] = []
    city = ""
    if path.suffix.lower() == ".csv":
        for row in csv.DictReader(io.StringIO(text)):
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k and v
                     and (v or "").strip()}
            kind = clean.pop("type", "")
            if kind == "staff":
                raw_staff.append(clean)
            elif kind == "place":
                raw_places.append(clean)
            else:
                problems.append(f"row {clean.get('id', '?')}: type must be staff or place")
    else:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            return Entries((), ()), [f"YAML syntax error: {exc}"]
        if not isinstance(data, dict):
            return Entries((), ()), ["expected a mapping with staff: and places:"]
        raw_staff = list(data.get("staff") or [])
        raw_places = list(data.get("places") or [])
        city = str(data.get("city") or "").strip()
    staff = [e for e in (_entry(StaffEntry, r, "staff", problems) for r in raw_staff) if e]
    places = [e for e in (_entry(PlaceEntry, r, "places", problems) for r in raw_places) if e]
    seen: set[tuple[str, str]] = set()
    for kind, items in (("staff", staff), ("places", places)):
        for item in items:
            if (kind, item.id) in seen:
                problems.append(f"{kind} {item.id}: duplicate id")
            seen.add((kind, item.id))
    return Entries(tuple(staff), tuple(places), city), problems  # type: ignore[arg-type]


def _entry(model: type[StaffEntry] | type[PlaceEntry], raw: Any, kind: str,
           problems: list[str]) -> StaffEntry | PlaceEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{kind}: an entry is not a mapping")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"{kind} {raw.get('id', '?')}: {where}: {error['msg']}")
        return None
