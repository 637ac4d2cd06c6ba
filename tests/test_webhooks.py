"""Signed webhooks (issue 19) against receivers on loopback that check every signature, on
SQLite and PostgreSQL: every event arrives, in order per ticket, repeats carry the same id,
and personal data goes only to the subscription allowed it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peygir.bots.webhook_sender import WebhookSender, sign, verify
from peygir.config.pack import Pack
from peygir.nlu.classifier import Classifier
from peygir.ticket_store import webhooks
from peygir.ticket_store.models import Citizen, Ticket, TicketStatus, WebhookDelivery
from peygir.ticket_store.workflow import Workflow
from tests.fakes.backoffice import Receiver
from tests.interop_support import Clock, front_door, report, spot
from tests.support import REPO_ROOT

PERSONAL_WORDS = "چاله بزرگ جلوی خانه شماره ۱۲"


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[Receiver, Receiver]]:
    plain, trusted = Receiver("s" * 40), Receiver("t" * 40)
    await plain.start()
    await trusted.start()
    yield plain, trusted
    await plain.stop()
    await trusted.stop()


def test_the_signature_scheme() -> None:
    body = b'{"id":"e1"}'
    header = sign("secret", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("secret", body, header, now=1_700_000_100)
    assert not verify("secret", body + b" ", header, now=1_700_000_100)  # tampered
    assert not verify("other", body, header, now=1_700_000_100)  # wrong secret
    assert not verify("secret", body, header, now=1_700_001_000)  # replayed too late
    assert not verify("secret", body, "v1=abc", now=1_700_000_100)


async def test_deliveries_are_signed_ordered_deduplicable_and_private(
        db: str, default_pack: Pack, default_classifier: Classifier,
        receivers: tuple[Receiver, Receiver]) -> None:
    plain, trusted = receivers
    await webhooks.subscribe(plain.url, ["*"], secret=plain.secret)
    await webhooks.subscribe(trusted.url, ["filed", "status_changed", "rated"],
                             personal_data=True, secret=trusted.secret)
    with pytest.raises(ValueError):
        await webhooks.subscribe(plain.url, ["exploded"])
    clock = Clock()
    chat = front_door(default_pack, default_classifier, clock)
    workflow: Workflow = chat.dialogue.workflow  # type: ignore[assignment]
    for i in range(3):
        await report(chat, f"c{i}", "asphalt", spot(i), text=PERSONAL_WORDS)
    await Citizen.filter(user_id="c0").update(phone="+989121234567")
    await Ticket.filter(chat_id="c0").update(contact_consent=True)
    for ticket in await Ticket.all().order_by("id"):
        await workflow.change_status(ticket, TicketStatus.IN_PROGRESS, "staff:u")
        await workflow.change_status(ticket, TicketStatus.RESOLVED, "staff:u",
                                     "a private word to the citizen")
    first = await Ticket.get(chat_id="c0")
    await chat.say("c0", callback=f"accept:{first.tracking_code}")
    await chat.say("c0", callback=f"rate:{first.tracking_code}:4")

    # The plain receiver fails, hangs past the timeout (its copy arrived: a repeat follows).
    plain.fail_next = ["500", "hang", "500", "hang"]
    sender = WebhookSender(clock=clock, timeout=1.0, base_delay=1, max_delay=4)
    try:
        for _ in range(30):
            await sender.step()
            if not await webhooks.backlog():
                break
            clock.advance(seconds=5)
    finally:
        await sender.http.aclose()
    assert await webhooks.backlog() == {}
    assert plain.bad == [] and trusted.bad == []
    for receiver, personal in ((plain, False), (trusted, True)):
        kept = receiver.unique()
        rows = await WebhookDelivery.filter(event_id__in=[p["id"] for p in kept])
        assert len(rows) == len(kept)
        for ticket in await Ticket.all():
            mine = [p for p in kept if p["ticket"]["tracking_code"] == ticket.tracking_code]
            created = [p["created"] for p in mine]
            assert created == sorted(created)  # in the order they happened
            stored = sorted((r.id, r.event_id) for r in rows
                            if r.payload["ticket"]["tracking_code"] == ticket.tracking_code)
            assert [p["id"] for p in mine] == [e for _, e in stored]
        for payload in kept:
            view = payload["ticket"]
            assert ("description" in view) is personal
            if "contact" in view:  # only where allowed, and only once the citizen agreed
                assert personal and view["tracking_code"] == first.tracking_code
                assert view["contact"]["phone"] == "+989121234567"
            if payload["event"] == "status_changed" and payload["data"]["to"] == "resolved":
                assert ("note" in payload["data"]) is personal  # the note was not published
    assert len(plain.got) > len(plain.unique())  # repeats came, with the same ids
    events = [p["event"] for p in plain.unique()
              if p["ticket"]["tracking_code"] == first.tracking_code]
    assert events == ["filed", "assigned", "status_changed", "status_changed",
                      "status_changed", "status_changed", "rated"]
    assert any("contact" in p["ticket"] for p in trusted.got)
    trusted_events = {p["event"] for p in trusted.unique()}
    assert trusted_events == {"filed", "status_changed", "rated"}
    words = first.description  # the citizen's words as stored
    assert len(words) > 10
    assert any(p["ticket"].get("description") == words for p in trusted.got)
    assert not any(words in str(p) for p in plain.got)
    subs = await webhooks.subscriptions()
    assert [s.last_result for s in subs] == ["204", "204"]
    # A week on, delivered payloads (personal data among them) are gone.
    clock.advance(days=8)
    later = WebhookSender(clock=clock)
    try:
        assert await later.step() == 0
    finally:
        await later.http.aclose()
    assert await WebhookDelivery.all().count() == 0


async def test_a_removed_subscription_gets_nothing_more(
        db: str, default_pack: Pack, default_classifier: Classifier,
        receivers: tuple[Receiver, Receiver]) -> None:
    plain, _ = receivers
    sub = await webhooks.subscribe(plain.url, ["filed"], secret=plain.secret)
    chat = front_door(default_pack, default_classifier, Clock())
    await report(chat, "a", "asphalt", spot(1))
    assert await webhooks.unsubscribe(sub.id)
    assert await WebhookDelivery.all().count() == 0
    await report(chat, "b", "asphalt", spot(2))
    sender = WebhookSender()
    try:
        assert await sender.step() == 0
    finally:
        await sender.http.aclose()
    assert plain.got == []


async def test_a_subscription_for_some_events_gets_only_those(
        db: str, default_pack: Pack, default_classifier: Classifier) -> None:
    await webhooks.subscribe("http://127.0.0.1:9/none", ["rated"])
    assert not await webhooks.wanted("filed") and await webhooks.wanted("rated")
    chat = front_door(default_pack, default_classifier, Clock())
    await report(chat, "a", "asphalt", spot(1))
    assert await WebhookDelivery.all().count() == 0  # filed, assigned: nobody asked


def test_the_cli_adds_lists_and_removes(tmp_path: Path) -> None:
    env = {**os.environ, "PEYGIR_DATABASE_URL": f"sqlite://{tmp_path / 'cli.db'}",
           "PYTHONPATH": str(REPO_ROOT)}

    def peygir(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "peygir", "webhooks", *args], env=env,
                              cwd=tmp_path, input=stdin, capture_output=True, text=True,
                              timeout=120)

    added = peygir("add", "https://example.org/hook", "--events", "filed,rated")
    assert added.returncode == 0, added.stderr
    assert "events=filed,rated personal_data=no" in added.stdout
    assert re.search(r"^secret: [0-9a-f]{64}$", added.stdout, re.M)
    own = peygir("add", "https://crm.example/in", "--personal-data", "--secret-stdin",
                 stdin="a secret of our own choosing\n")
    assert own.returncode == 0 and "secret:" not in own.stdout
    assert peygir("add", "https://x.example", "--events", "exploded").returncode == 2
    assert peygir("add", "ftp://x.example").returncode == 2
    listed = peygir("list").stdout.splitlines()
    assert len(listed) == 2 and "personal_data=yes" in listed[1] and "never sent" in listed[0]
    assert peygir("remove", "1").returncode == 0
    assert peygir("remove", "1").returncode == 1
    assert len(peygir("list").stdout.splitlines()) == 1


async def test_evidence_and_escalation_are_events_too(
        db: str, default_pack: Pack, default_classifier: Classifier, tmp_path: Path) -> None:
    import io
    from datetime import timedelta

    from PIL import Image

    from peygir.ticket_store.escalation import escalate

    await webhooks.subscribe("http://127.0.0.1:9/none", ["evidence_added", "escalated"])
    clock = Clock()
    chat = front_door(default_pack, default_classifier, clock)
    workflow: Workflow = chat.dialogue.workflow  # type: ignore[assignment]
    await report(chat, "a", "asphalt", spot(1))
    ticket = await Ticket.get(chat_id="a")
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(photo, "JPEG")
    await workflow.add_evidence(ticket, photo.getvalue(), "work.jpg", "staff:u", tmp_path)
    fired = await escalate(workflow, clock() + timedelta(days=30))
    assert fired
    rows = await WebhookDelivery.all().order_by("id")
    assert [r.event for r in rows] == ["evidence_added"] + ["escalated"] * len(fired)
    assert rows[0].payload["data"]["sha256"] and rows[1].payload["data"]["level"] == 1
    assert "description" not in rows[1].payload["ticket"]
