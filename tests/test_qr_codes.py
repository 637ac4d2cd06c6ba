"""QR codes for staff members and places (issue 20), end to end on SQLite and PostgreSQL.

A city's file is synced; each flow runs through the web chat's HTTP API (``/q/<token>``, then
the chat) and through the Telegram Bot API of the tests (``/start qr-<token>``): feedback on a
staff member reaches the review team (managers in the panel) and never the member's unit,
with only the name and role shown to the citizen; a place's report is filed with its point
and district and routed like any report; a revoked code is refused politely; tokens are long
and random; the printed sheet holds the labels and the city's name, and renders in Chromium.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno

from peygir.bots.core import Core
from peygir.channels.memory import MemoryChannel
from peygir.channels.telegram.runner import Messengers
from peygir.config.pack import Pack
from peygir.config.qr import load_entries
from peygir.config.settings import Settings
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages import qr_texts as t
from peygir.messages.digits import persian_digits
from peygir.nlu.classifier import Classifier
from peygir.ticket_store import qr
from peygir.ticket_store.models import (
    FeedbackKind,
    PlaceReport,
    QrCode,
    QrSubject,
    StaffFeedback,
    Ticket,
)
from peygir.ticket_store.workflow import Workflow
from peygir.web import qr_sheet
from peygir.web.app import create_app
from tests.botapi_support import TG, buttons, settle, tap_then, text_then
from tests.fakes.botapi import FakeBotApi
from tests.panel_support import client, file, jpeg, signed_in
from tests.support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT
from tests.webchat_support import WebCitizen, data_of, texts

BASE = "https://137.example-city.ir"
CITY = "شهرداری نمونه"
STAFF_NAME, STAFF_ROLE, STAFF_UNIT = "مریم احمدی", "مأمور اجرائیات", "r1_services"
UNIT_NAME = "خدمات شهری منطقه ۱"
PARK = "پارک لاله"
BUS = "خط اتوبوس ۱۲"
COMPLAINT = "<script>alert(1)</script> با مراجعه‌کنندگان بی‌احترامی کرد"
QR_FILE = f"""\
city: {CITY}
staff:
  - id: S-1001
    name: {STAFF_NAME}
    role: {STAFF_ROLE}
    unit: {STAFF_UNIT}
  - id: S-1002
    name: رضا کریمی
    role: رفتگر
    unit: r2_services
places:
  - id: P-PARK-7
    kind: park
    name: {PARK}
    lat: 34.82
    lon: 48.49
    district: r1
    services: [park_maintenance, playground_equipment]
  - id: BUS-12
    kind: bus_line
    name: {BUS}
    district: r2
    services: [bus_stop, waste_bin]
"""
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


def fa(n: int) -> str:
    return persian_digits(str(n))


@pytest.fixture
def core(db: str, default_pack: Pack, default_classifier: Classifier, tmp_path: Path) -> Core:
    settings = Settings(database_url=db, media_dir=tmp_path / "media", public_url=BASE,
                        telegram_username="peygir_test_bot", _env_file=None)
    workflow = Workflow(default_pack, voice=Notices(default_pack))
    dialogue = Dialogue(default_pack, default_classifier, workflow=workflow)
    return Core(settings, default_pack, default_classifier, dialogue, workflow)


@pytest.fixture
def app(core: Core) -> Any:
    return create_app(core)


@pytest.fixture
async def codes(db: str, tmp_path: Path) -> dict[str, str]:
    """The city's file synced: each entry's live token, by the city's id."""
    path = tmp_path / "qr.yaml"
    path.write_text(QR_FILE, encoding="utf-8")
    entries, problems = load_entries(path)
    assert problems == []
    await qr.sync(entries)
    tokens = {}
    for row in await QrSubject.all():
        token = await qr.live_code(row.id)
        assert token is not None
        tokens[row.ref] = token
    return tokens


# -- the web chat's HTTP API ----------------------------------------------------------------
class Browser(WebCitizen):
    def __init__(self, c: httpx.AsyncClient) -> None:
        super().__init__(c, prefix="q")

    async def scan(self, token: str) -> list[dict[str, Any]]:
        """What the page does after /q/<token>: the redirect, then the code's button."""
        answer = await self.c.get(f"/q/{token}")
        assert answer.status_code == 303 and answer.headers["location"] == f"/?qr={token}"
        assert answer.headers["referrer-policy"] == "no-referrer"
        page = await self.c.get(answer.headers["location"])
        assert page.status_code == 200
        return await self.press(f"qr:open:{token}")


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[Browser]:
    async with client(app) as c:
        yield Browser(c)


async def test_web_chat_staff_feedback_reaches_the_review_team_not_the_unit(
        app: Any, browser: Browser, codes: dict[str, str]) -> None:
    # A malformed code opens the plain chat.
    async with client(app) as anyone:
        assert (await anyone.get("/q/not%20a%20token")).headers["location"] == "/"
    opened = await browser.scan(codes["S-1001"])
    head = texts(opened)
    assert f"بازخورد درباره {STAFF_NAME}، {STAFF_ROLE}" in head
    # Only the name and the role: neither the unit nor the city's id reaches the citizen.
    assert UNIT_NAME not in head and STAFF_UNIT not in head and "S-1001" not in head
    assert data_of(opened) == ["qr:fb:praise", "qr:fb:suggestion", "qr:fb:complaint"]

    asked = texts(await browser.press("qr:fb:complaint"))
    assert "شکایت" in asked and STAFF_NAME in asked
    assert texts(await browser.photo(jpeg())) == t.PHOTO_KEPT
    thanks = texts(await browser.say(COMPLAINT))
    assert "ثبت شد" in thanks and "گروه بررسی" in thanks
    feedback = await StaffFeedback.get()
    assert (feedback.kind, feedback.text, feedback.channel) == ("complaint", COMPLAINT, "web")
    assert feedback.photo_id is not None
    assert await Ticket.all().count() == 0  # never a ticket, so in no unit's queue

    # The staff member's own unit sees nothing of it, nor does an operator.
    async with signed_in(app, "crew", "unit", unit=STAFF_UNIT) as unit:
        assert (await unit.get("/panel/feedback")).status_code == 403
        assert (await unit.get(f"/panel/feedback/{feedback.id}/photo")).status_code == 403
        queue = await unit.get("/panel/queue")
        assert queue.status_code == 200 and "بی‌احترامی" not in queue.text
        assert "/panel/feedback" not in queue.text
    async with signed_in(app, "op", "operator") as operator:
        assert (await operator.get("/panel/feedback")).status_code == 403

    # The review team (a manager) reads it, escaped, with its photo and the counts.
    async with signed_in(app, "boss", "manager") as manager:
        page = (await manager.get("/panel/feedback")).text
        assert STAFF_NAME in page and STAFF_ROLE in page and UNIT_NAME in page
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
        row = re.search(r'<tr data-staff="S-1001"[^>]*>(.*?)</tr>', page, re.S)
        assert row and f'data-kind="complaint">{fa(1)}<' in row.group(1)
        assert "data-flagged" not in row.group(0)
        photo = await manager.get(f"/panel/feedback/{feedback.id}/photo")
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"

        # The flag: complaints in the pack's window (5 in 30 days) reach the threshold; an
        # older one does not count.
        subject = await QrSubject.get(ref="S-1001")
        old = datetime.now(UTC) - timedelta(days=40)
        await qr.record_feedback(subject.id, FeedbackKind.COMPLAINT, "قدیمی", "web", now=old)
        for _ in range(3):
            await qr.record_feedback(subject.id, FeedbackKind.COMPLAINT, "شکایت", "web")
        page = (await manager.get("/panel/feedback")).text
        assert re.search(r'<tr data-staff="S-1001"(?! data-flagged)', page)
        await qr.record_feedback(subject.id, FeedbackKind.COMPLAINT, "شکایت", "telegram")
        page = (await manager.get("/panel/feedback")).text
        assert '<tr data-staff="S-1001" data-flagged="1"' in page
        assert '<tr data-staff="S-1002" data-flagged' not in page
        row = re.search(r'<tr data-staff="S-1001"[^>]*>(.*?)</tr>', page, re.S)
        assert row and f'data-kind="complaint">{fa(6)}<' in row.group(1)


async def test_web_chat_place_reports_come_with_the_place(
        app: Any, browser: Browser, codes: dict[str, str]) -> None:
    opened = await browser.scan(codes["P-PARK-7"])
    assert f"گزارش مشکل در {PARK}" in texts(opened)
    assert data_of(opened) == ["qr:svc:park_maintenance", "qr:svc:playground_equipment",
                               "qr:other"]
    assert "تاب" not in texts(await browser.press("qr:svc:playground_equipment"))
    confirm = await browser.say("تاب بچه‌ها شکسته و زنجیرش پاره شده")
    assert "confirm" in data_of(confirm) and PARK in texts(confirm)
    filed = texts(await browser.press("confirm"))
    assert "کد پیگیری" in filed
    ticket = await Ticket.get()
    assert (ticket.service_code, ticket.latitude, ticket.longitude) == (
        "playground_equipment", 34.82, 48.49)
    assert (ticket.district, ticket.unit_code, ticket.address) == ("r1", "r1_services", PARK)
    assert ticket.deep_link == "place:P-PARK-7"
    assert codes["P-PARK-7"] not in (ticket.deep_link or "")  # the token is not kept on it
    park = await QrSubject.get(ref="P-PARK-7")
    assert await PlaceReport.filter(subject_id=park.id, ticket_id=ticket.id).exists()

    # A bus line has no point: its district routes the report.
    await browser.scan(codes["BUS-12"])
    await browser.press("qr:svc:waste_bin")
    confirm = await browser.say("سطل زباله ایستگاه اول خط پر شده و بو می‌دهد")
    assert "confirm" in data_of(confirm)
    await browser.press("confirm")
    bus_ticket = await Ticket.filter(service_code="waste_bin").get()
    assert (bus_ticket.district, bus_ticket.unit_code, bus_ticket.status) == (
        "r2", "r2_services", "assigned")
    assert bus_ticket.latitude is None and bus_ticket.address == BUS

    # «موضوع دیگر»: the citizen's words find the subject; the place's point stays.
    await browser.scan(codes["P-PARK-7"])
    assert t.ASK_OTHER.format(place=PARK) == texts(await browser.press("qr:other"))
    replies = await browser.say("سطل زباله کنار نیمکت پارک پر شده و زباله ریخته")
    for _ in range(3):
        choices = [d for d in data_of(replies) if d.startswith("svc:") and d != "svc:none"]
        if "confirm" in data_of(replies):
            break
        assert choices, texts(replies)
        replies = await browser.press(choices[0])
    await browser.press("confirm")
    other = await Ticket.all().order_by("-id").first()
    assert other is not None and other.id not in (ticket.id, bus_ticket.id)
    assert (other.latitude, other.longitude, other.district) == (34.82, 48.49, "r1")
    assert await PlaceReport.filter(subject_id=park.id).count() == 2

    async with signed_in(app, "boss", "admin") as admin:
        page = (await admin.get("/panel/feedback")).text
        row = re.search(r'<tr data-place="P-PARK-7">(.*?)</tr>', page, re.S)
        assert row and f"<td data-reports>{fa(2)}</td>" in row.group(1)
        row = re.search(r'<tr data-place="BUS-12">(.*?)</tr>', page, re.S)
        assert row and f"<td data-reports>{fa(1)}</td>" in row.group(1)


async def test_a_revoked_code_is_refused_politely(app: Any, browser: Browser,
                                                  codes: dict[str, str], core: Core) -> None:
    assert await qr.revoke("S-1001") == 1
    refused = await browser.scan(codes["S-1001"])
    assert refused == [{**refused[0], "text": t.INVALID, "buttons": []}]
    assert len(refused) == 1 and STAFF_NAME not in repr(refused)
    # An unknown code is answered the same, and a link naming nothing reaches nothing.
    assert texts(await browser.press("qr:open:" + "A" * 24)) == t.INVALID
    chat = MemoryChannel(core.dialogue)
    assert [r.text for r in await chat.say("m", start="qr-" + codes["S-1001"])] == [t.INVALID]
    # The next sync issues a fresh code; the old one stays refused.
    entries, _ = load_entries(_file(Path(core.settings.media_dir).parent))
    done = await qr.sync(entries)
    assert done.issued == ["staff:S-1001"]
    fresh = await qr.live_code((await QrSubject.get(ref="S-1001")).id)
    assert fresh and fresh != codes["S-1001"]
    assert await qr.lookup(codes["S-1001"]) is None
    assert (await qr.lookup(fresh)) is not None
    assert await StaffFeedback.all().count() == 0


def _file(folder: Path) -> Path:
    path = folder / "qr-again.yaml"
    path.write_text(QR_FILE, encoding="utf-8")
    return path


async def test_tokens_are_long_random_and_stable(db: str, codes: dict[str, str],
                                                 tmp_path: Path) -> None:
    tokens = list(codes.values())
    assert len(set(tokens)) == len(tokens) == 4
    for token in tokens:
        # 24 URL-safe characters: 18 random bytes, 144 bits; a Telegram start payload.
        assert re.fullmatch(r"[A-Za-z0-9_\-]{24}", token), token
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == 18
        assert len("qr-" + token) <= 64
    many = {qr.new_token() for _ in range(2000)}
    assert len(many) == 2000
    # Every position takes many values: no fixed prefix, counter or timestamp.
    for position in range(24):
        assert len({token[position] for token in many}) > 40
    # A second sync keeps the printed codes; a staff member gone from the file is retired.
    entries, _ = load_entries(_file(tmp_path))
    again = await qr.sync(entries)
    assert again.issued == [] and again.added == []
    assert {r.ref: await qr.live_code(r.id) for r in await QrSubject.all()} == codes
    shorter = tmp_path / "shorter.yaml"
    shorter.write_text(QR_FILE.replace("  - id: S-1002\n    name: رضا کریمی\n    role: رفتگر\n"
                                       "    unit: r2_services\n", ""), encoding="utf-8")
    entries, problems = load_entries(shorter)
    assert problems == [] and len(entries.staff) == 1
    gone = await qr.sync(entries)
    assert gone.retired == ["staff:S-1002"]
    assert await qr.lookup(codes["S-1002"]) is None
    assert await QrCode.filter(revoked_at__isnull=False).count() == 1


def test_the_city_file_names_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("staff:\n  - id: 'a b'\n    name: x\n    role: y\nplaces:\n"
                   "  - id: p1\n    kind: castle\n    name: z\n  - id: p1\n    name: w\n",
                   encoding="utf-8")
    _, problems = load_entries(bad)
    assert any("staff a b: id" in p for p in problems)
    assert any("places p1: kind" in p for p in problems)
    csv_file = tmp_path / "qr.csv"
    csv_file.write_text("type,id,name,role,unit,kind,lat,lon,district,services\n"
                        f"staff,S-1,{STAFF_NAME},{STAFF_ROLE},r1_services,,,,,\n"
                        f"place,P-1,{PARK},,,park,34.82,48.49,r1,park_maintenance;waste_bin\n",
                        encoding="utf-8")
    entries, problems = load_entries(csv_file)
    assert problems == []
    assert entries.staff[0].name == STAFF_NAME
    assert entries.places[0].services == ("park_maintenance", "waste_bin")
    assert entries.places[0].lat == 34.82


# -- Telegram through the Bot API of the tests ----------------------------------------------
@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(tokens=(TG,)) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotApi, core: Core, tmp_path: Path) -> AsyncIterator[Messengers]:
    messengers = Messengers(core.dialogue, media_dir=tmp_path / "media")
    messengers.add("telegram", TG, api.base_url, markdown_by_default=False)
    await messengers.start()
    yield messengers
    await messengers.stop()


async def test_telegram_start_links_for_staff_and_places(
        api: FakeBotApi, bot: Messengers, codes: dict[str, str]) -> None:
    # Staff: the start payload qr-<token> names the member; praise is kept for review.
    head = await text_then(api, 901, f"/start qr-{codes['S-1001']}", "بازخورد درباره")
    assert f"{STAFF_NAME}، {STAFF_ROLE}" in head["params"]["text"]
    assert UNIT_NAME not in head["params"]["text"]
    assert buttons(head) == ["qr:fb:praise", "qr:fb:suggestion", "qr:fb:complaint"]
    await tap_then(api, 901, "qr:fb:praise", "قدردانی")
    await text_then(api, 901, "خیلی با حوصله راهنمایی کردند، ممنونم", "ثبت شد")
    feedback = await StaffFeedback.get()
    assert (feedback.kind, feedback.channel) == ("praise", "telegram")
    assert await Ticket.all().count() == 0

    # A place: its services as buttons; the report is filed with its point and district.
    head = await text_then(api, 902, f"/start qr-{codes['P-PARK-7']}", "گزارش مشکل در")
    assert PARK in head["params"]["text"]
    assert "qr:svc:park_maintenance" in buttons(head) and "qr:other" in buttons(head)
    await tap_then(api, 902, "qr:svc:park_maintenance", "بنویسید")
    confirm = await text_then(api, 902, "چمن پارک خشک شده و آبیاری نمی‌شود", "ثبت شود")
    assert "confirm" in buttons(confirm)
    await tap_then(api, 902, "confirm", "کد پیگیری")
    ticket = await Ticket.get()
    assert (ticket.channel, ticket.chat_id, ticket.service_code) == (
        "telegram", "902", "park_maintenance")
    assert (ticket.latitude, ticket.district, ticket.unit_code) == (34.82, "r1", "r1_services")
    assert await PlaceReport.filter(ticket_id=ticket.id).exists()

    # Revoked: the same link now gets the polite refusal, and nothing else.
    await qr.revoke("S-1001")
    refused = await text_then(api, 903, f"/start qr-{codes['S-1001']}", t.INVALID)
    assert refused["params"]["text"] == t.INVALID and buttons(refused) == []
    await settle(api)
    assert [c["params"]["text"] for c in api.sent(TG, chat_id=903, method="sendMessage")
            ] == [t.INVALID]


# -- the printed sheet ------------------------------------------------------------------------
def _matrix_of_path(d: str, size: int) -> list[list[bool]]:
    cells = [[False] * size for _ in range(size)]
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", d):
        for i in range(int(width)):
            cells[int(y)][int(x) + i] = True
    return cells


def test_the_cli_syncs_revokes_and_prints_a_sheet_rendered_in_chromium(tmp_path: Path) -> None:
    env = {**os.environ, "PEYGIR_DATABASE_URL": f"sqlite://{tmp_path / 'qr.db'}",
           "PEYGIR_PUBLIC_URL": BASE, "PEYGIR_TELEGRAM_USERNAME": "peygir_test_bot"}

    def peygir(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "peygir", "qr", *args], cwd=REPO_ROOT,
                              env=env, text=True, capture_output=True, timeout=120)

    path = tmp_path / "qr.yaml"
    path.write_text(QR_FILE, encoding="utf-8")
    synced = peygir("sync", str(path))
    assert synced.returncode == 0, synced.stderr
    assert "4 new codes" in synced.stdout
    assert peygir("revoke", "nobody").returncode == 1
    revoked = peygir("revoke", "S-1002")
    assert revoked.returncode == 0, revoked.stderr
    missing = peygir("sheet", str(path), "--out", str(tmp_path / "sheet.svg"))
    assert missing.returncode == 1 and "staff:S-1002" in missing.stderr
    assert peygir("sync", str(path)).returncode == 0
    out = tmp_path / "sheet.svg"
    printed = peygir("sheet", str(path), "--out", str(out))
    assert printed.returncode == 0, printed.stderr
    svg = out.read_text(encoding="utf-8")
    for words in (STAFF_NAME, STAFF_ROLE, PARK, BUS, CITY, t.SHEET_STAFF, "خط اتوبوس"):
        assert words in svg, words
    urls = re.findall(r'data-url="([^"]+)"', svg)
    assert len(urls) == 4 and all(u.startswith(f"{BASE}/q/") for u in urls)
    for url in urls:
        assert f"https://t.me/peygir_test_bot?start=qr-{url.rsplit('/', 1)[1]}" in svg
    assert "@font-face{font-family:'Vazirmatn'" in svg and 'direction="rtl"' in svg
    # Each card's QR path is exactly segno's symbol of its URL.
    paths = re.findall(r'<path class="qr"[^>]* d="([^"]+)"', svg)
    for url, d in zip(urls, paths, strict=True):
        symbol = segno.make(url, error="m", micro=False)
        expected = [[bool(c) for c in row] for row in symbol.matrix_iter(scale=1, border=0)]
        assert _matrix_of_path(d, len(expected)) == expected
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is needed (scripts/test.sh installs Debian's chromium)")
    png = _screenshot(out, tmp_path / "qr-sheet.png")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, SCREENSHOTS / "qr-sheet.png")


def _screenshot(svg: Path, png: Path) -> Path:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 794, "height": 1123})
            page.goto(svg.as_uri())
            page.evaluate("document.fonts.ready")
            page.screenshot(path=str(png))
        finally:
            browser.close()
    with Image.open(png) as image:
        assert image.size == (794, 1123)
        histogram = image.convert("L").histogram()
        dark = sum(histogram[:100]) / (794 * 1123)
        assert dark > 0.03, dark  # the codes and the labels are drawn, not a blank page
    return png


async def test_the_feedback_page_in_chromium(app: Any, codes: dict[str, str],
                                             database_url: str) -> None:
    """The panel's new page, rendered by Chromium from the app (photographed for the
    README on SQLite)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is needed (scripts/test.sh installs Debian's chromium)")
    from playwright.async_api import Route, async_playwright

    for ref in ("S-1001", "S-1002"):
        subject = await QrSubject.get(ref=ref)
        for kind, n in ((FeedbackKind.PRAISE, 3), (FeedbackKind.COMPLAINT,
                                                   6 if ref == "S-1001" else 1)):
            for _ in range(n):
                await qr.record_feedback(subject.id, kind, "برخورد خوب و پاسخ روشن", "web")
    for ref, count in (("P-PARK-7", 2), ("BUS-12", 1)):
        place = await QrSubject.get(ref=ref)
        for i in range(count):
            await qr.link_ticket(place.id, await file("park_maintenance", chat=f"{ref}{i}"))
    async with signed_in(app, "boss", "manager") as manager:
        async def serve(route: Route) -> None:
            answer = await manager.get(route.request.url.replace("http://testserver", ""))
            await route.fulfill(status=answer.status_code, body=answer.content,
                                headers={"content-type": answer.headers.get(
                                    "content-type", "text/html")})

        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(executable_path=str(CHROMIUM),
                                                args=CHROMIUM_ARGS)
            try:
                page = await chromium.new_page(viewport={"width": 1280, "height": 900},
                                               locale="fa-IR")
                await page.route("http://testserver/**", serve)
                await page.goto("http://testserver/panel/feedback")
                flagged = page.locator('tr[data-flagged="1"]')
                assert await flagged.count() == 1
                assert STAFF_NAME in await flagged.inner_text()
                reports = page.locator('tr[data-place="P-PARK-7"] td[data-reports]')
                assert await reports.inner_text() == fa(2)
                if database_url.startswith("sqlite"):
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(SCREENSHOTS / "panel-feedback-desktop.png"),
                                          full_page=True)
            finally:
                await chromium.close()


def test_the_sheet_escapes_names_and_breaks_pages() -> None:
    cards = [qr_sheet.card("staff", f'<b>&"{i}', "نگهبان", "A" * 24, BASE + "/", "bot")
             for i in range(7)]
    svgs = qr_sheet.pages(cards, "<شهر>")
    assert len(svgs) == 2 and svgs[1].count('class="card"') == 1
    assert "<b>" not in svgs[0] and "&lt;b&gt;&amp;" in svgs[0] and "&lt;شهر&gt;" in svgs[0]
    assert f'data-url="{BASE}/q/{"A" * 24}"' in svgs[0]  # one slash, whatever --base ends in
    place = qr_sheet.card("place", "ایستگاه مترو میدان", "metro_station", "B" * 24, BASE)
    assert place.detail == "ایستگاه مترو" and "ایستگاه مترو" in place.prompt
    assert place.links == ()  # no bot known: no deep link printed
