"""`kill -9` of `peygir serve` mid-conversation, then a restart: nothing lost, nothing twice."""

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import OutboxMessage, Ticket
from tests.fakes.botapi import FakeBotApi
from tests.support import free_port

TOKEN = "333:CRASH"




def start_serve(database_url: str, api: FakeBotApi, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PEYGIR_DATABASE_URL": database_url,
        "PEYGIR_WEB_PORT": str(free_port()),
        "PEYGIR_MEDIA_DIR": str(tmp_path / "media"),
        "PEYGIR_TELEGRAM_TOKEN": TOKEN,
        "PEYGIR_TELEGRAM_API": api.base_url,
    }
    log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115 - kept open for the child
    return subprocess.Popen([sys.executable, "-m", "peygir", "serve"], env=env,
                            stdout=log, stderr=log)


def kill_9(serve: subprocess.Popen[bytes]) -> None:
    serve.send_signal(signal.SIGKILL)
    serve.wait(timeout=10)


async def quiet(api: FakeBotApi, seconds: float = 2.0, limit: float = 30.0) -> None:
    """Until the bot has sent nothing new for ``seconds``."""
    waited, seen = 0.0, -1
    while waited < limit:
        count = len(api.calls(TOKEN))
        if count == seen:
            return
        seen = count
        await asyncio.sleep(seconds)
        waited += seconds


async def drained(database_url: str, limit: float = 30.0) -> None:
    """Until the running serve has sent (or given up on) every reply queued so far: on a busy
    machine a reply queued late (the scheduler's first pass) can miss a quiet spell."""
    await open_db(database_url)
    try:
        for _ in range(int(limit * 10)):
            pending = OutboxMessage.filter(sent_at__isnull=True, failed_at__isnull=True)
            if not await pending.exists():
                return
            await asyncio.sleep(0.1)
    finally:
        await close_db()


async def said(api: FakeBotApi, chat: int, pattern: str, since: int) -> dict:
    return await api.wait_for_sent(
        TOKEN, lambda c: re.search(pattern, c["params"].get("text", "")) is not None,
        method="sendMessage", chat_id=chat, since=since, timeout=30)


async def test_kill_9_mid_conversation_loses_nothing(database_url: str, tmp_path: Path) -> None:
    async with FakeBotApi(tokens=(TOKEN,)) as api:
        serve = start_serve(database_url, api, tmp_path)
        try:
            mark = len(api.calls(TOKEN))
            api.push_message(TOKEN, 77, "آسفالت کوچه ما پر از چاله شده")
            await said(api, 77, "موقعیت", mark)
            mark = len(api.calls(TOKEN))
            api.push_location(TOKEN, 77, 35.7, 51.4)
            await said(api, 77, "ثبت شود", mark)

            api.push_callback(TOKEN, 77, "confirm")
            await asyncio.sleep(0.05)  # the tap is in flight, perhaps half-handled
            kill_9(serve)

            serve = start_serve(database_url, api, tmp_path)
            await said(api, 77, "کد پیگیری", 0)
            await drained(database_url)  # every reply delivered ...
            await quiet(api)  # ... and room for a duplicate to show itself
        finally:
            kill_9(serve)

        codes = [c for c in api.sent(TOKEN, chat_id=77, method="sendMessage")
                 if "کد پیگیری" in c["params"]["text"]]
        assert len(codes) == 1, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]

    await open_db(database_url)
    try:
        assert await Ticket.filter(chat_id="77").count() == 1
        assert await OutboxMessage.filter(sent_at__isnull=True, failed_at__isnull=True
                                          ).count() == 0
    finally:
        await close_db()


async def test_kill_9_during_transcription_finishes_after_restart(
    database_url: str, tmp_path: Path, voice_note: Path, whisper_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PEYGIR_WHISPER_MODEL", str(whisper_dir))
    async with FakeBotApi(tokens=(TOKEN,)) as api:
        serve = start_serve(database_url, api, tmp_path)
        try:
            api.push_voice(TOKEN, 78, voice_note.read_bytes(), duration=4)
            await said(api, 78, "در حال تبدیل", 0)
            await asyncio.sleep(1.0)  # Whisper is loading or listening now
            kill_9(serve)
            serve = start_serve(database_url, api, tmp_path)
            await said(api, 78, "متن پیام صوتی", 0)
            await quiet(api)  # room for a second transcript to show itself
        finally:
            kill_9(serve)
        heard = [c for c in api.sent(TOKEN, chat_id=78, method="sendMessage")
                 if "متن پیام صوتی" in c["params"]["text"]]
        assert len(heard) == 1, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
