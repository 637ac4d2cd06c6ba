"""The city's districts drawn as SVG from the pack's GeoJSON polygons, with a ticket's
location on top: a map with no tile server and nothing fetched.

A flat projection (longitude scaled by the cosine of the mean latitude) is exact enough at a
city's scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from peygir.config.city import District

Ring = Sequence[Sequence[float]]  # [(lon, lat), ...]


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    rings: tuple[Ring, ...]


def _rings(geometry: Any) -> tuple[Ring, ...]:
    if hasattr(geometry, "__geo_interface__"):  # a shapely geometry
        geometry = geometry.__geo_interface__
    if not isinstance(geometry, dict):
        return ()
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "Polygon":
        return tuple(coords[:1])
    if kind == "MultiPolygon":
        return tuple(poly[0] for poly in coords if poly)
    return ()


def areas_of(districts: Iterable[District]) -> list[Area]:
    """The pack's districts as outer rings; districts with no polygon are left out."""
    out = []
    for d in districts:
        rings = _rings(d.geometry)
        if rings:
            out.append(Area(d.code, d.name, rings))
    return out


def district_map(areas: Sequence[Area], point: tuple[float, float] | None = None,
                 highlight: str | None = None, width: int = 480) -> Markup | None:
    """An SVG of the districts, the ticket's district filled and its point marked.

    ``point`` is (lat, lon). None when there is nothing to draw.
    """
    lons = [p[0] for a in areas for r in a.rings for p in r]
    lats = [p[1] for a in areas for r in a.rings for p in r]
    if point is not None:
        lats.append(point[0])
        lons.append(point[1])
    if not lons:
        return None
    if max(lons) - min(lons) < 1e-4:  # a lone point: frame a few hundred metres round it
        lons += [min(lons) - 0.005, max(lons) + 0.005]
        lats += [min(lats) - 0.004, max(lats) + 0.004]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    x0, x1 = min(lons) * k, max(lons) * k
    y0, y1 = min(lats), max(lats)
    pad = 10
    scale = (width - 2 * pad) / max(x1 - x0, 1e-9)
    height = int((y1 - y0) * scale + 2 * pad)

    def xy(lon: float, lat: float) -> str:
        return f"{pad + (lon * k - x0) * scale:.1f},{pad + (y1 - lat) * scale:.1f}"

    parts = [f'<svg class="map" direction="ltr" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="نقشهٔ محل گزارش" xmlns="http://www.w3.org/2000/svg">']
    for area in areas:
        css = "district here" if area.code == highlight else "district"
        for ring in area.rings:
            points = " ".join(xy(p[0], p[1]) for p in ring)
            parts.append(f'<polygon class="{css}" points="{points}">'
                         f"<title>{escape(area.name)}</title></polygon>")
        cx = sum(p[0] for p in area.rings[0]) / len(area.rings[0])
        cy = sum(p[1] for p in area.rings[0]) / len(area.rings[0])
        cx_cy = xy(cx, cy).split(",")
        parts.append(f'<text class="district-name" x="{cx_cy[0]}" y="{cx_cy[1]}" '
                     f'text-anchor="middle">{escape(area.name)}</text>')
    if point is not None:
        px, py = xy(point[1], point[0]).split(",")
        parts.append(f'<circle class="pin" cx="{px}" cy="{py}" r="7"/>'
                     f'<circle class="pin-dot" cx="{px}" cy="{py}" r="2.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
