"""Real-browser test of the web chat (channels/webchat/templates/chat.html + web/static/chat.js).

Starts the real CLI (`python -m peygir serve`) on a free port with a throwaway SQLite
database and drives Debian's Chromium through Playwright at a phone viewport.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000
SERVER_START_TIMEOUT_S = 30.0

REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده، کسی نیومده جمعش کنه"
TRACKING_CODE_RE = re.compile(r"[۰-۹]{8}")
PERSIAN_TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")
NETWORK_ERROR_TEXT = "ارتباط برقرار نشد؛ دوباره تلاش کنید."

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is absent (install Debian's chromium package to run browser tests)",
        allow_module_level=True,
    )


# --------------------------------------------------------------------------- fixtures




@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Run `python -m peygir serve` and yield its base URL."""
    tmp = tmp_path_factory.mktemp("webchat")
    media = tmp / "media"
    media.mkdir()
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/t.db", PEYGIR_MEDIA_DIR=str(media))
    with serving(env, tmp / "server.log", ready="/", timeout=SERVER_START_TIMEOUT_S) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageProbe:
    """A fresh phone-sized page plus what it logged and requested."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.js_errors: list[str] = []
        self.console_errors: list[str] = []
        self.send_bodies: list[dict] = []
        page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("request", self._on_request)

    def _on_request(self, request) -> None:
        if request.method == "POST" and request.url.endswith("/api/chat/send"):
            try:
                self.send_bodies.append(json.loads(request.post_data or "{}"))
            except ValueError:
                self.send_bodies.append({"_raw": request.post_data})


@pytest.fixture
def probe(browser: Browser, server: str) -> Iterator[PageProbe]:
    context = browser.new_context(
        viewport=PHONE,
        locale="fa-IR",
        base_url=server,
        service_workers="block",
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    p = PageProbe(page)
    try:
        yield p
    finally:
        context.close()


# --------------------------------------------------------------------------- helpers


def bot_bubbles(page: Page):
    return page.locator("#messages .msg.bot:not(.error)")


def transcript(page: Page) -> str:
    lines = []
    for el in page.locator("#messages .msg").all():
        cls = el.get_attribute("class") or ""
        who = "USER" if "user" in cls.split() else ("ERROR" if "error" in cls.split() else "BOT")
        text = el.locator(".text").inner_text()
        buttons = [
            f"[{b.inner_text()} -> {b.get_attribute('data-callback')}]"
            for b in el.locator("button.choice").all()
        ]
        lines.append(f"{who}: {text} {' '.join(buttons)}".rstrip())
    return "\n".join(lines)


def wait_for_new_bot_bubble(page: Page, count_before: int) -> None:
    """Wait until at least one more bot bubble exists and the request has finished."""
    expect(bot_bubbles(page).nth(count_before)).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#send")).to_be_enabled(timeout=TIMEOUT_MS)
    expect(page.locator("#typing")).to_be_hidden(timeout=TIMEOUT_MS)


def send_text(page: Page, text: str) -> None:
    before = bot_bubbles(page).count()
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    wait_for_new_bot_bubble(page, before)


def open_chat(page: Page) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "fa")
    expect(page.locator("#messages .msg.bot").first).to_contain_text("کد پیگیری")
    expect(page.locator("#text")).to_be_editable()


def assert_no_errors(p: PageProbe) -> None:
    assert p.js_errors == [], f"JavaScript errors: {p.js_errors}"
    bad = [m for m in p.console_errors if "favicon" not in m]
    assert bad == [], f"console errors: {bad}"
    assert p.page.locator("#messages .msg.error").count() == 0, transcript(p.page)


# --------------------------------------------------------------------------- tests


def test_report_then_track_by_code(probe: PageProbe) -> None:
    page = probe.page
    open_chat(page)

    # The page is laid out for a phone: nothing overflows horizontally.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    start = bot_bubbles(page).count()
    page.locator("#text").fill(REPORT)
    page.locator("#send").click()
    expect(page.locator("#messages .msg.user .text").last).to_have_text(REPORT)
    expect(page.locator("#text")).to_have_value("")
    wait_for_new_bot_bubble(page, start)

    def find_code() -> str | None:
        for text in bot_bubbles(page).all_inner_texts()[start:]:
            m = TRACKING_CODE_RE.search(text)
            if m:
                return m.group(0)
        return None

    code = find_code()
    for _ in range(6):
        if code:
            break
        # A fixed index: `.last` would move on to the next reply.
        latest = bot_bubbles(page).nth(bot_bubbles(page).count() - 1)
        for prefix in ("svc:", "loc:skip", "confirm"):
            button = latest.locator(f'button.choice[data-callback^="{prefix}"]:enabled')
            if button.count():
                button = button.first
                label = button.inner_text()
                before = bot_bubbles(page).count()
                button.click()
                expect(page.locator("#messages .msg.user .text").last).to_have_text(label)
                wait_for_new_bot_bubble(page, before)
                # The tapped bubble's buttons are disabled afterwards.
                expect(latest.locator("button.choice:enabled")).to_have_count(0)
                break
        else:
            pytest.fail(
                "the bot's last message offers no svc:/loc:skip/confirm button:\n"
                + transcript(page)
            )
        code = find_code()
    assert code, "no 8-digit tracking code after the dialogue:\n" + transcript(page)

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    expect(bot_bubbles(page).last).to_be_in_viewport()
    page.screenshot(path=str(SCREENSHOT_DIR / "webchat-phone.png"))

    ascii_code = code.translate(PERSIAN_TO_ASCII)
    assert ascii_code.isascii() and ascii_code.isdigit()
    before = bot_bubbles(page).count()
    send_text(page, f"پیگیری {ascii_code}")
    answer = "\n".join(bot_bubbles(page).all_inner_texts()[before:])
    assert code in answer, transcript(page)
    assert "ثبت" in answer or "وضعیت" in answer, transcript(page)

    page.set_viewport_size(DESKTOP)
    expect(page.locator("#send")).to_be_visible()
    # The conversation stays scrolled to its end when the window is resized.
    expect(bot_bubbles(page).last).to_be_in_viewport()
    page.screenshot(path=str(SCREENSHOT_DIR / "webchat-desktop.png"))

    # Every POST carried a client id, a fresh one per action.
    ids = [b.get("client_id") for b in probe.send_bodies]
    assert all(ids) and len(set(ids)) == len(ids), probe.send_bodies
    assert_no_errors(probe)


def test_empty_message_ignored_and_huge_message_answered_politely(probe: PageProbe) -> None:
    page = probe.page
    open_chat(page)
    text_box = page.locator("#text")

    page.locator("#send").click()
    text_box.press("Enter")
    text_box.fill("   \n  ")
    page.locator("#send").click()
    expect(page.locator("#messages .msg.user")).to_have_count(0)

    huge = ("سطل زباله پر است و بوی بد می‌دهد. " * 700)[:20_000]
    assert len(huge) == 20_000
    text_box.fill(huge)
    before = bot_bubbles(page).count()
    page.locator("#send").click()
    expect(page.locator("#messages .msg.user")).to_have_count(1)
    wait_for_new_bot_bubble(page, before)

    # The empty attempts sent nothing: the only POST is the long message.
    assert len(probe.send_bodies) == 1, probe.send_bodies
    assert probe.send_bodies[0]["text"] == huge.strip()
    assert bot_bubbles(page).nth(before).inner_text().strip(), transcript(page)
    assert_no_errors(probe)


def test_network_error_keeps_text_and_retry_reuses_client_id(probe: PageProbe) -> None:
    page = probe.page
    open_chat(page)
    failures = {"left": 1}

    def flaky(route) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/chat/send", flaky)
    message = "سلام <b>ساعت کاری</b> شهرداری؟"
    text_box = page.locator("#text")
    text_box.fill(message)
    text_box.press("Enter")

    expect(page.locator("#messages .msg.error .text")).to_have_text(NETWORK_ERROR_TEXT)
    expect(text_box).to_have_value(message)
    expect(page.locator("#messages .msg.user")).to_have_count(0)
    expect(page.locator("#send")).to_be_enabled()

    before = bot_bubbles(page).count()
    page.locator("#send").click()
    wait_for_new_bot_bubble(page, before)
    # Message text is rendered as text, never as HTML.
    expect(page.locator("#messages .msg.user .text")).to_have_text(message)
    assert page.locator("#messages b").count() == 0

    assert len(probe.send_bodies) == 2, probe.send_bodies
    first, second = probe.send_bodies
    assert first["client_id"] and first["client_id"] == second["client_id"]
    assert first["text"] == second["text"] == message
    assert probe.js_errors == [], probe.js_errors


def test_location_button_sends_coordinates(browser: Browser, server: str) -> None:
    context = browser.new_context(
        viewport=PHONE,
        locale="fa-IR",
        base_url=server,
        service_workers="block",
        geolocation={"latitude": 35.7, "longitude": 51.4},
        permissions=["geolocation"],
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        p = PageProbe(context.new_page())
        page = p.page
        open_chat(page)
        before = page.locator("#messages .msg.bot").count()
        page.locator("#location").click()
        expect(page.locator("#messages .msg.user")).to_have_count(1)
        # Any answer will do here (the dialogue decides what a bare location means).
        expect(page.locator("#messages .msg.bot").nth(before)).to_be_visible()
        expect(page.locator("#send")).to_be_enabled()
        assert len(p.send_bodies) == 1, p.send_bodies
        body = p.send_bodies[0]
        assert body["client_id"]
        assert body["location"] == {"lat": 35.7, "lon": 51.4}
        assert p.js_errors == [], p.js_errors
    finally:
        context.close()
