"""Two real peygirs (issue 19): a `peygir serve` on loopback with its own database and Open311
keys is the city's back office; a second peygir (in this process, the in-memory chat) is the
front door whose endpoints.yaml points at it. A citizen's report reaches the back office's
queue, a unit resolves it there through that peygir's workflow on its own database, and the
citizen of the front door hears it and is asked to accept and rate, on SQLite and PostgreSQL
(the back office on a PostgreSQL database of its own, created and dropped here)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest

from peygir.bots.forwarder import Forwarder
from peygir.nlu.classifier import Classifier
from peygir.ticket_store.models import ForwardedReport, ForwardState, Ticket
from tests.conftest import PG_ADMIN
from tests.interop_support import Clock, front_door, pack_with_endpoints, report, spot
from tests.support import REPO_ROOT, serve_env, serving

KEY = "back-office-key-1"

RESOLVE = """
import asyncio, json, sys
from peygir.conversation.notices import Notices
from peygir.config.pack import load_pack
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import Ticket
from peygir.ticket_store.workflow import Workflow

async def main(url, code):
    await open_db(url)
    try:
        pack = load_pack()
        workflow = Workflow(pack, voice=Notices(pack))
        ticket = await Ticket.get(tracking_code=code)
        seen = {"status": str(ticket.status), "unit": ticket.unit_code,
                "description": ticket.description, "channel": ticket.channel}
        await workflow.change_status(ticket, "in_progress", "staff:crew7")
        await workflow.change_status(ticket, "resolved", "staff:crew7",
                                     "the pothole is filled", public=True)
        print(json.dumps(seen, ensure_ascii=False))
    finally:
        await close_db()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture
def back_office(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The back office's base URL and database: a file beside the front door's SQLite, or a
    PostgreSQL database of its own while the front door runs on PostgreSQL."""
    if database_url.startswith("sqlite"):
        url, name = f"sqlite://{tmp_path / 'backoffice.db'}", None
    else:
        name = f"peygir_bo_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    env = serve_env(PEYGIR_DATABASE_URL=url, PEYGIR_MEDIA_DIR=str(tmp_path / "bo-media"),
                    PEYGIR_OPEN311_KEYS=KEY, PEYGIR_SCHEDULER_INTERVAL="3600")
    try:
        with serving(env, tmp_path / "backoffice.log") as base:
            yield base, url
    finally:
        if name:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_report_crosses_to_the_back_office_and_its_answer_comes_back(
        db: str, tmp_path: Path, default_classifier: Classifier,
        back_office: tuple[str, str]) -> None:
    base, office_db = back_office
    clock = Clock()
    pack = pack_with_endpoints(tmp_path / "pack", {
        "name": "city137", "base_url": f"{base}/open311/v2", "api_key_env": "CITY137_KEY",
        "services": "all", "timeout": 10})
    chat = front_door(pack, default_classifier, clock)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CITY137_KEY", KEY)
        forwarder = Forwarder(chat.dialogue.workflow, pack.endpoints,  # type: ignore[arg-type]
                              clock=clock)
    try:
        await report(chat, "zahra", "asphalt", spot(3))
        ticket = await Ticket.get(chat_id="zahra")
        assert await forwarder.send_pass() == 1
        row = await ForwardedReport.get(ticket_id=ticket.id)
        assert row.state == ForwardState.SENT and row.remote_id and row.remote_token
        # The back office's Open311 shows the request, open, with no citizen's words.
        async with httpx.AsyncClient(trust_env=False) as http:
            shown = (await http.get(f"{base}/open311/v2/requests/{row.remote_id}.json")).json()
        assert shown[0]["status"] == "open" and shown[0]["service_code"] == "asphalt"
        # A unit of the back office resolves it there, through that peygir's workflow.
        done = subprocess.run([sys.executable, "-c", RESOLVE, office_db, row.remote_id],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                              env={**serve_env(), "PYTHONPATH": str(REPO_ROOT)})
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["status"] == "assigned" and seen["unit"]  # in a unit's queue there
        assert seen["channel"] == "open311" and seen["description"] == ticket.description
        assert await forwarder.fetch_pass() >= 1
        ticket = await Ticket.get(id=ticket.id)
        assert ticket.status == "resolved"
        replies = await chat.flush("zahra")
        assert any("the pothole is filled" in r.text for r in replies)
        buttons = [b.data for r in replies for line in r.buttons for b in line]
        assert f"accept:{ticket.tracking_code}" in buttons
        assert await forwarder.fetch_pass() == 0 and await chat.flush("zahra") == []
        survey = await chat.say("zahra", callback=f"accept:{ticket.tracking_code}")
        rate = [b.data for r in survey for line in r.buttons for b in line]
        assert f"rate:{ticket.tracking_code}:5" in rate
        # The back office filed it once, though the front door may be asked again.
        assert await forwarder.send_pass() == 0
        # peygir as a back office honours Idempotency-Key: a retried POST files nothing new.
        form = {"api_key": KEY, "service_code": "asphalt", "lat": "34.821", "long": "48.491",
                "description": "retry me"}
        async with httpx.AsyncClient(trust_env=False) as http:
            url = f"{base}/open311/v2/requests.json"
            answers = [(await http.post(url, data=form, headers={"Idempotency-Key": key})
                        ).json() for key in ("k-1", "k-1", "k-2")]
            bad = await http.post(url, data=form, headers={"Idempotency-Key": "no spaces"})
        ids = [a[0]["service_request_id"] for a in answers]
        assert ids[0] == ids[1] != ids[2]
        assert answers[0][0]["token"] == answers[1][0]["token"]
        assert bad.status_code == 400
    finally:
        await forwarder.close()


def _chat(base: str, chat: str, **body: object) -> list[dict[str, object]]:
    """One web-chat message to a `peygir serve`, as its page sends it; its replies."""
    with httpx.Client(trust_env=False, cookies={"peygir_chat": chat}, timeout=30) as http:
        answer = http.post(f"{base}/api/chat/send",
                           json={"client_id": uuid.uuid4().hex, **body})
        assert answer.status_code == 200, answer.text
        return answer.json()["replies"]  # type: ignore[no-any-return]


def _poll(base: str, chat: str) -> list[dict[str, object]]:
    with httpx.Client(trust_env=False, cookies={"peygir_chat": chat}, timeout=30) as http:
        return http.get(f"{base}/api/chat/poll").json()["replies"]  # type: ignore[no-any-return]


async def test_two_served_peygirs_with_the_back_office_away_and_the_front_restarted(
        database_url: str, tmp_path: Path) -> None:
    """Both are `peygir serve`. The citizen reports in the front door's web chat while the
    back office is not running; the front door is stopped and started again; the back
    office comes up; the report arrives there once, is resolved, and the citizen's web chat
    shows the answer and the survey."""
    if database_url.startswith("sqlite"):
        office_db, office_pg = f"sqlite://{tmp_path / 'backoffice.db'}", None
    else:
        office_pg = f"peygir_bo_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE DATABASE "{office_pg}"')
        office_db = f"{PG_ADMIN.rsplit('/', 1)[0]}/{office_pg}"
    office_env = serve_env(PEYGIR_DATABASE_URL=office_db, PEYGIR_OPEN311_KEYS=KEY,
                           PEYGIR_MEDIA_DIR=str(tmp_path / "bo-media"),
                           PEYGIR_SCHEDULER_INTERVAL="3600")
    office_base = f"http://127.0.0.1:{office_env['PEYGIR_WEB_PORT']}"
    pack_with_endpoints(tmp_path / "pack", {
        "name": "city137", "base_url": f"{office_base}/open311/v2",
        "api_key_env": "CITY137_KEY", "services": "all", "timeout": 5})
    front_env = serve_env(PEYGIR_DATABASE_URL=database_url, PEYGIR_PACK=str(tmp_path / "pack"),
                          PEYGIR_MEDIA_DIR=str(tmp_path / "media"), CITY137_KEY=KEY,
                          PEYGIR_FORWARD_INTERVAL="0.5", PEYGIR_FORWARD_FETCH_INTERVAL="1",
                          PEYGIR_FORWARD_MAX_DELAY="2", PEYGIR_SCHEDULER_INTERVAL="3600")
    chat = "citizen-" + uuid.uuid4().hex[:16]
    try:
        with serving(front_env, tmp_path / "front1.log") as front:
            _chat(front, chat, text="یه چاله بزرگ وسط خیابون هست")
            _chat(front, chat, callback="svc:asphalt")
            _chat(front, chat, location={"lat": spot(4)[0], "lon": spot(4)[1]})
            filed = _chat(front, chat, callback="confirm")
            assert any("کد پیگیری" in str(r.get("text")) for r in filed)
            await asyncio.sleep(2)  # it tries, the back office is away, it waits
        assert "is away" in (tmp_path / "front1.log").read_text(errors="replace")
        with serving(office_env, tmp_path / "office.log"), \
                serving(front_env, tmp_path / "front2.log") as front:
            found: list[dict[str, object]] = []
            async with httpx.AsyncClient(trust_env=False) as http:
                for _ in range(100):
                    found = (await http.get(f"{office_base}/open311/v2/requests.json")).json()
                    if found:
                        break
                    await asyncio.sleep(0.2)
            assert len(found) == 1, found
            remote_id = str(found[0]["service_request_id"])
            done = subprocess.run([sys.executable, "-c", RESOLVE, office_db, remote_id],
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                                  env={**serve_env(), "PYTHONPATH": str(REPO_ROOT)})
            assert done.returncode == 0, done.stderr
            told: list[dict[str, object]] = []
            for _ in range(100):
                told += _poll(front, chat)
                if "the pothole is filled" in json.dumps(told, ensure_ascii=False):
                    break
                await asyncio.sleep(0.2)
            text = json.dumps(told, ensure_ascii=False)
            assert "the pothole is filled" in text and '"accept:' in text
            code = text.split('"accept:', 1)[1].split('"', 1)[0]
            survey = json.dumps(_chat(front, chat, callback=f"accept:{code}"))
            assert f"rate:{code}:5" in survey
            await asyncio.sleep(1.5)  # another fetch pass: nothing new, nothing twice
            assert _poll(front, chat) == []
            async with httpx.AsyncClient(trust_env=False) as http:
                again = (await http.get(f"{office_base}/open311/v2/requests.json")).json()
            assert len(again) == 1  # filed once, across the restart
    finally:
        if office_pg:
            _admin(f'DROP DATABASE IF EXISTS "{office_pg}" WITH (FORCE)')
