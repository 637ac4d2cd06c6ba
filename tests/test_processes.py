"""Three `peygir serve` processes on one PostgreSQL under load; `kill -9` of one of them
mid-load, then of the one polling Telegram (issue 21): every report filed once, every reply
sent once and in order per chat, every voice note transcribed, and polling taken over."""

import asyncio
import contextlib
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import JobStatus, OutboxMessage, Ticket, TranscriptionJob
from tests.fakes.botapi import FakeBotApi
from tests.support import REPO_ROOT, reset_postgres, serve_env

TOKEN = "444:PROCESSES"
REPORT = "آسفالت کوچه ما پر از چاله شده"  # asks where, then whether to file it
TELEGRAM_CHATS = range(101, 119)  # 18 citizens on Telegram, a full report each
VOICE_CHATS = range(201, 204)  # 3 voice notes
WEB_CHATS = range(6)  # 6 citizens in the web chat
WAIT = 120.0  # seconds a citizen waits for one answer before the test fails


@dataclass
class Serve:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill_9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def start(name: str, role: str, url: str, api: FakeBotApi, tmp_path: Path,
          whisper_dir: Path) -> Serve:
    env = serve_env(
        PEYGIR_ROLE=role, PEYGIR_DATABASE_URL=url, PEYGIR_TELEGRAM_TOKEN=TOKEN,
        PEYGIR_TELEGRAM_API=api.base_url,
        PEYGIR_MEDIA_DIR=str(tmp_path / "media"),  # shared, as a deployment's volume is
        PEYGIR_WHISPER_MODEL=str(whisper_dir),
        PEYGIR_SCHEDULER_INTERVAL="5", PEYGIR_RETRAIN_CHECK="5")
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "peygir", "serve"], cwd=REPO_ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    serve = Serve(name, proc, f"http://127.0.0.1:{env['PEYGIR_WEB_PORT']}", log)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{serve.output()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(serve.base + "/healthz", timeout=2, trust_env=False).is_success:
                return serve
        if time.monotonic() > deadline:
            pytest.fail(f"{name} did not start:\n{serve.output()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    reset_postgres(postgres_database)
    yield postgres_database


async def interrupted(chat: str, pattern: str) -> bool:
    """Whether a reply matching ``pattern`` was closed as interrupted (its worker was killed
    handing it over): it may never have arrived, and the citizen would ask again."""
    rows = await OutboxMessage.filter(chat_id=chat, failed_at__isnull=False).values_list(
        "payload", flat=True)
    return any(re.search(pattern, str(row.get("text", ""))) for row in rows)  # type: ignore


async def said(api: FakeBotApi, chat: int, pattern: str) -> None:
    """Until the bot has told ``chat`` something matching ``pattern``."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        sent = api.sent(TOKEN, chat_id=chat, method="sendMessage")
        if any(re.search(pattern, c["params"].get("text", "")) for c in sent):
            return
        if await interrupted(str(chat), pattern):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"chat {chat} never heard /{pattern}/")


async def telegram_report(api: FakeBotApi, chat: int) -> None:
    api.push_message(TOKEN, chat, REPORT)
    await said(api, chat, "موقعیت")
    api.push_location(TOKEN, chat, 35.7 + chat / 10000, 51.4)
    await said(api, chat, "ثبت شود")
    api.push_callback(TOKEN, chat, "confirm")
    await said(api, chat, "کد پیگیری")


async def voice_report(api: FakeBotApi, chat: int, note: bytes) -> None:
    api.push_voice(TOKEN, chat, note, duration=4)
    await said(api, chat, "متن پیام صوتی")


async def web_report(bases: list[str], n: int) -> list[str]:
    """A web chat report, each step sent to the first web process that answers (a proxy's
    failover), with the same client id when a step is retried; the replies it was shown."""
    ids = itertools.count()
    shown: list[str] = []
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        async def step(body: dict[str, object]) -> None:
            message = {"client_id": f"w{n}-{next(ids)}", **body}
            for attempt in range(60):
                base = bases[attempt % len(bases)]
                try:
                    answer = await client.post(f"{base}/api/chat/send", json=message)
                except httpx.TransportError:
                    await asyncio.sleep(0.5)
                    continue
                assert answer.status_code == 200, answer.text
                shown.extend(reply["text"] for reply in answer.json()["replies"])
                if not answer.json()["replies"]:  # taken by a process that died meanwhile
                    await asyncio.sleep(0.5)
                    polled = await client.get(f"{bases[-1]}/api/chat/poll")
                    shown.extend(reply["text"] for reply in polled.json()["replies"])
                return
            raise AssertionError(f"web chat {n}: no web process answered")

        await step({"text": REPORT})
        await step({"location": {"lat": 35.6 + n / 1000, "lon": 51.3}})
        await step({"callback": "confirm"})
    return shown


def in_order_once(received: list[str], queued: list[tuple[str, bool]]) -> bool:
    """Whether ``received`` is the queued replies in order, each once, leaving out only
    ones closed as interrupted (``queued``: text, and whether it was interrupted)."""
    position = 0
    for text in received:
        while position < len(queued) and queued[position][0] != text:
            if not queued[position][1]:
                return False  # a reply marked sent was skipped
            position += 1
        if position == len(queued):
            return False  # sent twice, or never queued
        position += 1
    return all(interrupted for _, interrupted in queued[position:])


async def test_three_processes_survive_kill_9_of_one_then_of_the_poller(
        postgres_url: str, tmp_path: Path, voice_note: Path, whisper_dir: Path) -> None:
    async with FakeBotApi(tokens=(TOKEN,)) as api:
        first = start("all", "all", postgres_url, api, tmp_path, whisper_dir)
        serves = [first]
        try:
            serves.append(start("bots-worker", "bots,worker", postgres_url, api, tmp_path,
                                whisper_dir))
            serves.append(start("web-bots-worker-scheduler", "web,bots,worker,scheduler",
                                postgres_url, api, tmp_path, whisper_dir))
            last = serves[2]
            await open_db(postgres_url, upgrade=False)
            note = voice_note.read_bytes()
            load = [asyncio.create_task(telegram_report(api, chat)) for chat in TELEGRAM_CHATS]
            load += [asyncio.create_task(voice_report(api, chat, note)) for chat in VOICE_CHATS]
            web = [asyncio.create_task(web_report([first.base, last.base], n))
                   for n in WEB_CHATS]

            # Mid-load: one process goes, then the one that polls Telegram (the first
            # started holds the lease).
            while await Ticket.all().count() < 3:
                await asyncio.sleep(0.1)
            serves[1].kill_9()
            while await Ticket.all().count() < 10:
                await asyncio.sleep(0.1)
            assert "now holds the poll:telegram lease" in first.output()
            first.kill_9()

            await asyncio.wait_for(asyncio.gather(*load), timeout=WAIT * 3)
            shown = await asyncio.wait_for(asyncio.gather(*web), timeout=WAIT)
            await asyncio.sleep(3)  # room for a second copy of anything to show itself
            assert "now holds the poll:telegram lease" in last.output()

            # Every report filed once.
            for chat in TELEGRAM_CHATS:
                assert await Ticket.filter(channel="telegram", chat_id=str(chat)).count() == 1
            web_tickets = await Ticket.filter(channel="web").count()
            assert web_tickets == len(WEB_CHATS)
            assert all(any("کد پیگیری" in text for text in replies) for replies in shown)
            # Every voice note transcribed once, and its transcript told once.
            assert await TranscriptionJob.filter(status=JobStatus.DONE).count() == len(
                VOICE_CHATS)
            for chat in VOICE_CHATS:
                heard = [c for c in api.sent(TOKEN, chat_id=chat, method="sendMessage")
                         if "متن پیام صوتی" in c["params"]["text"]]
                assert len(heard) <= 1
            # Every reply sent once and in order per chat; none left waiting.
            assert not await OutboxMessage.filter(channel="telegram", sent_at__isnull=True,
                                                  failed_at__isnull=True).exists()
            for chat in [*TELEGRAM_CHATS, *VOICE_CHATS]:
                rows = await OutboxMessage.filter(channel="telegram", chat_id=str(chat)
                                                  ).order_by("id")
                queued = [(str(row.payload.get("text", "")), row.sent_at is None)
                          for row in rows]
                # A reply may take two messages (its text, then the location keyboard's
                # own line): the ones that are not a queued reply's text are left out.
                texts = {text for text, _ in queued}
                received = [c["params"]["text"]
                            for c in api.sent(TOKEN, chat_id=chat, method="sendMessage")
                            if c["params"]["text"] in texts]
                assert in_order_once(received, queued), json.dumps(
                    {"chat": chat, "received": received, "queued": queued},
                    ensure_ascii=False)
        finally:
            await close_db()
            for serve in serves:
                if serve.proc.poll() is None:
                    serve.kill_9()
                print(f"---- {serve.name} ----\n{serve.output()[-4000:]}")
