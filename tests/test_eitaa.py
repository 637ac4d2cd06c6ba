"""Eitaa: the initData check, and the mini-app driven in real Chromium.

The real `peygir serve` runs with an Eitaa token. A fake on loopback plays Eitaa's two parts:
the JS SDK the page loads (``window.Eitaa.WebApp`` with an ``initData`` signed as Eitaa signs
it) and the sending API (``/api/<token>/sendMessage``), which records what it is sent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest

from peygir.channels.eitaa import InitDataError, sign, verify_init_data
from peygir.messages import texts
from tests.support import CHROMIUM, CHROMIUM_ARGS, serve_env, serving

TOKEN = "eitaa-app-token-for-tests"
USER_ID = 70001
REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده"


def init_data(token: str = TOKEN, user_id: int = USER_ID, age: float = 0,
              tamper: bool = False) -> str:
    fields = {"auth_date": str(int(time.time() - age)), "query_id": "AAE1",
              "user": json.dumps({"id": user_id, "first_name": "مریم"}, ensure_ascii=False,
                                 separators=(",", ":"))}
    fields["hash"] = sign(fields, token)
    if tamper:
        fields["user"] = fields["user"].replace(str(user_id), str(user_id + 1))
    return urlencode(fields)


# -- the check on its own ---------------------------------------------------------------------
def test_signed_init_data_gives_the_user() -> None:
    user = verify_init_data(init_data(), TOKEN, max_age=3600)
    assert user.id == str(USER_ID) and user.first_name == "مریم"


@pytest.mark.parametrize("bad", [
    init_data(tamper=True),  # another user id under the same hash
    init_data(token="another-app"),  # signed with someone else's token
    init_data(age=7200),  # stale
    init_data().replace("hash=", "hash=0"),
    init_data().split("&hash=")[0],  # no hash at all
    "",
    init_data() + "&auth_date=1",  # a field twice
])
def test_forged_or_stale_init_data_is_refused(bad: str) -> None:
    with pytest.raises(InitDataError):
        verify_init_data(bad, TOKEN, max_age=3600)


# -- the fake Eitaa ---------------------------------------------------------------------------
class FakeEitaa:
    def __init__(self) -> None:
        self.sent: list[dict[str, list[str]]] = []
        self.sdk_init_data = init_data()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, mime: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/eitaa-web-app.js":
                    signed = json.dumps(fake.sdk_init_data)
                    sdk = ("window.Eitaa = {WebApp: {initData: " + signed
                           + ", ready: function () {}, expand: function () {}}};")
                    self._reply(200, "application/javascript", sdk.encode())
                else:
                    self._reply(404, "text/plain", b"no")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if self.path == f"/api/{TOKEN}/sendMessage":
                    fake.sent.append(form)
                    body = {"ok": True, "result": {"message_id": len(fake.sent)}}
                    self._reply(200, "application/json", json.dumps(body).encode())
                else:
                    self._reply(401, "application/json", b'{"ok":false}')

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def eitaa() -> Iterator[FakeEitaa]:
    fake = FakeEitaa()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="module")
def served(eitaa: FakeEitaa, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("eitaa")
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/t.db",
                    PEYGIR_MEDIA_DIR=str(tmp / "media"), PEYGIR_EITAA_TOKEN=TOKEN,
                    PEYGIR_EITAA_API=f"{eitaa.base}/api",
                    PEYGIR_EITAA_SDK_URL=f"{eitaa.base}/eitaa-web-app.js",
                    PEYGIR_EITAA_PUSH_AFTER="1")
    with serving(env, tmp / "server.log") as base:
        yield base, tmp / "t.db"


def call(base: str, path: str, header: str | None, body: dict | None = None) -> int:
    request = urllib.request.Request(base + path, method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    if header is not None:
        request.add_header("X-Eitaa-Init-Data", header)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_the_api_refuses_forged_and_stale_init_data(served: tuple[str, Path]) -> None:
    base, _ = served
    body = {"client_id": "c1", "text": "سلام"}
    assert call(base, "/api/eitaa/send", init_data(tamper=True), body) == 401
    assert call(base, "/api/eitaa/send", init_data(age=3 * 86400), body) == 401
    assert call(base, "/api/eitaa/send", None, body) == 401
    assert call(base, "/api/eitaa/poll", init_data(token="x")) == 401
    assert call(base, "/api/eitaa/send", init_data(user_id=USER_ID + 5), body) == 200


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_a_report_with_photo_and_location_in_the_mini_app(
    served: tuple[str, Path], eitaa: FakeEitaa, tmp_path: Path
) -> None:
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    base, db = served
    photo = tmp_path / "bin.jpg"
    Image.new("RGB", (80, 60), (30, 120, 30)).save(photo, "JPEG")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fa-IR",
                                      geolocation={"latitude": 36.297, "longitude": 59.606},
                                      permissions=["geolocation"])
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/eitaa")
        bots = page.locator("#messages .msg.bot:not(.error)")
        page.locator("#photo").set_input_files(str(photo))
        expect(bots.last).to_contain_text(texts.ATTACHMENT_LATER[:15])
        page.fill("#text", REPORT)
        page.click("#send")
        expect(bots.last).to_contain_text(texts.ASK_LOCATION[:15])
        page.click("#location")
        expect(bots.last.locator("button.choice[data-callback=confirm]")).to_be_visible()
        expect(bots.last).to_contain_text("موقعیت: دریافت شد")
        bots.last.locator("button.choice[data-callback=confirm]").click()
        expect(bots.last).to_contain_text("کد پیگیری")
        page.screenshot(path=str(tmp_path / "eitaa.png"))
        browser.close()
    assert not errors
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT id, chat_id, latitude, longitude FROM ticket"
                           " WHERE channel='eitaa'").fetchone()
        assert row is not None and row[1] == str(USER_ID) and round(row[2], 3) == 36.297
        assert conn.execute("SELECT count(*) FROM attachment WHERE ticket_id=?",
                            (row[0],)).fetchone() == (1,)
        # A notification for this citizen later, with the mini-app closed (as the ticket
        # workflow will queue one): it must go out through Eitaa's sending API.
        conn.execute(
            "INSERT INTO outbox_message (channel, chat_id, payload, created_at, attempts)"
            " SELECT 'eitaa', ?, ?, MIN(created_at), 0 FROM outbox_message",
            (str(USER_ID), json.dumps({"text": "درخواست شما انجام شد.", "buttons": []})))
    for _ in range(100):
        if eitaa.sent:
            break
        time.sleep(0.1)
    assert eitaa.sent == [{"chat_id": [str(USER_ID)], "text": ["درخواست شما انجام شد."]}]


async def test_a_units_evidence_photo_reaches_the_mini_app_as_a_url(db: str, tmp_path: Path
                                                                    ) -> None:
    """The unit resolves an Eitaa citizen's ticket with a photo: the mini-app gets the
    photo's /media/ URL (never the server's path), and the URL serves the photo."""
    import httpx

    from peygir.bots.core import Core
    from peygir.config.settings import Settings
    from peygir.web.app import create_app
    from tests.panel_support import file, jpeg

    settings = Settings(database_url=db, media_dir=tmp_path / "media", eitaa_token=TOKEN,
                        _env_file=None)
    core = Core.build(settings)
    ticket = await file(chat=str(USER_ID))
    ticket.channel = "eitaa"
    await ticket.save()
    photo = await core.workflow.add_evidence(ticket, jpeg(), "after.jpg", "unit", tmp_path)
    await core.workflow.change_status(ticket, "in_progress", "unit")
    await core.workflow.change_status(ticket, "resolved", "unit", "انجام شد")
    transport = httpx.ASGITransport(app=create_app(core))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        polled = await c.get("/api/eitaa/poll", headers={"X-Eitaa-Init-Data": init_data()})
        assert polled.status_code == 200
        photos = [url for r in polled.json()["replies"] for url in r["photos"]]
        assert photos == [f"/media/{Path(photo.path).name}"]
        shown = await c.get(photos[0])
        assert shown.status_code == 200 and shown.content[:2] == b"\xff\xd8"


async def test_a_notification_carries_photo_links(eitaa: FakeEitaa, tmp_path: Path) -> None:
    from peygir.channels.eitaa import EitaaSender
    from peygir.messages.types import Reply

    sender = EitaaSender(TOKEN, f"{eitaa.base}/api", public_url="https://137.city.example/")
    try:
        await sender.send(str(USER_ID), Reply("کار انجام شد.", photos=("/m/ab/abcd.jpg",)))
    finally:
        await sender.close()
    text = eitaa.sent[-1]["text"][0]
    assert text.startswith("کار انجام شد.") and "https://137.city.example/media/abcd.jpg" in text
