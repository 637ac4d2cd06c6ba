"""The staff panel end to end in real Chromium against the real `peygir serve`.

A citizen files a report on the in-memory channel (same SQLite file as the server); an
operator signs in and assigns it; the unit's user starts the work, uploads an evidence photo
and resolves it; the citizen receives the photo, accepts and rates; the manager's dashboard
shows the figures changed. Every page is photographed at phone and desktop widths into
artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.panel_support import CITIZEN_NAME, PASSWORD, PHONE, jpeg
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
PHONE_VIEW = {"width": 390, "height": 844}
DESKTOP_VIEW = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000
REPORT = "چاله بزرگ وسط خیابان آزادی، ماشین‌ها آسیب می‌بینند"
UNIT = "north_works"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)


class Env:
    def __init__(self, tmp: Path) -> None:
        self.db = f"sqlite://{tmp}/panel.db"
        self.media = tmp / "media"
        self.media.mkdir()
        self.vars = serve_env(PEYGIR_DATABASE_URL=self.db, PEYGIR_MEDIA_DIR=str(self.media))
        self.url = f"http://127.0.0.1:{self.vars['PEYGIR_WEB_PORT']}"

    def peygir(self, *args: str, stdin: str = "") -> None:
        subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=self.vars,
                       input=stdin, text=True, check=True, capture_output=True)

    def run(self, coroutine_fn):  # a short database session of the citizen's side
        from peygir.bots.core import Core
        from peygir.config.settings import Settings
        from peygir.ticket_store.db import close_db, open_db

        async def main():
            core = Core.build(Settings(database_url=self.db, media_dir=self.media,
                                       _env_file=None))
            await open_db(self.db)
            try:
                return await coroutine_fn(core)
            finally:
                await close_db()

        # A thread of its own: Playwright's sync API keeps a loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, main()).result()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = Env(tmp_path_factory.mktemp("panel"))
    # Accounts are made with the real CLI (it also creates the schema).
    env.peygir("users", "add", "operator1", "--role", "operator", "--password-stdin",
               stdin=PASSWORD + "\n")
    env.peygir("users", "add", "crew1", "--role", "unit", "--unit", UNIT, "--name",
               "اکیپ عمران شمال", "--password-stdin", stdin=PASSWORD + "\n")
    env.peygir("users", "add", "boss", "--role", "manager", "--password-stdin",
               stdin=PASSWORD + "\n")
    with serving(env.vars, env.media.parent / "server.log"):
        yield env


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Staff:
    """One staff member's browser: a phone-sized page that collects JS and CSP errors."""

    def __init__(self, browser: Browser, env: Env, username: str) -> None:
        self.context = browser.new_context(viewport=PHONE_VIEW, locale="fa-IR",
                                           base_url=env.url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(f"{m.text} {m.location}")
                     if m.type == "error" and "favicon" not in m.text else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)
        self.username = username

    def sign_in(self) -> None:
        page = self.page
        page.goto("/panel/")
        expect(page).to_have_url(re.compile(r"/panel/login"))
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        page.locator("#username").fill(self.username)
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name="ورود").click()
        expect(page.locator("header .who")).to_be_visible()

    def shoot(self, name: str) -> None:
        """The page at phone and desktop widths; at phone width nothing overflows sideways."""
        page = self.page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(PHONE_VIEW)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_VIEW["width"], f"{name}: {width}px wide on a phone"
        page.screenshot(path=str(SCREENSHOTS / f"panel-{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP_VIEW)
        page.screenshot(path=str(SCREENSHOTS / f"panel-{name}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE_VIEW)

    def close(self) -> None:
        assert self.errors == [], f"{self.username}: browser errors {self.errors}"
        self.context.close()


def _font_loaded(page: Page) -> bool:
    return page.evaluate(
        "document.fonts.ready.then(() => [...document.fonts].some("
        "f => f.family.includes('Vazirmatn') && f.status == 'loaded'))")


def test_operator_unit_citizen_manager(browser: Browser, env: Env) -> None:
    from peygir.channels.memory import MemoryChannel
    from peygir.messages.types import Location
    from peygir.ticket_store import store
    from peygir.ticket_store.models import Citizen

    # -- a citizen's report, on the in-memory channel, with no place: the centre's queue
    async def file_report(core):
        citizen, _ = await Citizen.get_or_create(channel="memory", user_id="citizen-1")
        citizen.phone, citizen.display_name = PHONE, CITIZEN_NAME
        await citizen.save()
        district = core.pack.city.district_by_code["r1"].geometry.representative_point()
        draft = store.NewTicket("asphalt", REPORT, False,
                                location=Location(district.y, district.x))
        filed = await core.workflow.file_report(citizen, "memory", "citizen-1", draft)
        # Routed by district; send it back to the centre's queue for the operator.
        if filed.ticket.unit_code:
            await core.workflow.change_status(filed.ticket, "new", "system", "برای آزمون")
        return filed.ticket.tracking_code

    code = env.run(file_report)

    # -- the manager's dashboard before
    boss = Staff(browser, env, "boss")
    boss.sign_in()
    expect(boss.page).to_have_url(re.compile(r"/panel/dashboard$"))
    resolved_before = boss.page.locator("#kpi-resolved").inner_text()
    assert resolved_before == "۰"

    # -- the operator assigns it
    op = Staff(browser, env, "operator1")
    op.sign_in()
    page = op.page
    assert _font_loaded(page), "the vendored Vazirmatn font did not load"
    row = page.locator(f'tr[data-code="{code}"]')
    expect(row).to_be_visible()
    op.shoot("queue")
    page.locator("#f-service").select_option("asphalt")  # htmx filter, in place
    expect(page).to_have_url(re.compile(r"service=asphalt"))
    expect(row).to_be_visible()
    row.locator("a").first.click()
    expect(page.locator("#description")).to_have_text(REPORT)
    expect(page.locator("#location svg.map")).to_be_visible()
    assert PHONE in page.locator("#contact").inner_text()  # the 137 centre may call
    page.locator("#assign-form select").select_option(UNIT)
    page.locator("#assign-form input[name=note]").fill("لطفاً امروز بررسی شود")
    page.locator("#assign-form button").click()
    expect(page.locator(".flash.ok")).to_be_visible()
    expect(page.locator("#ticket-status")).to_have_text("ارجاع به واحد")
    # The staff member's name (operator1 has none, so their user name), never "staff:…".
    expect(page.locator("#timeline .actor")).to_contain_text(["operator1"])
    expect(page.locator("#timeline")).not_to_contain_text("staff:")
    op.shoot("ticket-operator")
    op.close()

    # -- the unit starts, uploads its evidence and resolves
    crew = Staff(browser, env, "crew1")
    crew.sign_in()
    page = crew.page
    expect(page.locator(f'tr[data-code="{code}"]')).to_be_visible()
    assert PHONE not in page.content() and CITIZEN_NAME not in page.content()
    page.locator(f'tr[data-code="{code}"] a').first.click()
    assert PHONE not in page.content() and CITIZEN_NAME not in page.content()
    page.locator("#status-form select").select_option("in_progress")
    page.locator("#status-form button").click()
    expect(page.locator("#ticket-status")).to_have_text("در حال انجام")
    photo = env.media.parent / "evidence.jpg"
    photo.write_bytes(jpeg((200, 80, 30)))
    page.locator("#evidence-form input[type=file]").set_input_files(str(photo))
    page.locator("#evidence-form button").click()
    expect(page.locator("#media figure.evidence img")).to_be_visible()
    assert page.locator("#media figure.evidence img").evaluate("i => i.naturalWidth") == 64
    page.locator("#status-form select").select_option("resolved")
    page.locator("#status-form input[name=note]").fill("ترمیم آسفالت انجام شد")
    page.locator("#status-form button").click()
    expect(page.locator("#ticket-status")).to_have_text("انجام‌شده")
    assert PHONE not in page.content() and CITIZEN_NAME not in page.content()
    crew.shoot("ticket-unit")
    page.goto("/panel/queue?state=all")
    assert PHONE not in page.content()
    # Another unit's ticket by URL: not found.
    page.goto("/panel/tickets/12345678")
    expect(page.locator("h1")).to_contain_text("۴۰۴")
    crew.errors = [e for e in crew.errors if "404" not in e and "12345678" not in e]
    crew.close()

    # -- the citizen sees the photo, accepts and rates
    async def citizen_side(core):
        chat = MemoryChannel(core.dialogue)
        received = await chat.flush("citizen-1")
        with_photo = [r for r in received if r.photos]
        assert with_photo, [r.text for r in received]
        assert all(Path(p).is_file() for p in with_photo[-1].photos)
        buttons = [b.data for r in with_photo for row in r.buttons for b in row]
        assert f"accept:{code}" in buttons, buttons
        replies = await chat.say("citizen-1", callback=f"accept:{code}")
        stars = [b.data for r in replies for row in r.buttons for b in row]
        assert f"rate:{code}:5" in stars, [r.text for r in replies]
        thanks = await chat.say("citizen-1", callback=f"rate:{code}:5")
        return [r.text for r in thanks]

    assert env.run(citizen_side)

    # -- the manager's dashboard after
    page = boss.page
    page.reload()
    expect(page.locator("#kpi-resolved")).to_have_text("۱")
    expect(page.locator("#kpi-rating")).to_have_text("۵٫۰")
    unit_row = page.locator(f'#by-unit tr[data-key="{UNIT}"]')
    expect(unit_row).to_be_visible()
    expect(unit_row.locator(".rating")).to_have_text("۵٫۰")
    expect(page.locator("#trend svg")).to_be_visible()
    expect(page.locator("#hotspots svg")).to_be_visible()
    boss.shoot("dashboard")
    page.goto("/panel/export")
    expect(page.locator("#xlsx")).to_be_visible()
    boss.shoot("export")
    with page.expect_download() as download:
        page.locator("#csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    page.goto(f"/panel/tickets/{code}")
    # The crew's own name on the lines they wrote, never the account's "staff:crew1".
    expect(page.locator("#timeline .actor")).to_contain_text(["اکیپ عمران شمال"])
    expect(page.locator("#timeline")).not_to_contain_text("staff:")
    boss.shoot("ticket-manager")
    boss.close()

    # The sign-in page itself.
    visitor = Staff(browser, env, "nobody")
    visitor.page.goto("/panel/login")
    visitor.shoot("login")
    visitor.close()
