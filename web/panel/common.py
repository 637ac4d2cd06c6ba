"""What every panel page shares: the templates, the pack's names, rendering with the staff
member, their CSRF token and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from peygir.bots.core import Core
from peygir.web.panel.fmt import filters
from peygir.web.panel.geo import areas_of

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def make_templates(timezone: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.filters.update(filters(timezone))
    return templates


def core_of(request: Request) -> Core:
    return request.app.state.core


def now_of(request: Request) -> datetime:
    """The clock; tests may pin it through ``app.state.panel_clock``."""
    clock = getattr(request.app.state, "panel_clock", None)
    return clock() if clock else datetime.now(UTC)


class Names:
    """Persian names for the codes the panel shows (services, units, districts), and the
    districts' outlines for the ticket map; built once from the pack."""

    def __init__(self, core: Core) -> None:
        pack = core.pack
        self.services = {s.service_code: s.service_name for s in pack.services}
        self.groups = {s.service_code: s.group for s in pack.services}
        self.units = {u.code: u.name for u in pack.city.units}
        self.districts = {d.code: d.name for d in pack.city.districts}
        self.areas = areas_of(pack.city.districts)

    def service(self, code: str | None) -> str:
        return self.services.get(code or "", code or "—")

    def unit(self, code: str | None) -> str:
        return self.units.get(code or "", code or "—")

    def district(self, code: str | None) -> str:
        return self.districts.get(code or "", code or "—")


def names_of(request: Request) -> Names:
    names = getattr(request.app.state, "panel_names", None)
    if names is None:
        names = request.app.state.panel_names = Names(core_of(request))
    return names


def render(request: Request, template: str, context: dict[str, Any],
           status_code: int = 200) -> HTMLResponse:
    staff = getattr(request.state, "staff", None)
    base = {
        "staff": staff,
        "csrf": staff.session.csrf_token if staff else "",
        "now": now_of(request),
        "names": names_of(request),
    }
    return request.app.state.panel_templates.TemplateResponse(
        request, template, base | context, status_code=status_code)
