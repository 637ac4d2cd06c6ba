"""Hostile bodies at the web routes: NaN and Infinity, lone surrogates, and bodies far too large.

Each gets a 4xx with a message that says what was wrong, never a 500, and the dialogue never
sees it. In-process (httpx against the real app) on SQLite and PostgreSQL for the routes that
reach the database; a 150 MB chunked upload against `peygir serve` on loopback, whose memory
is measured while it refuses it.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from peygir.bots.core import Core
from peygir.channels.eitaa import sign
from peygir.config.settings import Settings
from peygir.ticket_store.models import ProcessedUpdate, Ticket
from peygir.web.app import create_app
from tests.fakes.botapi import FakeBotApi
from tests.support import serve_env, serving

EITAA_TOKEN = "eitaa-token-for-hostile-tests"
OPEN311_KEY = "hostile-key-0123456789"
BOT_TOKEN = "555:HOSTILE"
MB = 1024 * 1024


def init_data(user_id: int = 4242) -> str:
    fields = {"auth_date": str(int(time.time())), "query_id": "AAE1",
              "user": json.dumps({"id": user_id, "first_name": "x"}, separators=(",", ":"))}
    fields["hash"] = sign(fields, EITAA_TOKEN)
    return urlencode(fields)


@pytest.fixture
async def api(db: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=db, media_dir=tmp_path / "media", eitaa_token=EITAA_TOKEN,
                        open311_keys=OPEN311_KEY, _env_file=None)
    app = create_app(Core.build(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# Raw JSON, as a hostile client writes it: Python's json module reads every one of these.
BAD_JSON = {
    "nan_location": '{"client_id": "a1", "location": {"lat": NaN, "lon": NaN}}',
    "infinite_location": '{"client_id": "a2", "location": {"lat": Infinity, "lon": 1}}',
    "negative_infinity": '{"client_id": "a3", "location": {"lat": 1, "lon": -Infinity}}',
    "overflowing_number": '{"client_id": "a4", "location": {"lat": 1e999, "lon": 1}}',
    "nan_as_a_string": '{"client_id": "a5", "location": {"lat": "NaN", "lon": "inf"}}',
    "nan_text": '{"client_id": "a6", "text": NaN}',
    "nan_in_an_unknown_field": '{"client_id": "a7", "text": "سلام", "extra": NaN}',
    "surrogate_text": '{"client_id": "a8", "text": "\\ud800"}',
    "surrogate_client_id": '{"client_id": "\\ud800"}',
    "surrogate_callback": '{"client_id": "a9", "callback": "\\udfff"}',
    "surrogate_after_a_pair": '{"client_id": "b1", "text": "\\ud83d\\ude00\\ud83d"}',
    "empty_message": '{"client_id": "b2"}',
}


@pytest.mark.parametrize("route", ["/api/chat/send", "/api/eitaa/send"])
async def test_nan_infinity_and_lone_surrogates_are_a_422(api: httpx.AsyncClient,
                                                          route: str) -> None:
    headers = {"Content-Type": "application/json", "X-Eitaa-Init-Data": init_data()}
    for name, body in BAD_JSON.items():
        response = await api.post(route, content=body.encode(), headers=headers)
        assert response.status_code == 422, (name, response.status_code, response.text)
        detail = response.json()["detail"]  # valid JSON, in the documented shape
        assert detail and all({"loc", "msg", "type"} <= set(e) for e in detail), (name, detail)
        assert "input" not in response.text  # what was sent is never echoed
    assert await ProcessedUpdate.all().count() == 0  # the dialogue saw none of them
    # A real message still goes through, emoji and all.
    fine = await api.post(route, headers=headers, json={
        "client_id": "ok1", "text": "سلام 🙂", "location": None})
    assert fine.status_code == 200, fine.text


async def test_the_messages_name_what_was_wrong(api: httpx.AsyncClient) -> None:
    async def first_error(body: str) -> str:
        response = await api.post("/api/chat/send", content=body.encode(),
                                  headers={"Content-Type": "application/json"})
        return response.json()["detail"][0]["msg"]

    assert "NaN is not JSON" in await first_error(BAD_JSON["nan_location"])
    # Coordinates are numbers, strictly: "NaN" in quotes is no number (nor is "35.7").
    assert "valid number" in await first_error(BAD_JSON["nan_as_a_string"])
    assert "نویسهٔ نامعتبر" in await first_error(BAD_JSON["surrogate_text"])
    assert "پیام خالی است" in await first_error(BAD_JSON["empty_message"])


async def test_open311_post_refuses_the_same(api: httpx.AsyncClient) -> None:
    base = {"api_key": OPEN311_KEY, "service_code": "asphalt", "description": "چاله"}
    cases = {
        "nan": urlencode(base | {"lat": "NaN", "long": "NaN"}),
        "infinity": urlencode(base | {"lat": "Infinity", "long": "-inf"}),
        "overflow": urlencode(base | {"lat": "1e999", "long": "1"}),
        # A lone surrogate in UTF-8 (CESU-8) bytes: not UTF-8 at all.
        "surrogate": urlencode({k: v for k, v in base.items() if k != "description"})
        + "&address_string=x&description=%ED%A0%80",
    }
    for name, form in cases.items():
        response = await api.post("/open311/v2/requests.json", content=form, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert response.json()[0]["description"], name  # the spec's error list
    as_json = await api.post("/open311/v2/requests.json", headers={
        "Content-Type": "application/json"}, content=b'{"lat": NaN, "long": NaN}')
    assert as_json.status_code == 400
    assert await Ticket.all().count() == 0


@pytest.fixture
async def webhook(database_url: str, tmp_path: Path
                  ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app with a Telegram bot in webhook mode (the fake Bot API takes setWebhook)."""
    async with FakeBotApi(tokens=(BOT_TOKEN,)) as bot_api:
        settings = Settings(database_url=database_url, media_dir=tmp_path / "media",
                            telegram_token=BOT_TOKEN, telegram_api=bot_api.base_url,
                            webhook_base="https://137.city.example",
                            webhook_secret="a long and private secret", _env_file=None)
        core = Core.build(settings)
        await core.start()
        try:
            path = bot_api.webhook(BOT_TOKEN)["url"].removeprefix("https://137.city.example")
            transport = httpx.ASGITransport(app=create_app(core), raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                         headers={"X-Telegram-Bot-Api-Secret-Token":
                                                  bot_api.webhook(BOT_TOKEN).get(
                                                      "secret_token", "")}) as client:
                yield client, path
        finally:
            await core.stop()


def update(update_id: int, **message: object) -> str:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_760_000_000, "chat": {"id": 7, "type": "private"},
        "from": {"id": 7, "is_bot": False, "first_name": "x"}, **message}})


async def test_the_bot_webhook_refuses_nan_and_mends_surrogates(
        webhook: tuple[httpx.AsyncClient, str]) -> None:
    client, path = webhook
    nan_place = update(1, location={"latitude": 1.0, "longitude": 2.0}).replace("1.0", "NaN")
    assert "NaN" in nan_place
    for body in (nan_place, update(2, text="x").replace('"x"', "Infinity"), "[NaN]"):
        response = await client.post(path, content=body)
        assert response.status_code == 400, (body, response.status_code)
    assert not await ProcessedUpdate.filter(dedup_key__in=["telegram:1", "telegram:2"]).exists()
    # A lone surrogate is valid JSON and no character: the update is taken, the text mended.
    mended = await client.post(path, content=update(3, text="سلام").replace(
        '"text": "', '"text": "\\ud800'))
    assert mended.status_code == 200, mended.text
    assert await ProcessedUpdate.filter(dedup_key="telegram:3").exists()


async def test_an_oversized_body_is_refused_as_it_streams(api: httpx.AsyncClient) -> None:
    """No Content-Length: the app pulls the body chunk by chunk and stops at the cap."""
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(150 * 16):  # 150 MB in 64 KB chunks
            pulled += 1
            yield b"a" * 65536

    response = await api.post("/api/chat/send", content=endless(),
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "حجم درخواست" in response.json()["detail"]
    assert pulled <= 14  # the JSON API's 640 KB cap in 64 KB chunks, and a chunk or two more
    # Open311's route words it in the spec's error list (its own cap comes first).
    response = await api.post("/open311/v2/requests.json", content=endless(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code in (400, 413) and response.json()[0]["description"]


# -- against `peygir serve` on loopback ---------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("bodies")
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp}/t.db", PEYGIR_MEDIA_DIR=str(tmp / "m"),
                    PEYGIR_EITAA_TOKEN=EITAA_TOKEN)
    with serving(env, tmp / "server.log") as base:
        yield base


def server_pid(base: str) -> int:
    """`peygir serve`'s process, found by the port in its environment."""
    port = base.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if f"PEYGIR_WEB_PORT={port}".encode() in environ and b"peygir" in cmdline:
                return int(proc.name)
    raise AssertionError(f"no `peygir serve` on port {port}")


def peak_rss(pid: int) -> int:
    """The process's high-water resident memory, bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def push_chunked(base: str, path: str, total: int, headers: str = "",
                 chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """POST ``total`` bytes chunked, reading the answer as soon as there is one (as a real
    client would); returns the bytes sent and the response's head."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
                  f"Content-Type: application/json\r\n{headers}\r\n").encode())
    piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"
    sent = 0
    answer = b""
    with sock:
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except OSError:  # the server hung up on the rest: fine, its answer is in
                break
            sent += chunk
        try:
            while b"\r\n\r\n" not in answer and (part := sock.recv(65536)):
                answer += part
        except OSError:
            pass
    return sent, answer


def test_150_mb_chunked_is_refused_early_in_bounded_memory(server: str) -> None:
    pid = server_pid(server)
    before = peak_rss(pid)
    sent, answer = push_chunked(server, "/api/chat/send", 150 * MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 32 * MB, sent  # refused long before the end (the rest is socket buffers)
    assert peak_rss(pid) - before < 32 * MB, (before, peak_rss(pid))
    # The server is well and answers the next request.
    with httpx.Client(trust_env=False) as client:
        assert client.get(server + "/healthz").status_code == 200


@pytest.mark.parametrize(("path", "extra"), [
    ("/api/chat/send", ""),
    ("/api/eitaa/photo?client_id=p1", f"X-Eitaa-Init-Data: {init_data()}\r\n"),
    ("/panel/login", ""),
])
def test_every_route_caps_its_body(server: str, path: str, extra: str) -> None:
    pid = server_pid(server)
    before = peak_rss(pid)
    sent, answer = push_chunked(server, path, 150 * MB, extra)
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    assert 400 <= status < 500, answer[:300]  # 413, or refused before the body (CSRF: 403)
    assert sent < 48 * MB and peak_rss(pid) - before < 48 * MB, (sent, before, peak_rss(pid))


def test_a_declared_oversize_body_is_refused_before_it_is_sent(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall((f"POST /api/chat/send HTTP/1.1\r\nHost: {host}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {150 * MB}\r\n"
                      "\r\n").encode())
        answer = b""
        while part := sock.recv(65536):  # the server closes once it has answered
            answer += part
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert "حجم درخواست".encode() in answer


def test_an_honest_long_report_still_fits(server: str) -> None:
    text = ("سطل زباله پر است و بوی بد می‌دهد. " * 700)[:20_000]
    with httpx.Client(trust_env=False, timeout=30) as client:
        response = client.post(server + "/api/chat/send",
                               json={"client_id": "long1", "text": text})
    assert response.status_code == 200, response.text[:300]
