"""What every map page (the web chat's picker, the panel's views) draws under its markers:
the tile server (``PEYGIR_MAP_TILES``, if any) and the pack's district outlines.

Both are public: citizens pick their point on them. Served as small JSON documents (the
browser caches them for an hour); the pages' script is ``web/static/map.js``, Leaflet is
vendored in ``web/static/vendor/leaflet``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from shapely.geometry import mapping

from peygir.bots.core import Core

CACHE = {"Cache-Control": "public, max-age=3600"}


def districts_geojson(core: Core) -> dict[str, Any]:
    """The pack's districts as a FeatureCollection of their code and name."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": d.code, "name": d.name},
         "geometry": mapping(d.geometry)} for d in core.pack.city.districts]}


def map_config(core: Core) -> dict[str, Any]:
    settings = core.settings
    districts = core.pack.city.districts
    bounds = None
    if districts:
        boxes = [d.geometry.bounds for d in districts]
        bounds = [[min(b[1] for b in boxes), min(b[0] for b in boxes)],
                  [max(b[3] for b in boxes), max(b[2] for b in boxes)]]  # [[S, W], [N, E]]
    return {"tiles": settings.map_tiles or None,
            "attribution": settings.map_attribution if settings.map_tiles else "",
            "bounds": bounds, "districts": "/map/districts.geojson"}


def install(app: FastAPI, core: Core) -> None:
    config = map_config(core)
    outlines = districts_geojson(core)

    # Page assets like /static, not an API: left out of the OpenAPI document.
    @app.get("/map/config.json", include_in_schema=False)
    async def config_json() -> JSONResponse:
        return JSONResponse(config, headers=CACHE)

    @app.get("/map/districts.geojson", include_in_schema=False)
    async def districts() -> JSONResponse:
        return JSONResponse(outlines, media_type="application/geo+json", headers=CACHE)
