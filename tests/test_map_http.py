"""The map's HTTP side: the tile server's origin in the pages' CSP only when one is
configured, the map's configuration and district outlines, the settings' checks, and the
panel's map JSON kept to what each staff member's queue shows (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from peygir.bots.core import Core
from peygir.config.settings import Settings
from peygir.messages.types import Location
from peygir.ticket_store import store
from peygir.ticket_store.models import Citizen
from peygir.web.app import create_app
from peygir.web.guards import tiles_source
from tests.panel_support import build_app, client, signed_in

TILES = "https://tiles.example-city.ir/osm/{z}/{x}/{y}.png"


def app_with(**settings: object):
    return create_app(Core.build(Settings(_env_file=None, **settings)))  # type: ignore[arg-type]


def img_src(response: httpx.Response) -> str:
    found = re.search(r"img-src ([^;]*);", response.headers["content-security-policy"])
    assert found
    return found.group(1)


async def test_tile_origin_is_allowed_only_when_configured() -> None:
    for app, expected in ((app_with(), "'self' data:"),
                          (app_with(map_tiles=TILES), "'self' data: https://tiles.example-city.ir")):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            for path in ("/", "/panel/login", "/map/config.json"):
                answer = await c.get(path)
                assert img_src(answer) == expected, path
                # Only images: scripts and connections stay this origin's.
                assert "script-src 'self';" in answer.headers["content-security-policy"]
                assert "connect-src 'self';" in answer.headers["content-security-policy"]


def test_tile_sources() -> None:
    assert tiles_source("") == ""
    assert tiles_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == \
        "https://*.tile.example.org"
    assert tiles_source("http://127.0.0.1:8080/{z}/{x}/{y}.png") == "http://127.0.0.1:8080"


@pytest.mark.parametrize("field, value", [
    ("map_tiles", "https://tiles.example.org/tiles.png"),  # no {z}/{x}/{y}
    ("map_tiles", "javascript:alert(1)//{z}/{x}/{y}"),
    ("map_tiles", "ftp://tiles.example.org/{z}/{x}/{y}.png"),
    ("geocoder", "nominatim.example.org"),
    ("geocoder", "https://nominatim example.org"),
    ("geocoder_timeout", "0"),
    ("geocoder_timeout", "3600"),
])
def test_bad_map_settings_stop_the_start(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]


async def test_config_and_outlines() -> None:
    bare, tiled = app_with(), app_with(map_tiles=TILES, map_attribution="© OSM")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://t") as c:
        config = (await c.get("/map/config.json")).json()
        assert config["tiles"] is None and config["attribution"] == ""
        assert config["bounds"] == [[34.76, 48.47], [34.84, 48.55]]
        outlines = await c.get(config["districts"])
        assert outlines.headers["content-type"].startswith("application/geo+json")
        features = outlines.json()["features"]
        assert [f["properties"]["code"] for f in features] == ["r1", "r2", "r3", "r4"]
        assert features[0]["geometry"]["type"] == "Polygon"
        pack = json.loads((Path(__file__).parents[1] / "config/pack/districts.geojson")
                          .read_text(encoding="utf-8"))
        assert features[2]["geometry"]["coordinates"][0] == \
            [list(p) for p in pack["features"][2]["geometry"]["coordinates"][0]]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tiled),
                                 base_url="http://t") as c:
        config = (await c.get("/map/config.json")).json()
        assert config["tiles"] == TILES and config["attribution"] == "© OSM"


async def test_panel_maps_show_each_role_its_own_queue(db: str, tmp_path: Path) -> None:
    app = build_app(db, tmp_path / "media")
    core: Core = app.state.core
    city = core.pack.city
    citizen = await Citizen.create(channel="memory", user_id="c1")
    codes = {}
    for district in ("r1", "r3"):
        point = city.district_by_code[district].geometry.representative_point()
        filed = await core.workflow.file_report(citizen, "memory", "c1", store.NewTicket(
            "waste_bin", "گزارش آزمایشی", False, location=Location(point.y, point.x)))
        codes[district] = filed.ticket.tracking_code
    await core.workflow.file_report(citizen, "memory", "c1", store.NewTicket(
        "waste_bin", "بی‌نشانی", False))  # no point: on no map
    unit = city.unit_for("waste_bin", core.pack.service_by_code["waste_bin"].group, "r1")
    assert unit is not None

    async with signed_in(app, "op", "operator") as op:
        points = (await op.get("/panel/queue/map.json")).json()
        assert {p["code"] for p in points["points"]} == set(codes.values())
        assert points["total"] == points["shown"] == 2
        only_r3 = (await op.get("/panel/queue/map.json", params={"district": "r3"})).json()
        assert [p["code"] for p in only_r3["points"]] == [codes["r3"]]
        odd = await op.get("/panel/queue/map.json", params={"service": "x" * 10_000,
                                                            "state": "\u0000"})
        assert odd.status_code == 200 and odd.json()["points"] == []
        hot = (await op.get("/panel/dashboard/hotspots.json")).json()
        assert sorted((d["code"], d["count"]) for d in hot["districts"]) == [("r1", 1),
                                                                            ("r3", 1)]
        assert len(hot["points"]) == 2
        page = await op.get("/panel/queue/map", params={"district": "r3"})
        assert page.status_code == 200 and 'data-map="queue"' in page.text
        assert "/panel/queue/map.json?state=open&amp;district=r3" in page.text
    async with signed_in(app, "crew", "unit", unit=unit.code) as crew:
        points = (await crew.get("/panel/queue/map.json")).json()
        assert [p["code"] for p in points["points"]] == [codes["r1"]]  # its own only
        hot = (await crew.get("/panel/dashboard/hotspots.json")).json()
        assert [d["code"] for d in hot["districts"]] == ["r1"]
    async with client(app) as stranger:
        answer = await stranger.get("/panel/queue/map.json")
        assert answer.status_code == 303 and "points" not in answer.text


async def test_open311_address_is_geocoded_too(db: str, tmp_path: Path) -> None:
    from peygir.ticket_store.models import Ticket
    from tests.fakes.geo import FakeNominatim, Place

    fake = FakeNominatim(places=[Place("خیابان سعدی کوچه یاس", 34.8312, 48.4811),  # r1
                                 Place("میدان شهدا", 34.8211, 48.5302)])  # r2
    with fake.running():
        app = create_app(Core.build(Settings(
            database_url=db, media_dir=tmp_path / "media", open311_keys="k1",
            geocoder=fake.url, geocoder_interval=0, geocoder_timeout=1, _env_file=None)))
        async with client(app) as c:
            found = await c.post("/open311/v2/requests.json", data={
                "api_key": "k1", "service_code": "waste_bin",
                "address_string": "خیابان سعدی کوچه یاس", "description": "آزمون"})
            unknown = await c.post("/open311/v2/requests.json", data={
                "api_key": "k1", "service_code": "waste_bin",
                "address_string": "جایی که نقشه نمی‌شناسد"})
        fake.status = 503
        async with client(app) as c:
            down = await c.post("/open311/v2/requests.json", data={
                "api_key": "k1", "service_code": "waste_bin",
                "address_string": "میدان شهدا"})  # known, but the geocoder is down
    assert found.status_code == unknown.status_code == down.status_code == 200, down.text
    placed = await Ticket.get(tracking_code=found.json()[0]["service_request_id"])
    assert placed.district == "r1" and placed.unit_code == "r1_services"
    assert placed.address == "خیابان سعدی کوچه یاس"
    for answer in (unknown, down):
        ticket = await Ticket.get(tracking_code=answer.json()[0]["service_request_id"])
        assert ticket.unit_code is None and ticket.latitude is None and ticket.status == "new"
