"""The web chat in Chromium (issue 17): a voice note recorded in the page and two photos become
one ticket with the transcript as its text; the number form under «send your number» shows
the number to the unit in the panel and withdrawing hides it; no emoji font needed; axe-core
finds no serious or critical violation, at phone and desktop size.

Real `peygir serve` (SQLite, the Whisper base model), Debian's Chromium with a fake microphone
fed by an espeak-ng recording of a Persian report.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests import media_samples
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_env, serving

pytestmark = pytest.mark.browser

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package)", allow_module_level=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000
HEARD_TIMEOUT_MS = 180_000  # the model loads on the first note; Whisper base on two shared cores
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
SPOKEN = "سطل زباله بزرگ سر کوچه ما پر شده و زباله ها روی زمین ریخته است"
PLACE = (34.82, 48.49)  # district r1 of the default pack: its unit is r1_services
UNIT = "r1_services"
PASSWORD = "a long enough password"
CODE = re.compile(r"[۰-۹]{8}")
TO_ASCII = str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789")


class Env:
    def __init__(self, tmp: Path, whisper: Path) -> None:
        self.tmp = tmp
        self.db_file = tmp / "chat.db"
        self.media = tmp / "media"
        self.media.mkdir()
        self.vars = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{self.db_file}",
                              PEYGIR_MEDIA_DIR=str(self.media),
                              PEYGIR_WHISPER_MODEL=str(whisper))
        self.url = f"http://127.0.0.1:{self.vars['PEYGIR_WEB_PORT']}"

    def peygir(self, *args: str, stdin: str = "") -> None:
        subprocess.run([sys.executable, "-m", "peygir", *args], cwd=REPO_ROOT, env=self.vars,
                       input=stdin, text=True, check=True, capture_output=True)

    def rows(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.db_file) as db:
            return db.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The report, said by espeak-ng in Persian, as the WAV file the fake microphone plays."""
    wav = tmp_path_factory.mktemp("mic") / "report.wav"
    subprocess.run(["espeak-ng", "-v", "fa", "-s", "140", "-w", str(wav), SPOKEN], check=True)
    with wave.open(str(wav)) as w:
        return wav, w.getnframes() / w.getframerate()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, whisper_dir: Path) -> Iterator[Env]:
    env = Env(tmp_path_factory.mktemp("webmedia"), whisper_dir)
    env.peygir("users", "add", "crew", "--role", "unit", "--unit", UNIT, "--password-stdin",
               stdin=PASSWORD + "\n")
    with serving(env.vars, env.tmp / "server.log"):
        yield env


@pytest.fixture(scope="module")
def browser(spoken: tuple[Path, float]) -> Iterator[Browser]:
    wav, _ = spoken
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop"])
        try:
            yield b
        finally:
            b.close()


class Citizen:
    def __init__(self, browser: Browser, env: Env, viewport: dict[str, int]) -> None:
        self.context: BrowserContext = browser.new_context(
            viewport=viewport, locale="fa-IR", base_url=env.url, service_workers="block",
            geolocation={"latitude": PLACE[0], "longitude": PLACE[1]},
            permissions=["geolocation", "microphone"])
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and "favicon" not in m.text else None)
        self.page.goto("/")
        expect(self.page.locator("#record-btn")).to_be_visible()

    def bots(self):
        return self.page.locator("#messages .msg.bot:not(.error)")

    def wait_reply(self, before: int, timeout: int = TIMEOUT_MS) -> str:
        expect(self.bots().nth(before)).to_be_visible(timeout=timeout)
        expect(self.page.locator("#typing")).to_be_hidden()
        return self.bots().nth(self.bots().count() - 1).inner_text()

    def tap(self, prefix: str) -> str:
        """Tap the first enabled button whose data starts with ``prefix`` (not «none»)."""
        before = self.bots().count()
        self.page.locator(f'button.choice[data-callback^="{prefix}"]'
                          ':enabled:not([data-callback="svc:none"])').first.click()
        return self.wait_reply(before)

    def say(self, text: str) -> str:
        before = self.bots().count()
        self.page.locator("#text").fill(text)
        self.page.locator("#text").press("Enter")
        return self.wait_reply(before)

    def check_axe(self, where: str) -> None:
        results = Axe().run(self.page)
        bad = [v for v in results.response["violations"]
               if v.get("impact") in ("serious", "critical")]
        assert bad == [], f"{where}: " + "\n".join(
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}" for v in bad)

    def shoot(self, name: str) -> None:
        for folder in (SCREENSHOTS, DOCS_SCREENSHOTS):
            folder.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(folder / name))

    def close(self) -> None:
        assert self.errors == [], self.errors
        assert self.page.locator("#messages .msg.error").count() == 0, \
            self.page.locator("#messages").inner_text()
        self.context.close()


def no_emoji_left(page: Page) -> None:
    """Everything drawn is drawn by a font we ship or by SVG: no emoji reaches a text node."""
    found = page.evaluate(r"""() => {
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const emoji = /[\u{1F300}-\u{1FAFF}\u{2600}-\u{27BF}\uFE0F]/u;
        const hits = [];
        while (walker.nextNode()) {
            if (emoji.test(walker.currentNode.data)) hits.push(walker.currentNode.data);
        }
        return hits;
    }""")
    assert found == []


def test_a_voice_note_and_two_photos_become_one_ticket(
        browser: Browser, env: Env, spoken: tuple[Path, float], tmp_path: Path) -> None:
    _, seconds = spoken
    me = Citizen(browser, env, PHONE)
    page = me.page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    me.check_axe("empty chat, phone")

    # Two photos from the gallery: one taken where the problem is (EXIF GPS), one without.
    first = media_samples.jpeg_with_gps(tmp_path, *PLACE, name="here.jpg")
    second = media_samples.small_png(tmp_path)
    before = me.bots().count()
    page.set_input_files("#attach", [str(first), str(second)])
    expect(me.bots()).to_have_count(before + 2, timeout=TIMEOUT_MS)
    expect(page.locator("#messages .msg.user")).to_have_count(2)
    expect(page.locator("#messages .msg.user svg.inline-icon")).to_have_count(2)

    # Hold to record while the fake microphone says the report; release to send.
    before = me.bots().count()
    button = page.locator("#record-btn")
    box = button.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    expect(button).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(int(seconds * 1000) + 700)
    page.mouse.up()
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(me.bots().nth(before)).to_contain_text("در حال تبدیل پیام صوتی")
    # The transcript comes back through the poll, with the subjects to pick from.
    heard = me.bots().filter(has_text="متن پیام صوتی شما")
    expect(heard).to_have_count(1, timeout=HEARD_TIMEOUT_MS)
    transcript = re.search(r"«(.+)»", heard.inner_text(), re.S)
    assert transcript, heard.inner_text()
    expect(page.locator("#typing")).to_be_hidden()

    confirm = me.tap("svc:")
    # The place came from the first photo; the confirmation lists what goes with the report.
    assert "موقعیت: دریافت شد" in confirm, confirm
    assert "پیوست‌ها: ۲ عکس، ۱ پیام صوتی" in confirm, confirm
    me.shoot("webchat-media-phone.png")
    filed = me.tap("confirm")
    code = CODE.search(filed)
    assert code, filed
    no_emoji_left(page)
    me.check_axe("after a report, phone")

    [(ticket_id, description, said, lat, lon, district)] = env.rows(
        "SELECT id, description, transcript, latitude, longitude, district FROM ticket "
        "WHERE tracking_code = ?", code.group(0).translate(TO_ASCII))
    assert said and description == said, (description, said)
    assert transcript.group(1).strip() in said or said.startswith(transcript.group(1)[:40])
    assert (lat, lon) == pytest.approx(PLACE, abs=1e-4) and district == "r1"
    kinds = sorted(k for (k,) in env.rows("SELECT kind FROM attachment WHERE ticket_id = ?",
                                          ticket_id))
    assert kinds == ["photo", "photo", "voice"]
    me.close()


def test_a_voice_note_by_keyboard_alone(browser: Browser, env: Env) -> None:
    """No pointer to hold: Enter starts the recording, Enter again sends it."""
    me = Citizen(browser, env, DESKTOP)
    page = me.page
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if "/api/chat/upload" in r.url else None)
    page.locator("#record-btn").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#record-btn")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#record-status")).to_contain_text("در حال ضبط")
    page.wait_for_timeout(1500)
    before = me.bots().count()
    page.keyboard.press("Enter")
    expect(page.locator("#record-btn")).to_have_attribute("aria-pressed", "false")
    assert "در حال تبدیل پیام صوتی" in me.wait_reply(before)
    assert len(uploads) == 1 and "kind=voice" in uploads[0], uploads
    me.close()


def test_a_lost_upload_is_offered_again_with_its_client_id(
        browser: Browser, env: Env, tmp_path: Path) -> None:
    me = Citizen(browser, env, PHONE)
    page = me.page
    sent: list[str] = []
    failures = {"left": 1}

    def flaky(route) -> None:
        sent.append(route.request.url)
        if failures["left"]:
            failures["left"] -= 1
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/chat/upload*", flaky)
    page.set_input_files("#attach", [str(media_samples.small_png(tmp_path))])
    retry = page.locator("#messages .msg.error button.retry")
    expect(retry).to_be_visible()
    expect(page.locator("#messages .msg.user")).to_have_count(0)
    before = me.bots().count()
    retry.click()
    assert "فایل دریافت شد" in me.wait_reply(before)
    assert len(sent) == 2
    ids = [re.search(r"client_id=([^&]+)", url).group(1) for url in sent]  # type: ignore[union-attr]
    assert ids[0] == ids[1], sent
    assert env.rows("SELECT count(*) FROM attachment WHERE file_ref = ?",
                    f"web-upload:{ids[0]}") == [(1,)]
    assert me.errors == [] or all("ERR_CONNECTION_RESET" in e for e in me.errors), me.errors
    me.context.close()


def test_the_number_form_reaches_the_unit_and_withdrawing_hides_it(
        browser: Browser, env: Env) -> None:
    me = Citizen(browser, env, DESKTOP)
    page = me.page
    me.say("سطل زباله سر کوچه ما پر شده و کسی جمعش نکرده")
    while not page.locator('button.choice[data-callback="confirm"]:enabled').count():
        if page.locator('button.choice[data-callback^="svc:"]:enabled').count():
            me.tap("svc:")
        else:
            before = me.bots().count()
            page.locator("#location").click()
            me.wait_reply(before)
    code = CODE.search(me.tap("confirm"))
    assert code
    ascii_code = code.group(0).translate(TO_ASCII)

    # The unit, in the panel, asks to call the citizen.
    crew_context = browser.new_context(viewport=DESKTOP, locale="fa-IR", base_url=env.url)
    crew_context.set_default_timeout(TIMEOUT_MS)
    crew = crew_context.new_page()
    crew.goto("/panel/login")
    crew.locator("#username").fill("crew")
    crew.locator("#password").fill(PASSWORD)
    crew.get_by_role("button", name="ورود").click()
    crew.goto(f"/panel/tickets/{ascii_code}")
    crew.locator("#contact-form button").click()
    expect(crew.locator("#contact")).not_to_contain_text("+98")

    before = me.bots().count()
    page.evaluate("window.peygirChat.poll()")
    me.wait_reply(before)
    asked = me.tap("consent:")  # «yes»: the first of the two
    assert "ارسال شماره" in asked
    form = page.locator("form.phone-form").last
    expect(form).to_be_visible()
    me.check_axe("number form, desktop")

    # A number that is none, then no consent: said in the form, nothing sent.
    sent_before = page.locator("#messages .msg.user").count()
    form.get_by_label("شماره تلفن همراه").fill("021 8877 6655")
    form.get_by_role("button", name="ارسال شماره").click()
    expect(form.locator(".problem")).to_contain_text("معتبر نیست")
    form.get_by_label("شماره تلفن همراه").fill("۰۹۳۵ ۱۲۳ ۴۵۶۷")
    form.get_by_role("button", name="ارسال شماره").click()
    expect(form.locator(".problem")).to_contain_text("اجازه")
    expect(page.locator("#messages .msg.user")).to_have_count(sent_before)
    form.get_by_label("اجازه می‌دهم").check()
    page.set_viewport_size(PHONE)
    me.shoot("webchat-phone-form-phone.png")
    page.set_viewport_size(DESKTOP)
    before = me.bots().count()
    form.get_by_role("button", name="ارسال شماره").click()
    got = me.wait_reply(before)
    assert "شماره شما دریافت شد" in got, got
    me.shoot("webchat-phone-form-desktop.png")

    crew.reload()
    expect(crew.locator("#contact")).to_contain_text("+989351234567")

    withdrawn = me.tap(f"consent:{ascii_code}:no")
    assert "در اختیار واحد اجرایی قرار نمی‌گیرد" in withdrawn, withdrawn
    crew.reload()
    expect(crew.locator("#contact")).not_to_contain_text("+989351234567")
    # The buttons used are spent.
    expect(page.locator('button.choice[data-callback^="consent:"]:enabled')).to_have_count(0)
    no_emoji_left(page)
    crew_context.close()
    me.close()
