"""Stored XSS through a citizen's photo, and the media routes' other hostile inputs.

The attack (security issue 14, finding 1): through the Eitaa mini-app a citizen uploads a
real JPEG that is also a script, declared ``application/javascript``, and a real JPEG with an
HTML page after it, declared ``text/html``, whose ``<script src>`` names the first. Both pass
the probe: they are JPEGs. An operator who opens the second photo in the panel must see a
photo, and nothing of either may ever run on the panel's origin.

The browser test runs the real `peygir serve` (SQLite) in real Chromium; the route checks run
on SQLite and PostgreSQL through the real app.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
import httpx
import pytest

from peygir.bots.core import Core
from peygir.channels.downloads import keep_download
from peygir.channels.eitaa import sign
from peygir.config.settings import Settings
from peygir.messages.types import Attachment as Item
from peygir.ticket_store.models import Attachment
from peygir.web.app import create_app
from tests.hostile.polyglots import jpeg_html, jpeg_javascript, plain_jpeg
from tests.panel_support import PASSWORD, file, signed_in
from tests.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    database_for,
    serve_env,
    serving,
)

TOKEN = "eitaa-token-for-the-hostile-media-tests"
USER_ID = 70777
# What the hidden script does if it ever runs: each is checked for afterwards.
PAYLOAD = 'window.pwned=1,document.title="pwned",fetch("/pwned-beacon")'
REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده"
TIMEOUT_MS = 15_000


def init_data(user_id: int = USER_ID) -> str:
    fields = {"auth_date": str(int(time.time())), "query_id": "AAE1",
              "user": json.dumps({"id": user_id, "first_name": "مهاجم"}, ensure_ascii=False,
                                 separators=(",", ":"))}
    fields["hash"] = sign(fields, TOKEN)
    return urlencode(fields)


def html_page(script_url: str) -> str:
    """The page after the JPEG: the other photo as a script (the panel's CSP allows its own
    origin's scripts), an inline script and an event handler (which the CSP should stop)."""
    return (f'<html><body><script src="{script_url}" charset="ISO-8859-1"></script>'
            f"<script>{PAYLOAD}</script><img src=/nothing onerror='{PAYLOAD}'></body></html>")


def assert_inert(headers: httpx.Headers | dict[str, str], shown_as: str = "image/jpeg") -> None:
    assert headers["content-type"] == shown_as
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]
    assert "attachment" not in headers.get("content-disposition", "")


# -- the real server, in real Chromium --------------------------------------------------------
@dataclass
class Server:
    base: str
    db: str  # the database URL the server runs on
    log: Path


def _http(base: str, path: str, data: bytes, content_type: str) -> dict:
    request = urllib.request.Request(base + path, data=data, method="POST", headers={
        "Content-Type": content_type, "X-Eitaa-Init-Data": init_data()})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read())


def _say(base: str, body: dict) -> str:
    answer = _http(base, "/api/eitaa/send", json.dumps(body).encode(), "application/json")
    return " ".join(r["text"] for r in answer["replies"])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("xss")
    database_url = database_for(request, tmp)
    env = serve_env(PEYGIR_DATABASE_URL=database_url,
                    PEYGIR_MEDIA_DIR=str(tmp / "media"), PEYGIR_EITAA_TOKEN=TOKEN)
    subprocess.run([sys.executable, "-m", "peygir", "users", "add", "operator1", "--role",
                    "operator", "--password-stdin"], cwd=REPO_ROOT, env=env,
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    with serving(env, tmp / "server.log") as base:
        yield Server(base, database_url, tmp / "server.log")


def _one_row(database_url: str, sql: str, *args: object) -> tuple[Any, ...] | None:
    """One row from the server's database, SQLite or PostgreSQL (``$1`` placeholders)."""
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
            found = conn.execute(re.sub(r"\$\d", "?", sql), args).fetchone()
        return tuple(found) if found else None

    async def fetch() -> tuple[Any, ...] | None:
        conn = await asyncpg.connect(database_url)
        try:
            found = await conn.fetchrow(sql, *args)
        finally:
            await conn.close()
        return tuple(found) if found else None

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def _attachment_id(db: str, client_id: str) -> int:
    row = _one_row(db, "SELECT id FROM attachment WHERE file_ref = $1",
                   f"eitaa-upload:{client_id}")
    assert row is not None, f"the upload {client_id} was not kept"
    return int(row[0])


def _file_hostile_report(server: Server) -> tuple[str, int, int]:
    """The attacker's two uploads and report, through the real mini-app API: the tracking
    code, the script photo's id and the page photo's id."""
    _http(server.base, "/api/eitaa/photo?client_id=js1", jpeg_javascript(PAYLOAD),
          "application/javascript")
    js_id = _attachment_id(server.db, "js1")
    _http(server.base, "/api/eitaa/photo?client_id=page1",
          jpeg_html(html_page(f"/panel/media/{js_id}")), "text/html")
    page_id = _attachment_id(server.db, "page1")
    _say(server.base, {"client_id": "t1", "text": REPORT})
    _say(server.base, {"client_id": "t2", "location": {"lat": 36.297, "lon": 59.606}})
    assert "کد پیگیری" in _say(server.base, {"client_id": "t3", "callback": "confirm"})
    found = _one_row(server.db, "SELECT t.tracking_code, count(a.id) FROM ticket t"
                     " JOIN attachment a ON a.ticket_id = t.id WHERE t.channel = 'eitaa'"
                     " GROUP BY t.id")
    assert found is not None
    code, attached = found
    assert attached == 2
    return code, js_id, page_id


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_an_operator_opening_a_polyglot_photo_runs_no_script(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    code, js_id, page_id = _file_hostile_report(server)
    beacons: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=server.base, locale="fa-IR")
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", lambda r: beacons.append(r.url) if "pwned" in r.url else None)
        page = context.new_page()
        page.goto("/panel/login")
        page.locator("#username").fill("operator1")
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name="ورود").click()
        expect(page.locator("header .who")).to_be_visible()

        def not_pwned(where: str) -> None:
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.pwned") is None, where
            assert page.title() != "pwned", where

        # The ticket page shows both as photos; the operator clicks the one hiding a page.
        page.goto(f"/panel/tickets/{code}")
        photo = page.locator(f'#media a[href="/panel/media/{page_id}"]')
        expect(photo.locator("img")).to_be_visible()
        assert photo.locator("img").evaluate("img => img.naturalWidth") == 48
        with page.expect_navigation() as opened:
            photo.click()
        not_pwned("the photo hiding a page, clicked")
        assert_inert(opened.value.headers)
        assert page.evaluate("document.contentType") == "image/jpeg"

        # Its address and the script photo's, opened directly.
        for attachment_id in (page_id, js_id):
            response = page.goto(f"/panel/media/{attachment_id}")
            assert response is not None and response.status == 200
            not_pwned(f"/panel/media/{attachment_id} opened")
            assert_inert(response.headers)

        # The script photo as a same-origin <script src> (which the panel's CSP allows):
        # the browser must refuse to run an image.
        page.goto(f"/panel/tickets/{code}")
        outcome = page.evaluate("""id => new Promise(done => {
            const s = document.createElement('script');
            s.src = '/panel/media/' + id;
            s.charset = 'ISO-8859-1';
            s.onload = () => done('ran');
            s.onerror = () => done('refused');
            document.head.append(s);
        })""", js_id)
        assert outcome == "refused"
        not_pwned("the script photo as <script src>")
        browser.close()
    assert beacons == []


# -- the routes, on SQLite and PostgreSQL -----------------------------------------------------
def _core(db: str, tmp_path: Path) -> Core:
    return Core.build(Settings(database_url=db, media_dir=tmp_path / "media",
                               eitaa_token=TOKEN, _env_file=None))


def _client(core: Core) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(core)),
                             base_url="http://testserver")


async def test_an_upload_is_recorded_as_what_the_probe_found(db: str, tmp_path: Path) -> None:
    uploads = {
        "js": (jpeg_javascript(PAYLOAD), "application/javascript"),
        "page": (jpeg_html(html_page("/panel/media/1")), "text/html; charset=utf-8"),
        "svg": (plain_jpeg(), "image/svg+xml"),
        "fake": (b"<html><script>alert(1)</script></html>", "image/jpeg"),
    }
    async with _client(_core(db, tmp_path)) as c:
        for client_id, (data, declared) in uploads.items():
            answer = await c.post("/api/eitaa/photo", params={"client_id": client_id},
                                  content=data, headers={"Content-Type": declared,
                                                         "X-Eitaa-Init-Data": init_data()})
            assert answer.status_code == 200
    rows = {row.file_ref.removeprefix("eitaa-upload:"): row for row in await Attachment.all()}
    assert {k: rows[k].mime for k in ("js", "page", "svg")} == dict.fromkeys(
        ("js", "page", "svg"), "image/jpeg")
    assert all(Path(rows[k].path or "").suffix == ".jpg" for k in ("js", "page", "svg"))
    # Not an image at all: refused politely, nothing kept.
    assert "fake" not in rows


async def test_rows_kept_with_a_hostile_type_are_served_as_media_or_as_a_download(
    db: str, tmp_path: Path
) -> None:
    """Rows stored before the fix kept the uploader's type: the panel ignores it."""
    core = _core(db, tmp_path)
    media = tmp_path / "media" / "ab"
    media.mkdir(parents=True)
    ticket = await file()
    files = {  # name: (bytes, the type the row says)
        "page.jpg": (jpeg_html(html_page("/panel/media/2")), "text/html"),
        "script.jpg": (jpeg_javascript(PAYLOAD), "application/javascript; charset=ISO-8859-1"),
        "drawing.svg": (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
                        "image/svg+xml"),
        "page.html": (b"<script>alert(1)</script>", None),
        "sound.ogg": (b"OggS-not-really", "text/html"),
    }
    ids = {}
    for name, (data, mime) in files.items():
        (media / name).write_bytes(data)
        row = await Attachment.create(ticket=ticket, channel="eitaa", chat_id="c1", kind="photo",
                                      file_ref=name, mime=mime, path=str(media / name))
        ids[name] = row.id
    async with signed_in(create_app(core), "op", "operator") as c:
        shown = {name: await c.get(f"/panel/media/{i}") for name, i in ids.items()}
    assert_inert(shown["page.jpg"].headers)
    assert_inert(shown["script.jpg"].headers)
    assert_inert(shown["sound.ogg"].headers, "audio/ogg")  # by its content-given extension
    for name in ("drawing.svg", "page.html"):
        headers = shown[name].headers
        assert headers["content-type"] == "application/octet-stream"
        assert headers["content-disposition"].startswith("attachment")
        assert headers["x-content-type-options"] == "nosniff"
    assert shown["page.jpg"].content == files["page.jpg"][0]


@pytest.mark.parametrize("attachment_id", [
    "99999999999999999999999", str(2**31), str(2**63), "0", "-1",
])
async def test_an_impossible_attachment_id_is_not_found(db: str, tmp_path: Path,
                                                        attachment_id: str) -> None:
    async with signed_in(create_app(_core(db, tmp_path)), "op", "operator") as c:
        assert (await c.get(f"/panel/media/{attachment_id}")).status_code == 404


async def test_the_same_evidence_photo_kept_twice_is_still_served(db: str, tmp_path: Path
                                                                  ) -> None:
    core = _core(db, tmp_path)
    ticket = await file()
    photo = plain_jpeg()
    media_dir = core.settings.media_dir
    first = await core.workflow.add_evidence(ticket, photo, "after.jpg", "unit", media_dir)
    again = await core.workflow.add_evidence(ticket, photo, "after.jpg", "unit", media_dir)
    assert first.sha256 == again.sha256 and first.id != again.id
    # A row kept with a hostile type is still only ever an image.
    await Attachment.filter(id=again.id).update(mime="text/html")
    async with _client(core) as c:
        shown = await c.get(f"/media/{Path(first.path or '').name}")
    assert shown.status_code == 200
    assert_inert(shown.headers)
    assert shown.content == Path(first.path or "").read_bytes()


async def test_odd_public_media_names_are_not_found(db: str, tmp_path: Path) -> None:
    core = _core(db, tmp_path)
    ticket = await file()
    evidence = await core.workflow.add_evidence(ticket, plain_jpeg(), "a.jpg", "unit",
                                                core.settings.media_dir)
    sha = evidence.sha256 or ""
    citizens = await Attachment.create(ticket=ticket, channel="eitaa", chat_id="c1",
                                       kind="photo", file_ref="x", mime="image/jpeg",
                                       path=evidence.path, sha256="b" * 64)
    # (A bare ".." is resolved by the client itself: it has to travel percent-encoded.)
    names = ["x" * 10_000, "۱" * 64 + ".jpg", "٠" * 64, sha.upper() + ".jpg", "%2e%2e",
             quote("../../peygir.db", safe=""), quote("\x00", safe=""), sha + ".jpg" + "a" * 300,
             f"{citizens.sha256}.jpg", "a" * 63 + ".jpg", quote("ـ" * 64, safe="")]
    async with _client(core) as c:
        for name in names:
            assert (await c.get(f"/media/{name}")).status_code == 404, name[:80]
        assert (await c.get(f"/media/{sha}.jpg")).status_code == 200


# -- the messengers' downloads ----------------------------------------------------------------
def test_a_download_is_recorded_as_what_the_probe_found(tmp_path: Path) -> None:
    """Telegram, Bale and Instagram downloads all go through keep_download."""
    media = tmp_path / "media"
    page = keep_download(jpeg_html(html_page("/x")), Item("photo", "p1", "text/html"), media,
                         "test")
    script = keep_download(jpeg_javascript(PAYLOAD),
                           Item("document", "d1", "application/javascript"), media, "test",
                           ".js")
    assert (page.mime, script.mime) == ("image/jpeg", "image/jpeg")
    assert Path(script.path or "").suffix == ".jpg"  # the content's, not the name's ".js"
    refused = keep_download(b"<html></html>", Item("photo", "p2", "image/jpeg"), media, "test")
    assert refused.path is None and refused.mime is None


def test_a_voice_note_and_a_video_are_recorded_as_what_they_are(tmp_path: Path) -> None:
    voice, video = tmp_path / "v.ogg", tmp_path / "v.mp4"
    for args in (["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libopus",
                  str(voice)],
                 ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "1", "-c:v", "mpeg4",
                  str(video)]):
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *args], check=True)
    heard = keep_download(voice.read_bytes(), Item("voice", "v1", "text/html"),
                          tmp_path / "media", "test")
    seen = keep_download(video.read_bytes(), Item("video", "v2", "application/xhtml+xml"),
                         tmp_path / "media", "test")
    assert (heard.mime, seen.mime) == ("audio/ogg", "video/mp4")
