"""The parts of a city pack that route and time tickets: executive units, district polygons
and deadline rules. All three are optional: a pack without them sends every ticket to the
centre's queue, with the national 137 deadlines.

``units.yaml``::

    units:
      - code: r1_services          # unique; what tickets and staff accounts refer to
        name: خدمات شهری منطقه ۱
        districts: [r1]            # district codes; leave out for a city-wide unit
        groups: [خدمات شهری]        # service groups it serves ...
        services: [asphalt]        # ... and/or single service codes
        manager: {name: ..., channel: telegram, chat_id: "123"}   # alerted after 24 h
        deputy:  {name: ..., channel: telegram, chat_id: "456"}   # alerted after 72 h

``districts.geojson``: a FeatureCollection of Polygon/MultiPolygon features whose
properties carry ``code`` and ``name``.

``deadlines.yaml``: hours for each deadline and the escalation ladder (see DeadlineRules).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from peygir.config.petitions import PetitionRules
from peygir.config.qr import QrRules


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Contact(_Strict):
    """Who is alerted when a unit's tickets go unanswered; a chat the outbox can reach."""

    name: str = Field(min_length=1)
    channel: str | None = None
    chat_id: str | None = None


class Unit(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1)
    districts: tuple[str, ...] = ()  # empty: the whole city
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    manager: Contact | None = None
    deputy: Contact | None = None


class Escalation(_Strict):
    after_hours: float = Field(gt=0)
    to: str = Field(pattern=r"^(manager|deputy)$")


class DeadlineRules(_Strict):
    """The 137 centres' rules; a city may tighten them."""

    urgent_onsite_hours: float = Field(default=2, gt=0)
    urgent_answer_hours: float = Field(default=24, gt=0)
    first_answer_hours: float = Field(default=120, gt=0)
    escalate: tuple[Escalation, ...] = (
        Escalation(after_hours=24, to="manager"),
        Escalation(after_hours=72, to="deputy"),
    )
    # A rating given on a ticket answered late counts this much of a timely one.
    late_rating_factor: float = Field(default=0.6, ge=0, le=1)
    # A resolved ticket the citizen neither accepts nor contests is closed after this long.
    auto_close_hours: float = Field(default=72, gt=0)
    # Petitions' thresholds and the deadline of their formal answer (config/petitions.py).
    petitions: PetitionRules = PetitionRules()
    # QR codes' sheets and the panel's complaint flag (config/qr.py, issue 20).
    qr: QrRules = QrRules()

    @property
    def urgent_onsite(self) -> timedelta:
        return timedelta(hours=self.urgent_onsite_hours)

    @property
    def urgent_answer(self) -> timedelta:
        return timedelta(hours=self.urgent_answer_hours)

    @property
    def first_answer(self) -> timedelta:
        return timedelta(hours=self.first_answer_hours)


@dataclass(frozen=True)
class District:
    code: str
    name: str
    geometry: BaseGeometry

    @cached_property
    def prepared(self) -> PreparedGeometry[BaseGeometry]:
        return prep(self.geometry)


@dataclass(frozen=True)
class CityProblem:
    file: str
    entry: str | None
    field: str | None
    message: str


@dataclass(frozen=True)
class City:
    units: tuple[Unit, ...] = ()
    districts: tuple[District, ...] = ()
    rules: DeadlineRules = field(default_factory=DeadlineRules)

    @cached_property
    def unit_by_code(self) -> dict[str, Unit]:
        return {u.code: u for u in self.units}

    @cached_property
    def district_by_code(self) -> dict[str, District]:
        return {d.code: d for d in self.districts}

    @cached_property
    def deputy_by_unit(self) -> dict[str, str]:
        """Each unit's deputy (معاونت), by the deputy's name; units without one are left out."""
        return {u.code: u.deputy.name for u in self.units if u.deputy is not None}

    def deputy_for_service(self, service_code: str, group: str) -> str | None:
        """The deputy over a service not yet placed with a unit: the one deputy of every unit
        serving it in any district (units naming the service before those naming its group,
        as routing does); None when none or several do."""
        named = [u for u in self.units if service_code in u.services]
        serving = named or [u for u in self.units if group in u.groups]
        found = {self.deputy_by_unit.get(u.code) for u in serving}
        return found.pop() if len(found) == 1 else None

    def district_at(self, lat: float, lon: float) -> District | None:
        point = Point(lon, lat)  # GeoJSON order: longitude first
        for district in self.districts:
            if district.prepared.covers(point):
                return district
        return None

    def unit_for(self, service_code: str, group: str, district: str | None) -> Unit | None:
        """The unit serving this service in this district; a district unit before a
        city-wide one, a unit naming the service before one naming its group."""
        best: tuple[int, Unit] | None = None
        for unit in self.units:
            if unit.districts and district not in unit.districts:
                continue
            if service_code in unit.services:
                rank = 0
            elif group in unit.groups:
                rank = 1
            else:
                continue
            rank += 0 if unit.districts else 2
            if best is None or rank < best[0]:
                best = (rank, unit)
        return best[1] if best else None


def load_city(folder: Path, service_groups: dict[str, str]) -> tuple[City, list[CityProblem]]:
    """Read units, districts and deadlines; ``service_groups`` maps each code to its group."""
    problems: list[CityProblem] = []
    districts = _load_districts(folder / "districts.geojson", problems)
    rules = _load_rules(folder / "deadlines.yaml", problems)
    units = _load_units(folder / "units.yaml", problems)
    known_districts = {d.code for d in districts}
    groups = set(service_groups.values())
    seen: set[str] = set()
    claims: dict[tuple[str, str, str], str] = {}
    for unit in units:
        if unit.code in seen:
            problems.append(CityProblem("units.yaml", unit.code, "code", "duplicate unit code"))
        seen.add(unit.code)
        for code in unit.districts:
            if code not in known_districts:
                problems.append(CityProblem("units.yaml", unit.code, "districts",
                                            f"unknown district '{code}'"))
        for code in unit.services:
            if code not in service_groups:
                problems.append(CityProblem("units.yaml", unit.code, "services",
                                            f"unknown service code '{code}'"))
        for group in unit.groups:
            if group not in groups:
                problems.append(CityProblem("units.yaml", unit.code, "groups",
                                            f"unknown service group '{group}'"))
        if not (unit.services or unit.groups):
            problems.append(CityProblem("units.yaml", unit.code, "services",
                                        "a unit must serve some services or groups"))
        for kind, items in (("service", unit.services), ("group", unit.groups)):
            for item in items:
                for district in unit.districts or ("*",):
                    key = (kind, item, district)
                    if key in claims and claims[key] != unit.code:
                        problems.append(CityProblem(
                            "units.yaml", unit.code, kind + "s",
                            f"{kind} '{item}' in district '{district}' is already served by "
                            f"unit '{claims[key]}'"))
                    claims.setdefault(key, unit.code)
    for name, message in rules.petitions.problems(seen, set(service_groups)):
        problems.append(CityProblem("deadlines.yaml", None, name, message))
    return City(units=tuple(units), districts=tuple(districts), rules=rules), problems


def _load_units(path: Path, problems: list[CityProblem]) -> list[Unit]:
    data = _yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("units"), list):
        problems.append(CityProblem(path.name, None, "units", "expected a top-level list 'units:'"))
        return []
    units = []
    for i, raw in enumerate(data["units"]):
        label = raw.get("code") if isinstance(raw, dict) else None
        unit = _validated(Unit, raw, path.name, str(label or f"entry #{i + 1}"), problems)
        if unit is not None:
            units.append(unit)
    return units


def _load_rules(path: Path, problems: list[CityProblem]) -> DeadlineRules:
    data = _yaml(path, problems)
    if data is None:
        return DeadlineRules()
    rules = _validated(DeadlineRules, data, path.name, None, problems)
    if rules is None:
        return DeadlineRules()
    hours = [step.after_hours for step in rules.escalate]
    if hours != sorted(hours):
        problems.append(CityProblem(path.name, None, "escalate",
                                    "escalation steps must come in order of after_hours"))
    return rules


def _load_districts(path: Path, problems: list[CityProblem]) -> list[District]:
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(CityProblem(path.name, None, None, f"not valid JSON: {exc}"))
        return []
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        problems.append(CityProblem(path.name, None, None, "expected a GeoJSON FeatureCollection"))
        return []
    districts: list[District] = []
    for i, feature in enumerate(data["features"]):
        props = feature.get("properties") or {} if isinstance(feature, dict) else {}
        code = str(props.get("code") or "").strip()
        label = code or f"feature #{i + 1}"
        if not code:
            problems.append(CityProblem(path.name, label, "properties.code",
                                        "missing district code"))
            continue
        if code in {d.code for d in districts}:
            problems.append(CityProblem(path.name, code, "properties.code",
                                        "duplicate district code"))
            continue
        try:
            geometry = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(CityProblem(path.name, code, "geometry", f"unreadable geometry: {exc}"))
            continue
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(CityProblem(
                path.name, code, "geometry",
                f"must be a Polygon or MultiPolygon, not {geometry.geom_type}"))
            continue
        if not geometry.is_valid or geometry.is_empty:
            problems.append(CityProblem(path.name, code, "geometry",
                                        "polygon is empty or crosses itself"))
            continue
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            problems.append(CityProblem(path.name, code, "geometry",
                                        "coordinates must be longitude, latitude in degrees"))
            continue
        districts.append(District(code, str(props.get("name") or code), geometry))
    return districts


def _yaml(path: Path, problems: list[CityProblem]) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problems.append(CityProblem(path.name, None, None, f"YAML syntax error: {exc}"))
        return None


_Model = TypeVar("_Model", bound=_Strict)


def _validated(model: type[_Model], raw: Any, file: str, label: str | None,
               problems: list[CityProblem]) -> _Model | None:
    if not isinstance(raw, dict):
        problems.append(CityProblem(file, label, None, "must be a mapping of fields"))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"]) or None
            message = {"missing": "required field is missing",
                       "extra_forbidden": "unknown field"}.get(err["type"], err["msg"])
            problems.append(CityProblem(file, label, field, message))
        return None
