"""Ticket search in real Chromium against the real `peygir serve`: an operator finds a ticket
by a word (typed with Arabic letters) and by its code (in Persian digits), on a desktop and
on a 390px phone, and opens it. Screenshots: artifacts/screenshots/panel-search-*.png."""

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

from tests.panel_support import PASSWORD
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
PHONE_VIEW = {"width": 390, "height": 844}
DESKTOP_VIEW = {"width": 1280, "height": 900}
TIMEOUT_MS = 15_000
REPORT = "درخت کهنسال کوچه یاس روی سیم برق خم شده"
OTHER = "آب نما پارک خاموش است"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)


class Env:
    def __init__(self, tmp: Path) -> None:
        self.db = f"sqlite://{tmp}/search.db"
        self.media = tmp / "media"
        self.media.mkdir()
        self.vars = serve_env(PEYGIR_DATABASE_URL=self.db, PEYGIR_MEDIA_DIR=str(self.media))
        self.url = f"http://127.0.0.1:{self.vars['PEYGIR_WEB_PORT']}"
        self.codes: dict[str, str] = {}

    def peygir(self, *args: str, stdin: str = "") -> None:
        subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=self.vars,
                       input=stdin, text=True, check=True, capture_output=True)

    def file_tickets(self) -> None:
        """Two reports filed through the store, as the dialogue files them."""
        from peygir.ticket_store.db import close_db, open_db
        from tests.panel_support import file

        async def main() -> None:
            await open_db(self.db)
            try:
                for chat, text in (("a", REPORT), ("b", OTHER)):
                    ticket = await file("fallen_tree", chat=chat, description=text)
                    self.codes[text] = ticket.tracking_code
            finally:
                await close_db()

        with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
            pool.submit(asyncio.run, main()).result()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    env = Env(tmp_path_factory.mktemp("search"))
    env.peygir("users", "add", "operator1", "--role", "operator", "--password-stdin",
               stdin=PASSWORD + "\n")
    env.file_tickets()
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


def _watch(page: Page, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}")
            if m.type == "error" and "favicon" not in m.text else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size or PHONE_VIEW
    assert width <= viewport["width"], f"{width}px wide at {viewport['width']}px"


@pytest.mark.parametrize("view", [DESKTOP_VIEW, PHONE_VIEW], ids=["desktop", "phone"])
def test_operator_searches_by_word_and_code_and_opens_the_ticket(
        env: Env, browser: Browser, view: dict[str, int]) -> None:
    context = browser.new_context(viewport=view, locale="fa-IR", base_url=env.url)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    _watch(page, errors)
    name = "phone" if view == PHONE_VIEW else "desktop"
    code = env.codes[REPORT]
    try:
        page.goto("/panel/")
        page.locator("#username").fill("operator1")
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name="ورود").click()
        expect(page.locator("header .who")).to_be_visible()
        # The nav's «جستجو» opens the empty form.
        page.locator("header nav").get_by_role("link", name="جستجو").click()
        expect(page).to_have_url(re.compile(r"/panel/search$"))
        expect(page.locator("#results")).to_have_count(0)
        # A word typed with Arabic letters (ك, ي) finds the Persian report, and only it.
        page.locator("#s-q").fill("كهنسال سيم")
        page.locator("#s-go").click()
        rows = page.locator("#results tbody tr[data-code]")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-code", code)
        expect(rows.first.locator(".excerpt")).to_contain_text("درخت کهنسال")
        expect(rows.first).to_contain_text("سقوط یا شکستن درخت")  # the service's name
        _no_sideways_scroll(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"panel-search-{name}.png"), full_page=True)
        # The code in Persian digits, the words cleared: the same ticket; then open it.
        page.locator("#s-q").fill("")
        page.locator("#s-code").fill(code.translate(str.maketrans("0123456789",
                                                                  "۰۱۲۳۴۵۶۷۸۹")))
        page.locator("#s-go").click()
        expect(rows).to_have_count(1)
        expect(page.locator("#s-code")).to_have_value(re.compile(r"[۰-۹]{8}"))
        _no_sideways_scroll(page)
        rows.first.get_by_role("link").first.click()
        expect(page).to_have_url(re.compile(rf"/panel/tickets/{code}$"))
        expect(page.locator("main")).to_contain_text("درخت کهنسال کوچه یاس")
        # A word nobody wrote: a polite «nothing found», no error.
        page.goto("/panel/search?q=" + "گربه")
        expect(page.locator("#no-results")).to_be_visible()
        assert errors == [], errors
        # A date that does not exist: the form says so, in Persian (a 400 page).
        page.goto("/panel/search")
        page.locator("#s-since").fill("۱۴۰۵/۱۳/۴۰")
        page.locator("#s-go").click()
        expect(page.locator("#search-error")).to_contain_text("۱۴۰۵/۰۹/۱۵")
        _no_sideways_scroll(page)
    finally:
        context.close()
