"""The web chat's history survives (issue 17): a citizen files a report in Chromium against the
real `peygir serve`, the unit resolves it (through the workflow, on the same database), and
the «is it fixed?» buttons come back live after a reload, in another tab and after the
server restarts; used buttons stay disabled; typing «yes» accepts the work (no new report)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from peygir.config.pack import load_pack
from peygir.conversation.notices import Notices
from peygir.messages import texts
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import Ticket
from peygir.ticket_store.workflow import Workflow
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium package)",
                allow_module_level=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000
REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده، کسی نیومده جمعش کنه"
CODE_RE = re.compile(r"[۰-۹]{8}")
TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


def in_db(url: str, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` on the server's database from a thread and loop of its own (Playwright's
    sync API holds this thread's)."""
    async def run() -> Any:
        await open_db(url)
        try:
            return await work()
        finally:
            await close_db()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def bot_bubbles(page: Page):
    return page.locator("#messages .msg.bot:not(.error)")


def press(page: Page, data: str) -> None:
    before = bot_bubbles(page).count()
    page.locator(f'#messages button.choice[data-callback="{data}"]:enabled').last.click()
    expect(bot_bubbles(page).nth(before)).to_be_visible()
    expect(page.locator("#send")).to_be_enabled()


def live_buttons(page: Page) -> list[str]:
    return [b.get_attribute("data-callback") or "" for b in
            page.locator("#messages button.choice:enabled").all()]


def expect_restored(page: Page, code: str) -> None:
    """The whole conversation is back, and only «is it fixed?» can be pressed."""
    messages = page.locator("#messages")
    expect(messages.locator(".msg.user .text").first).to_have_text(REPORT)
    expect(messages.locator(".msg.user .text", has_text=texts.CONFIRM)).to_have_count(1)
    accept = messages.locator(f'button.choice[data-callback="accept:{code}"]')
    expect(accept).to_be_enabled()
    assert sorted(live_buttons(page)) == [f"accept:{code}", f"contest:{code}"]
    # The buttons used on the way (skip the place, confirm) are shown, not pressable.
    expect(messages.locator('button.choice[data-callback="confirm"]')).to_be_disabled()
    expect(messages.locator("#messages .msg.error")).to_have_count(0)
    assert CODE_RE.search(messages.inner_text())


def test_history_and_live_buttons_survive_reloads_tabs_and_restarts(
        browser: Browser, tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path / 'history.db'}"
    env = serve_env(PEYGIR_DATABASE_URL=database, PEYGIR_MEDIA_DIR=str(tmp_path / "media"))
    context = browser.new_context(viewport=PHONE, locale="fa-IR", service_workers="block")
    context.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    with serving(env, tmp_path / "server-1.log", ready="/") as base:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        page.locator("#text").fill(REPORT)
        page.locator("#send").click()
        expect(page.locator('button.choice[data-callback="loc:skip"]:enabled')).to_be_visible()
        press(page, "loc:skip")
        press(page, "confirm")
        found = CODE_RE.search(bot_bubbles(page).last.inner_text())
        assert found, page.locator("#messages").inner_text()
        code = found.group(0).translate(TO_ASCII)
        # The buttons just used can no longer be pressed.
        assert live_buttons(page) == []

        async def resolve() -> None:
            pack = load_pack()
            workflow = Workflow(pack, voice=Notices(pack))
            ticket = await Ticket.get(tracking_code=code)
            await workflow.change_status(ticket, "in_progress", "staff:crew", "")
            await workflow.change_status(ticket, "resolved", "staff:crew", "سطل تخلیه شد")

        in_db(database, resolve)
        page.reload()
        expect_restored(page, code)
        expect(page.locator("#messages")).to_contain_text("سطل تخلیه شد")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webchat-history-phone.png"), full_page=True)
        # Another tab of the same browser: the same chat, the same live buttons.
        other = context.new_page()
        other.goto(base + "/")
        expect_restored(other, code)
        other.close()
        # A second reload shows each message once (the poll after it brings nothing again).
        page.reload()
        expect_restored(page, code)
        page.evaluate("window.peygirChat && window.peygirChat.poll()")
        expect(page.locator("#messages .msg.user .text", has_text=REPORT)).to_have_count(1)
    with serving(env, tmp_path / "server-2.log", ready="/") as base:
        page.goto(base + "/")
        expect_restored(page, code)
        # Typed, not tapped: «بله» answers «is it fixed?» and files nothing new.
        before = bot_bubbles(page).count()
        page.locator("#text").fill("بله")
        page.locator("#text").press("Enter")
        expect(bot_bubbles(page).nth(before)).to_be_visible()
        expect(page.locator('button.choice[data-callback^="rate:"]:enabled')).to_have_count(5)
        # accept/contest are spent: shown disabled, and pressing one does nothing.
        accept = page.locator(f'button.choice[data-callback="accept:{code}"]')
        expect(accept).to_be_disabled()
        count = page.locator("#messages .msg").count()
        accept.click(force=True)
        page.wait_for_timeout(500)
        assert page.locator("#messages .msg").count() == count

        async def tickets() -> list[tuple[str, str]]:
            return [(t.tracking_code, t.status) for t in await Ticket.all()]

        assert in_db(database, tickets) == [(code, "closed")]
        # And after one more reload, the survey is what is live: on a phone and on a desktop.
        for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            page.reload()
            expect(page.locator('button.choice[data-callback^="rate:"]:enabled')
                   ).to_have_count(5)
            expect(page.locator(f'button.choice[data-callback="accept:{code}"]')
                   ).to_be_disabled()
            page.screenshot(path=str(SCREENSHOTS / f"webchat-survey-{size}.png"))
    context.close()
    assert errors == []
