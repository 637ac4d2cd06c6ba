"""The staff panel on a phone (390×844) in real Chromium against the real `peygir serve`: the
dashboard, queue, a ticket and the users page fit the screen (no sideways scroll), tables read
as labelled cards, the ticket's actions come before its timeline, the users page's buttons are
on screen, chart text is readable, and no raw Latin actor or channel code is shown. Phone and
desktop screenshots of each page go to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.panel_support import PASSWORD
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serving
from tests.test_panel_browser import DESKTOP_VIEW, PHONE_VIEW, TIMEOUT_MS, Env

pytestmark = pytest.mark.browser

DOCS = REPO_ROOT / "docs" / "screenshots"
# Codes the store writes that a person should never read raw on a page.
RAW = re.compile(r"\b(citizen|system|staff:\S+|web|eitaa|telegram|bale|instagram|memory)\b",
                 re.IGNORECASE)
LONG_NAME = "سیدمحمدحسین میرزاابوالقاسمی‌نژاد طباطبایی"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = Env(tmp_path_factory.mktemp("phone"))
    env.peygir("users", "add", "root", "--role", "admin", "--name", "مدیر سامانه",
               "--password-stdin", stdin=PASSWORD + "\n")
    env.peygir("users", "add", "sara", "--role", "operator", "--name", "سارا احمدی",
               "--password-stdin", stdin=PASSWORD + "\n")
    env.peygir("users", "add", "crew_north_district_one", "--role", "unit", "--unit",
               "north_works", "--name", LONG_NAME, "--password-stdin", stdin=PASSWORD + "\n")
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


def _seed(env: Env) -> str:
    """Tickets from several channels with citizen, system and staff lines on their timelines;
    referrals, FAQ answers and unplaced messages for the dashboard."""
    async def seed(core):  # type: ignore[no-untyped-def]
        from peygir.channels.memory import MemoryChannel
        from peygir.messages.types import Location
        from peygir.ticket_store import store
        from peygir.ticket_store.models import Citizen, Standing, Ticket

        pack = core.pack
        r1 = pack.city.district_by_code["r1"].geometry.representative_point()
        codes = []
        for i, (channel, service, urgent) in enumerate([
                ("telegram", "asphalt", False), ("eitaa", "fallen_tree", True),
                ("web", "waste_bin", False), ("bale", "asphalt", False),
                ("instagram", "traffic_light", False)]):
            citizen, _ = await Citizen.get_or_create(channel=channel, user_id=f"u{i}")
            if i == 3:
                citizen.standing = Standing.VOLUNTEER
                await citizen.save()
            draft = store.NewTicket(service, "گزارش آزمایشی شمارهٔ " + "۰۱۲۳۴"[i], urgent,
                                    location=Location(r1.y, r1.x) if i != 4 else None)
            filed = await core.workflow.file_report(citizen, channel, f"u{i}", draft)
            codes.append(filed.ticket.tracking_code)
        first = await Ticket.get(tracking_code=codes[0])
        await core.workflow.reply_to_citizen(first, "staff:sara", "در دست بررسی است")
        chat = MemoryChannel(core.dialogue)
        referral = next(ex for s in pack.services if s.service_code == "ext_gas"
                        for ex in s.examples)
        for text in (referral, pack.faqs[0].question, pack.faqs[1].question,
                     "بادمجان کوهستان قلمبه", "قلمبه سلمبه بادمجان"):
            await chat.say("visitor", text)
        return codes[0]

    return env.run(seed)


class Phone:
    def __init__(self, browser: Browser, env: Env, username: str) -> None:
        self.context = browser.new_context(viewport=PHONE_VIEW, locale="fa-IR",
                                           base_url=env.url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 else None)
        page = self.page
        page.goto("/panel/login")
        page.locator("#username").fill(username)
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name="ورود").click()
        expect(page.locator("header .who")).to_be_visible()

    def check(self, name: str) -> Page:
        """The page as a phone shows it: nothing wider than the screen, every table cell
        labelled by its column, no raw code in the text; then the screenshots."""
        page = self.page
        page.set_viewport_size(PHONE_VIEW)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_VIEW["width"], f"{name}: {width}px wide on a phone"
        # Past the screen's edge and not clipped by a box of its own (a map's tiles are).
        wide = page.evaluate("""() => {
            const clipped = e => { for (let a = e.parentElement; a && a !== document.body;
                                        a = a.parentElement) {
                if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
            return [...document.querySelectorAll('body *')]
              .filter(e => e.getClientRects().length && (e.getBoundingClientRect().right > 391
                           || e.getBoundingClientRect().left < -1) && !clipped(e))
              .map(e => e.tagName + '#' + e.id + '.' + e.getAttribute('class')).slice(0, 5); }""")
        assert wide == [], f"{name}: wider than the screen: {wide}"
        unlabelled = page.evaluate("""() => [...document.querySelectorAll('main table tbody td')]
            .filter(td => td.colSpan === 1 && td.closest('table').querySelector('thead th')
                    && td.cellIndex < td.closest('table').querySelectorAll('thead th').length
                    && td.closest('table').querySelectorAll('thead th')[td.cellIndex]
                         .textContent.trim()
                    && !td.dataset.label).length""")
        assert unlabelled == 0, f"{name}: {unlabelled} table cells without their column's label"
        heads = page.evaluate("""() => [...document.querySelectorAll('main table thead')]
            .filter(h => getComputedStyle(h).display !== 'none').length""")
        assert heads == 0, f"{name}: a table still shows its header row on a phone"
        text = page.locator("body").inner_text()
        raw = RAW.findall(text)
        assert raw == [], f"{name}: raw codes on the page: {raw}"
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"panel-{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP_VIEW)
        page.screenshot(path=str(DOCS / f"panel-{name}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE_VIEW)
        return page

    def close(self) -> None:
        assert self.errors == [], self.errors
        self.context.close()


def _on_screen(page: Page, selector: str) -> None:
    for box in [page.locator(selector).nth(i).bounding_box()
                for i in range(page.locator(selector).count())]:
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_VIEW["width"], (selector, box)


def test_panel_on_a_phone(browser: Browser, env: Env) -> None:
    code = _seed(env)
    root = Phone(browser, env, "root")
    page = root.page

    # The dashboard: the sections on what is not a ticket, charts with readable text.
    page.goto("/panel/dashboard?days=7")
    for section in ("#deputies", "#referrals", "#faqs", "#unplaced"):
        expect(page.locator(section)).to_be_visible()
    expect(page.locator("#referrals")).to_contain_text("شرکت گاز")
    expect(page.locator("#unplaced-recent")).to_contain_text("بادمجان کوهستان قلمبه")
    expect(page.locator("#unplaced-recent")).to_contain_text("آزمایشی")  # the memory channel
    smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('svg.chart')]
        .flatMap(svg => [...svg.querySelectorAll('text')].map(t =>
            parseFloat(getComputedStyle(t).fontSize)
            * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)))""")
    assert smallest >= 9, f"chart text {smallest:.1f}px on a phone"
    root.check("dashboard")

    # The queue: cards; the priority badge says what it means.
    page.goto("/panel/queue")
    row = page.locator("tr[data-code]").first
    expect(row).to_be_visible()
    label = row.locator("td").nth(1).evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"خدمت"', label
    volunteer = page.locator(".tag.prio").first
    expect(volunteer).to_be_visible()
    assert "همیار" in volunteer.inner_text() and "شهربان" in (volunteer.get_attribute("title")
                                                              or "")
    assert "اولویت ۲" not in page.locator("main").inner_text()
    root.check("queue")

    # A ticket: its actions right after the report, before the timeline; actors in Persian.
    page.goto(f"/panel/tickets/{code}")
    actions = page.locator("#assign-form").bounding_box()
    timeline = page.locator("#timeline").bounding_box()
    assert actions and timeline and actions["y"] < timeline["y"], (actions, timeline)
    expect(page.locator("#timeline")).to_contain_text("شهروند")
    expect(page.locator("#timeline")).to_contain_text("سارا احمدی")
    expect(page.locator("#report")).to_contain_text("تلگرام")
    root.check("ticket")

    # The users page: each row's password box and buttons within the screen.
    page.goto("/panel/users")
    expect(page.locator('tr[data-user="crew_north_district_one"]')).to_be_visible()
    _on_screen(page, "#users button")
    _on_screen(page, "#users input[type=password]")
    root.check("users")
    root.close()
