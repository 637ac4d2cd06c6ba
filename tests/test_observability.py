"""Operating it (issue 21, item 4): /readyz, Prometheus /metrics and JSON logs, over the real
app on loopback (uvicorn in this process, on SQLite and PostgreSQL) and the real
`peygir serve` (a child process)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from peygir.bots.core import Core
from peygir.config.pack import Pack
from peygir.config.settings import Settings
from peygir.conversation import metrics
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.db import close_db
from peygir.ticket_store.models import (
    Attachment,
    EscalationAlert,
    JobStatus,
    OutboxMessage,
    Ticket,
    TicketStatus,
    TranscriptionJob,
)
from peygir.ticket_store.workflow import Workflow
from peygir.web.app import create_app
from tests.panel_support import file
from tests.support import free_port, serve_env, serving

PHONE = "09127654321"
WORDS = "سطل زباله کوچه مهتاب پلاک ۱۷ پر شده"
TOKEN = "scrape-token-0123456789abcdef"


def make_core(db: str, pack: Pack, classifier: Classifier, **settings: Any) -> Core:
    chosen = Settings(database_url=db, _env_file=None, **settings)  # type: ignore[call-arg]
    workflow = Workflow(pack, voice=Notices(pack, chosen.timezone), timezone=chosen.timezone)
    dialogue = Dialogue(pack, classifier, workflow=workflow, timezone=chosen.timezone)
    return Core(chosen, pack, classifier, dialogue, workflow)


@asynccontextmanager
async def running(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    """The real app under uvicorn on a free loopback port, started and stopped with it."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(core), host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                                     timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def build(db: str, default_pack: Pack, default_classifier: Classifier) -> Any:
    return lambda **settings: make_core(db, default_pack, default_classifier, **settings)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(api: httpx.AsyncClient, **headers: str) -> str:
    answer = await api.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


async def _age(row_id: int, seconds: float) -> None:
    await OutboxMessage.filter(id=row_id).update(
        created_at=datetime.now(UTC) - timedelta(seconds=seconds))


# -- /readyz ---------------------------------------------------------------------------------
async def test_ready_until_a_queue_sticks_or_a_worker_stops(build: Any) -> None:
    core = build()
    async with running(core) as api:
        ready = await api.get("/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["ready"] is True and body["reasons"] == [] and body["database"] == "ok"
        assert {"scheduler", "transcription", "relearn"} <= set(body["workers"])
        assert set(body["workers"].values()) == {"running"}
        assert body["queues"] == {"outbox_waiting": 0, "outbox_lag_seconds": 0,
                                  "transcription_waiting": 0, "transcription_lag_seconds": 0}

        # A web chat reply waits for the citizen's page, however long: not our queue.
        web = await OutboxMessage.create(channel="web", chat_id="w", payload={"text": "x"})
        await _age(web.id, 3600)
        # A Telegram reply due for ten minutes is: its sender is stuck.
        stuck = await OutboxMessage.create(channel="telegram", chat_id="t",
                                           payload={"text": "x"})
        await _age(stuck.id, 600)
        # One waiting out a retry's backoff is not due yet.
        later = await OutboxMessage.create(channel="telegram", chat_id="u", payload={"text": "x"},
                                           next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
        await _age(later.id, 7200)
        answer = await api.get("/readyz")
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["ready"] is False
        [reason] = body["reasons"]
        assert re.fullmatch(r"outbox: replies for telegram waiting 6[0-9][0-9] s", reason)
        assert body["queues"]["outbox_waiting"] == 1
        assert 599 < body["queues"]["outbox_lag_seconds"] < 700
        assert answer.headers["cache-control"] == "no-store"

        await OutboxMessage.filter(id=stuck.id).update(sent_at=datetime.now(UTC))
        assert (await api.get("/readyz")).status_code == 200

        scheduler = core.task("scheduler")
        assert scheduler is not None
        scheduler.cancel()
        await asyncio.gather(scheduler, return_exceptions=True)
        answer = await api.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["reasons"] == ["worker scheduler is not running"]
        assert answer.json()["workers"]["scheduler"] == "stopped"
        assert (await api.get("/healthz")).status_code == 200  # alive, only not ready


async def test_not_ready_without_the_database(build: Any) -> None:
    async with running(build()) as api:
        assert (await api.get("/readyz")).status_code == 200
        await close_db()
        answer = await api.get("/readyz")
        assert answer.status_code == 503
        body = answer.json()
        assert body["database"] == "unreachable" and "queues" not in body
        assert body["reasons"][0].startswith("database: ")


# -- /metrics --------------------------------------------------------------------------------
async def test_metrics_are_off_by_default(build: Any) -> None:
    async with running(build()) as api:
        assert (await api.get("/metrics")).status_code == 404


async def test_metrics_count_what_happens_and_name_nobody(build: Any) -> None:
    async with running(build(metrics=True)) as api:
        before = samples(await scrape(api))
        await api.get("/")  # the web chat's cookie
        for n, text in enumerate((f"سلام، شماره من {PHONE} است", WORDS)):
            answer = await api.post("/api/chat/send", json={"client_id": f"m{n}", "text": text})
            assert answer.status_code == 200, answer.text
        repeat = await api.post("/api/chat/send", json={"client_id": "m1", "text": WORDS})
        assert repeat.status_code == 200  # the same update again: handled once, counted once
        ticket = await file(chat="metrics-chat")
        await file(chat="metrics-chat", unit="north_works")
        await EscalationAlert.create(ticket=ticket, level=1, recipient="manager",
                                     fired_at=datetime.now(UTC))
        telegram = await OutboxMessage.create(channel="telegram", chat_id="t",
                                              payload={"text": "x"})
        await _age(telegram.id, 42)
        logging.getLogger("peygir.test").error("a failure worth an alert")
        text = await scrape(api)
        after = samples(text)
        counted = {state: await Ticket.filter(status=state).count()
                   for state in ("new", "assigned")}

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert delta("peygir_messages_total", channel="web") == 2
    assert delta("peygir_errors_total", source="log") >= 1
    by_state = {dict(labels)["state"]: value for (name, labels), value in after.items()
                if name == "peygir_tickets"}
    assert set(by_state) == {str(s) for s in TicketStatus}  # every state, always
    assert by_state["new"] == counted["new"] >= 1
    assert by_state["assigned"] == counted["assigned"] >= 1
    assert after[("peygir_escalations_total", ())] == 1
    assert after[("peygir_outbox_waiting", ())] >= 1  # the Telegram reply (the web's are pulled)
    assert 41 <= after[("peygir_outbox_lag_seconds", ())] < 100
    assert after[("peygir_transcription_waiting", ())] == 0
    assert ("peygir_transcription_seconds_count", ()) in after
    # No personal data, and a fixed, small set of label values.
    for secret in (PHONE, "۰۹۱۲", "مهتاب", "metrics-chat", ticket.tracking_code):
        assert secret not in text
    allowed = {"channel": metrics.CHANNELS | {"other"}, "state": {str(s) for s in TicketStatus},
               "source": {"log", "http"}, "le": None}
    for (name, labels) in after:
        for key, value in labels:
            assert key in allowed, (name, key)
            assert allowed[key] is None or value in allowed[key], (name, key, value)


class InstantWhisper:
    def transcribe(self, path: str) -> object:
        return type("Said", (), {"text": "سلام"})()


async def _voice_note(tmp_path: Path, name: str, waited: float) -> TranscriptionJob:
    note = tmp_path / f"{name}.ogg"
    note.write_bytes(b"OggS")
    attachment = await Attachment.create(channel="web", chat_id=name, kind="voice",
                                         file_ref=name, path=str(note))
    job = await TranscriptionJob.create(channel="web", chat_id=name, user_id=name,
                                        attachment=attachment)
    await TranscriptionJob.filter(id=job.id).update(
        created_at=datetime.now(UTC) - timedelta(seconds=waited))
    return job


async def test_voice_notes_waiting_and_their_latency(build: Any, tmp_path: Path) -> None:
    core = build(metrics=True, ready_transcription_lag=20)
    async with running(core) as api:
        assert core.transcription is not None
        core.transcription._transcriber = InstantWhisper()  # Whisper itself: test_transcribe
        before = samples(await scrape(api))
        job = await _voice_note(tmp_path, "v1", waited=30)
        core.transcription.wake.set()
        for _ in range(200):
            if (await TranscriptionJob.get(id=job.id)).status == JobStatus.DONE:
                break
            await asyncio.sleep(0.1)
        done = samples(await scrape(api))
        count = ("peygir_transcription_seconds_count", ())
        total = ("peygir_transcription_seconds_sum", ())
        assert done[count] - before[count] == 1
        assert 30 <= done[total] - before[total] < 60
        assert done[("peygir_transcription_waiting", ())] == 0

        task = core.task("transcription")
        assert task is not None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await _voice_note(tmp_path, "v2", waited=45)
        waiting = samples(await scrape(api))
        assert waiting[("peygir_transcription_waiting", ())] == 1
        assert 45 <= waiting[("peygir_transcription_lag_seconds", ())] < 80
        answer = await api.get("/readyz")
        assert answer.status_code == 503
        stopped, late = answer.json()["reasons"]
        assert stopped == "worker transcription is not running"
        assert re.fullmatch(r"transcription: a voice note waiting [4-7][0-9] s", late)
        assert answer.json()["queues"]["transcription_waiting"] == 1


def test_a_channel_nobody_listed_is_other() -> None:
    def other() -> float:
        return metrics.REGISTRY.get_sample_value("peygir_messages_total",
                                                 {"channel": "other"}) or 0.0

    before = other()
    metrics.message_handled("made-up-channel-4711")
    assert other() == before + 1
    assert metrics.REGISTRY.get_sample_value("peygir_messages_total",
                                             {"channel": "made-up-channel-4711"}) is None


async def test_metrics_answer_only_loopback_trusted_proxies_or_the_token(build: Any) -> None:
    outsider = {"X-Forwarded-For": "203.0.113.9"}
    async with running(build(metrics=True)) as api:
        await scrape(api)  # loopback, no proxy named
        # An undeclared proxy on this host forwarding a stranger: loopback proves nothing.
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            answer = await api.get("/metrics", headers={header: "203.0.113.9"})
            assert answer.status_code == 404, header
    await close_db()
    async with running(build(metrics=True, trusted_proxies="127.0.0.1")) as api:
        await scrape(api)  # loopback
        assert (await api.get("/metrics", headers=outsider)).status_code == 404  # via the proxy
        await scrape(api, **{"X-Forwarded-For": "127.0.0.1"})
    await close_db()
    async with running(build(metrics=True, trusted_proxies="127.0.0.1",
                             metrics_token=TOKEN)) as api:
        assert (await api.get("/metrics")).status_code == 404  # even on loopback: the token
        wrong = {"Authorization": f"Bearer {TOKEN[:-1]}x"}
        assert (await api.get("/metrics", headers=wrong)).status_code == 404
        await scrape(api, Authorization=f"Bearer {TOKEN}", **outsider)


# -- the real `peygir serve`, logging JSON ------------------------------------------------
def test_serve_logs_json_and_answers_readyz_and_metrics(tmp_path: Path) -> None:
    env = serve_env(PEYGIR_DATABASE_URL=f"sqlite://{tmp_path / 'peygir.db'}",
                    PEYGIR_MEDIA_DIR=str(tmp_path / "media"), PEYGIR_LOG_FORMAT="json",
                    PEYGIR_METRICS="true")
    log_path = tmp_path / "serve.log"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with serving(env, log_path, ready="/readyz") as base:
        with opener.open(base + "/readyz", timeout=10) as answer:
            assert json.load(answer)["ready"] is True
        with opener.open(base + "/metrics", timeout=10) as answer:
            assert b"peygir_tickets{state=\"new\"} 0.0" in answer.read()
    lines = [line for line in log_path.read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("peygir: ")]  # the banner is printed
    entries = [json.loads(line) for line in lines]  # every log line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["logger"] == "uvicorn.access" and "/readyz" in e["message"] for e in entries)
    assert any(e["logger"].startswith("peygir") for e in entries)
