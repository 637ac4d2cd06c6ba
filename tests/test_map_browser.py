"""The map in real Chromium against the real `peygir serve`, with a tile server and a
Nominatim geocoder on loopback (tests/fakes/geo.py), at phone and desktop sizes:

- a citizen picks the point on the web chat's map (or drags the device's point) and the
  report goes to the unit of that point's district;
- a typed address, geocoded by the loopback Nominatim, does too;
- staff see the ticket's point, the queue as a map and the day's hotspots on the map;
- without a tile server the map is the district outlines alone, and nothing outside is asked.

Screenshots go to artifacts/screenshots/map-*.png.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.fakes.geo import FakeNominatim, Place, TileServer
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 860}}
TIMEOUT_MS = 20_000
PASSWORD = "a long test password for the map"
AGENT = "peygir-map-test/1.0"
# A subject the district units serve (خدمات شهری): routed by district, r1..r4 each its own.
REPORT = "سطل زباله سر کوچه ما پر شده و بو میده"  # street services: the district's services unit
ADDRESS = "بلوار ارم کوچه نرگس"
# The built-in pack: r1 NW, r2 NE, r3 SW, r4 SE of 48.47–48.55 E, 34.76–34.84 N.
ADDRESS_PLACE = Place("بلوار ارم کوچه نرگس", 34.7712, 48.5391)  # r4
UNIT_OF = {"r1": "r1_services", "r2": "r2_services", "r3": "r3_services", "r4": "r4_services"}


@dataclass
class Site:
    url: str
    db: Path
    tiles: TileServer | None
    geocoder: FakeNominatim | None

    def ticket(self, code: str) -> dict[str, object]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM ticket WHERE tracking_code = ?", (code,)).fetchone()
        assert row is not None, code
        return dict(row)


def _peygir(env: dict[str, str], *args: str, stdin: str = "") -> None:
    subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=env,
                   input=stdin, text=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("map")
    (tmp / "media").mkdir()
    tiles = TileServer()
    nominatim = FakeNominatim(places=[ADDRESS_PLACE])
    with tiles.running(), nominatim.running():
        env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/map.db",
                        PEYGIR_MEDIA_DIR=str(tmp / "media"),
                        PEYGIR_MAP_TILES=tiles.tiles_url(),
                        PEYGIR_MAP_ATTRIBUTION="© نقشهٔ آزمایشی <b>x</b>",
                        PEYGIR_GEOCODER=nominatim.url, PEYGIR_GEOCODER_AGENT=AGENT,
                        PEYGIR_GEOCODER_INTERVAL="0")
        _peygir(env, "users", "add", "op1", "--role", "operator", "--password-stdin",
                stdin=PASSWORD + "\n")
        with serving(env, tmp / "server.log"):
            yield Site(f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}", tmp / "map.db", tiles,
                       nominatim)


@pytest.fixture(scope="module")
def bare_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """No tile server, no geocoder: the defaults."""
    tmp = tmp_path_factory.mktemp("bare")
    (tmp / "media").mkdir()
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/bare.db",
                    PEYGIR_MEDIA_DIR=str(tmp / "media"))
    with serving(env, tmp / "server.log"):
        yield Site(f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}", tmp / "bare.db", None, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A fresh browser context of one size that collects script, CSP and HTTP errors."""

    def __init__(self, browser: Browser, site: Site, size: str, **context: object) -> None:
        self.size = size
        self.context = browser.new_context(viewport=SIZES[size], locale="fa-IR",
                                           base_url=site.url, **context)  # type: ignore[arg-type]
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and "favicon" not in m.text else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)

    def shoot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"map-{name}-{self.size}.png"))

    def close(self) -> None:
        errors, self.errors = self.errors, []
        self.context.close()
        assert errors == [], f"browser errors: {errors}"


@pytest.fixture(params=list(SIZES))
def visit(request: pytest.FixtureRequest, browser: Browser, site: Site) -> Iterator[Visit]:
    v = Visit(browser, site, request.param, geolocation={"latitude": 34.83, "longitude": 48.505},
              permissions=["geolocation"])
    yield v
    v.close()


# -- the citizen's side ----------------------------------------------------------------------
def bot_count(page: Page) -> int:
    return page.locator("#messages .msg.bot:not(.error)").count()


def wait_reply(page: Page, before: int) -> str:
    expect(page.locator("#messages .msg.bot:not(.error)").nth(before)).to_be_visible()
    expect(page.locator("#typing")).to_be_hidden()
    return page.locator("#messages .msg.bot").last.inner_text()


def describe_problem(page: Page) -> None:
    """Write the report; pick the first subject if asked; end where the bot asks where."""
    page.goto("/")
    before = bot_count(page)
    page.locator("#text").fill(REPORT)
    page.locator("#text").press("Enter")
    wait_reply(page, before)
    last = page.locator("#messages .msg.bot").last
    choices = last.locator('button.choice[data-callback^="svc:"]')
    if choices.count():
        before = bot_count(page)
        choices.first.click()
        wait_reply(page, before)
    expect(page.locator("#location")).to_have_class(re.compile(r"\bhighlight\b"))


def confirm_and_code(page: Page) -> str:
    confirm = page.locator('#messages .msg.bot').last.locator('button[data-callback="confirm"]')
    before = bot_count(page)
    confirm.click()
    text = wait_reply(page, before)
    found = re.search(r"[۰-۹]{8}", text)
    assert found, text
    return found.group(0).translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))


def open_picker(page: Page) -> None:
    page.locator("#map-pick").click()
    expect(page.locator("#map-sheet")).to_be_visible()
    expect(page.locator("#map-pick-map")).to_have_attribute("data-map-ready", "true")
    for code in UNIT_OF:
        expect(page.locator(f"#map-pick-map path.district-{code}")).to_be_attached()


def test_a_point_picked_on_the_map_goes_to_its_district_unit(visit: Visit, site: Site) -> None:
    page = visit.page
    describe_problem(page)
    open_picker(page)
    # The city's tiles, from its tile server, under the outlines (the CSP let them in).
    expect(page.locator("#map-pick-map img.leaflet-tile-loaded").first).to_be_visible()
    assert site.tiles is not None
    assert any(re.fullmatch(r"/\d+/\d+/\d+\.png", p) for p in site.tiles.served())
    expect(page.locator("#map-pick-map .leaflet-control-attribution")).to_contain_text(
        "© نقشهٔ آزمایشی <b>x</b>")  # the setting shown as text, not markup
    expect(page.locator("#map-pick-send")).to_be_disabled()
    page.locator("#map-pick-map path.district-r2").click()  # the middle of district 2
    expect(page.locator("#map-pick-hint")).to_contain_text("منطقه ۲")
    expect(page.locator("#map-pick-map .leaflet-marker-icon")).to_be_visible()
    visit.shoot("picker")
    before = bot_count(page)
    page.locator("#map-pick-send").click()
    expect(page.locator("#map-sheet")).to_be_hidden()
    assert "موقعیت: دریافت شد" in wait_reply(page, before)
    ticket = site.ticket(confirm_and_code(page))
    assert ticket["district"] == "r2" and ticket["unit_code"] == UNIT_OF["r2"]
    assert ticket["status"] == "assigned"
    assert 34.80 < ticket["latitude"] < 34.84 and 48.51 < ticket["longitude"] < 48.55


def test_the_device_point_dragged_to_the_right_district(visit: Visit, site: Site) -> None:
    page = visit.page
    describe_problem(page)
    open_picker(page)
    page.locator("#map-pick-mine").click()  # the device says district 1 (34.83 N, 48.505 E)
    marker = page.locator("#map-pick-map .leaflet-marker-icon")
    expect(marker).to_be_visible()
    expect(page.locator("#map-pick-hint")).to_contain_text("منطقه ۱")
    # The problem is across the boundary, in district 2: the citizen drags the pin there.
    box = marker.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 4
    page.mouse.move(x, y)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):  # to the east, past the r1/r2 boundary (48.51 E)
        page.mouse.move(x + i * 18, y, steps=2)
    page.mouse.up()
    moved = marker.bounding_box()
    assert moved is not None and moved["x"] > box["x"] + 150
    expect(page.locator("#map-pick-hint")).to_contain_text("منطقه ۲")
    visit.shoot("dragged")
    before = bot_count(page)
    page.locator("#map-pick-send").click()
    wait_reply(page, before)
    ticket = site.ticket(confirm_and_code(page))
    assert ticket["district"] == "r2" and ticket["unit_code"] == UNIT_OF["r2"]


def test_a_typed_address_is_geocoded_and_goes_to_its_district_unit(
        visit: Visit, site: Site) -> None:
    page = visit.page
    assert site.geocoder is not None
    asked_before = len(site.geocoder.searches())
    describe_problem(page)
    before = bot_count(page)
    page.locator("#text").fill(ADDRESS)
    page.locator("#text").press("Enter")
    summary = wait_reply(page, before)
    assert "روی نقشه پیدا شد" in summary and "منطقه ۴" in summary, summary
    visit.shoot("address")
    # Asked once per server (the second size finds it remembered), with its own agent.
    searches = [s for s in site.geocoder.searches() if s.query.get("q") == ADDRESS]
    assert len(searches) == 1 and searches[0].headers["user-agent"] == AGENT
    assert len(site.geocoder.searches()) <= asked_before + 1
    ticket = site.ticket(confirm_and_code(page))
    assert ticket["district"] == "r4" and ticket["unit_code"] == UNIT_OF["r4"]
    assert ticket["address"] == ADDRESS
    assert (ticket["latitude"], ticket["longitude"]) == (ADDRESS_PLACE.lat, ADDRESS_PLACE.lon)


def test_an_address_the_geocoder_does_not_know_goes_to_the_centre(
        browser: Browser, site: Site) -> None:
    v = Visit(browser, site, "phone")
    page = v.page
    describe_problem(page)
    before = bot_count(page)
    page.locator("#text").fill("پشت نانوایی قدیمی محله")
    page.locator("#text").press("Enter")
    summary = wait_reply(page, before)
    assert "روی نقشه" not in summary
    ticket = site.ticket(confirm_and_code(page))
    assert ticket["unit_code"] is None and ticket["status"] == "new"
    assert ticket["address"] == "پشت نانوایی قدیمی محله"
    v.close()


# -- the staff's side ------------------------------------------------------------------------
def sign_in(page: Page) -> None:
    page.goto("/panel/login")
    page.locator("#username").fill("op1")
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="ورود").click()
    expect(page.locator("header .who")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_staff_see_tickets_queue_and_hotspots_on_the_map(
        browser: Browser, site: Site, size: str) -> None:
    with sqlite3.connect(site.db) as conn:
        codes = [r[0] for r in conn.execute(
            "SELECT tracking_code FROM ticket WHERE latitude IS NOT NULL ORDER BY id")]
        placed = conn.execute("SELECT COUNT(*) FROM ticket WHERE latitude IS NOT NULL "
                              "AND status IN ('new','assigned','in_progress','reopened')"
                              ).fetchone()[0]
        by_district = dict(conn.execute(
            "SELECT district, COUNT(*) FROM ticket WHERE district IS NOT NULL "
            "GROUP BY district").fetchall())
    assert codes, "the citizen tests file the tickets this one draws"
    v = Visit(browser, site, size)
    page = v.page
    sign_in(page)

    page.goto(f"/panel/tickets/{codes[0]}")
    expect(page.locator("#ticket-map")).to_have_attribute("data-map-ready", "true")
    expect(page.locator("#ticket-map .leaflet-marker-icon")).to_be_visible()
    expect(page.locator("#ticket-map img.leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator("#location svg.map")).to_be_visible()  # the city overview stays
    page.locator("#location").scroll_into_view_if_needed()
    v.shoot("panel-ticket")

    page.goto("/panel/queue")
    page.locator("#queue-map-link").click()
    expect(page).to_have_url(re.compile(r"/panel/queue/map"))
    expect(page.locator("#queue-map")).to_have_attribute("data-points", str(placed))
    expect(page.locator("#queue-map path.ticket-point")).to_have_count(placed)
    expect(page.locator("#queue-map-count")).to_contain_text("درخواست روی نقشه")
    page.locator("#queue-map path.ticket-point").last.click()  # drawn last: on top
    expect(page.locator("#queue-map .map-popup a")).to_have_attribute(
        "href", re.compile(r"^/panel/tickets/\d{8}$"))
    expect(page.locator("#queue-map .leaflet-popup")).to_have_css("opacity", "1")  # faded in
    v.shoot("panel-queue")

    page.goto("/panel/dashboard")
    hot = page.locator("#hotspot-map")
    expect(hot).to_have_attribute("data-map-ready", "true")
    expect(hot).to_have_attribute("data-points", str(len(codes)))
    labels = hot.locator(".hot-label")
    expect(labels).to_have_count(4)
    for code, n in by_district.items():
        digits = str(n).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
        name = {"r1": "منطقه ۱", "r2": "منطقه ۲", "r3": "منطقه ۳", "r4": "منطقه ۴"}[code]
        expect(labels.filter(has_text=name)).to_contain_text(f": {digits}")
    hot.scroll_into_view_if_needed()
    v.shoot("panel-hotspots")
    v.close()


# -- no tile server --------------------------------------------------------------------------
def test_without_a_tile_server_the_outlines_stand_alone(browser: Browser,
                                                        bare_site: Site) -> None:
    v = Visit(browser, bare_site, "phone")
    page = v.page
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((bare_site.url, "data:")) else None)
    describe_problem(page)
    open_picker(page)
    expect(page.locator("#map-pick-map")).to_have_class(re.compile(r"\bmap-outlines-only\b"))
    expect(page.locator("#map-pick-map img.leaflet-tile")).to_have_count(0)
    expect(page.locator("#map-pick-map .district-label")).to_have_count(4)
    page.locator("#map-pick-map path.district-r3").click()
    expect(page.locator("#map-pick-hint")).to_contain_text("منطقه ۳")
    v.shoot("picker-outlines")
    before = bot_count(page)
    page.locator("#map-pick-send").click()
    wait_reply(page, before)
    ticket = bare_site.ticket(confirm_and_code(page))
    assert ticket["district"] == "r3" and ticket["unit_code"] == UNIT_OF["r3"]
    assert outside == []
    v.close()
