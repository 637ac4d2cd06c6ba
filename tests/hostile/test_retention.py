"""Data retention (security issue 14): personal data leaves a ticket a set time after it closed,
or at once when the citizen asks; the ticket stays for the statistics. On SQLite and
PostgreSQL, through the real dialogue (the memory channel), the workflow and the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from peygir.bots.scheduler import Scheduler
from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages import texts
from peygir.messages.types import Attachment as AttachmentIn
from peygir.messages.types import Contact, Reply
from peygir.nlu.classifier import Classifier
from peygir.nlu.erasure import asks_erasure
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import retention
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import (
    Attachment,
    ChatState,
    Citizen,
    OutboxMessage,
    ProcessedUpdate,
    Standing,
    Ticket,
    TicketEvent,
    TranscriptionJob,
)
from peygir.ticket_store.workflow import Workflow
from tests.panel_support import build_app, signed_in

ROOT = Path(__file__).resolve().parents[2]
UNIT = "staff:unit_north"
PHONE = "09351112233"
HERE = (34.82137, 48.49261)  # district r1 of the default pack (north_works)
THERE = (34.82537, 48.48861)  # r1 too, some 500 m away: not a duplicate of HERE
START = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def at(self, days: float) -> datetime:
        self.now = START + timedelta(days=days)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workflow(db: str, default_pack: Pack, clock: Clock) -> Workflow:
    return Workflow(default_pack, voice=Notices(default_pack), clock=clock)


@pytest.fixture
def citizens(workflow: Workflow, default_pack: Pack, default_classifier: Classifier,
             clock: Clock) -> MemoryChannel:
    return MemoryChannel(Dialogue(default_pack, default_classifier, workflow=workflow,
                                  clock=clock))


@pytest.fixture
def policy(tmp_path: Path) -> retention.Policy:
    return retention.Policy(days=730, media_dir=tmp_path / "media")


def media_file(policy: retention.Policy, name: str, content: bytes) -> str:
    assert policy.media_dir is not None
    path = policy.media_dir / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


async def report(chat: MemoryChannel, who: str, where: tuple[float, float],
                 files: tuple[AttachmentIn, ...] = ()) -> Ticket:
    """A citizen reports a pothole in their own words (naming themselves), and confirms."""
    await chat.say(who, f"من {who} هستم، پلاک ۱۲؛ چاله بزرگ وسط کوچه", attachments=files)
    await chat.say(who, callback="svc:asphalt")
    await chat.say(who, location=where)
    replies = await chat.say(who, callback="confirm")
    return await Ticket.get(tracking_code=code_in(replies))


def code_in(replies: list[Reply]) -> str:
    found = re.search(r"[0-9۰-۹]{8}", "\n".join(r.text for r in replies))
    assert found, [r.text for r in replies]
    return ascii_digits(found.group(0))


async def share_phone(chat: MemoryChannel, who: str) -> None:
    await chat.send(replace(chat.message(who), contact=Contact(PHONE, who)))


async def close(chat: MemoryChannel, workflow: Workflow, ticket: Ticket, who: str) -> None:
    """The unit does the work, the citizen accepts it and rates it 4."""
    await workflow.change_status(ticket, "in_progress", UNIT, "اکیپ اعزام شد")
    await workflow.change_status(ticket, "resolved", UNIT, "لکه‌گیری شد")
    await chat.say(who, callback=f"accept:{ticket.tracking_code}")
    await chat.say(who, callback=f"rate:{ticket.tracking_code}:4")


async def identity(ticket: Ticket) -> tuple[str, str, str]:
    fresh = await Ticket.get(id=ticket.id).prefetch_related("citizen")
    return fresh.chat_id, fresh.citizen.channel, fresh.citizen.user_id


# -- the purge -------------------------------------------------------------------------------
async def test_purge_takes_only_tickets_closed_before_the_window(
        citizens: MemoryChannel, workflow: Workflow, clock: Clock,
        policy: retention.Policy) -> None:
    photo = media_file(policy, "aa" + "1" * 62 + ".jpg", b"ali's photo")
    voice = media_file(policy, "bb" + "2" * 62 + ".ogg", b"ali's voice")
    # Day 0: ali reports with a photo and a voice note, shares his number; the work is done.
    old = await report(citizens, "ali", HERE, (AttachmentIn("photo", "tg-ali-photo", path=photo),
                                               AttachmentIn("voice", "tg-ali-voice", path=voice)))
    await share_phone(citizens, "ali")
    clock.at(1)
    await close(citizens, workflow, old, "ali")
    # sara's report is rejected on day 1; she never writes again.
    clock.at(0)
    rejected = await report(citizens, "sara", THERE)
    clock.at(1)
    await workflow.change_status(rejected, "rejected", UNIT, "در حوزه شهرداری نیست")
    # Day 700: ali reports again (still open). Day 790: reza's report closes (recent).
    clock.at(700)
    still_open = await report(citizens, "ali", THERE)
    clock.at(790)
    recent = await report(citizens, "reza", HERE)
    await workflow.change_status(recent, "rejected", UNIT, "تکراری")

    now = clock.at(801)  # the window ends on day 71
    before = await Ticket.get(id=old.id)
    preview = await retention.preview(now, policy)
    assert (preview.tickets, preview.requested, preview.citizens_removed) == (2, 0, 1)
    assert preview.files == 2 and old.tracking_code in preview.sample
    assert await identity(old) == ("ali", "memory", "ali")  # the preview changed nothing

    done = await retention.purge(now, policy)
    assert (done.tickets, done.files, done.citizens_removed) == (2, 2, 1)

    # The old tickets: the statistics stay, the person is gone.
    after = await Ticket.get(id=old.id)
    assert await identity(old) == (retention.ERASED, retention.ERASED, retention.ERASED)
    assert (after.status, after.service_code, after.district, after.unit_code, after.rating,
            after.created_at, after.closed_at, after.first_answer_at) == (
        "closed", "asphalt", "r1", "north_works", 4, before.created_at, before.closed_at,
        before.first_answer_at)
    assert (after.description, after.transcript, after.address) == ("", None, None)
    assert after.anonymised_at == now and not after.contact_consent
    assert (after.latitude, after.longitude) == (pytest.approx(34.821), pytest.approx(48.493))
    assert await identity(rejected) == (retention.ERASED, retention.ERASED, retention.ERASED)
    notes = await TicketEvent.filter(ticket_id=old.id).values_list("actor", "note")
    assert all(note == "" for actor, note in notes if actor == "citizen")
    assert ("staff:unit_north", "لکه‌گیری شد") in notes  # the city's own record stays
    # Their files: off the disk, no chat id left; the rows stay for the counts.
    files = await Attachment.filter(ticket_id=old.id)
    assert {(f.chat_id, f.file_ref, f.path) for f in files} == {(retention.ERASED,
                                                                 retention.ERASED, None)}
    assert not Path(photo).exists() and not Path(voice).exists()
    job = await TranscriptionJob.get(attachment_id__in=[f.id for f in files])
    assert (job.chat_id, job.user_id) == (retention.ERASED, retention.ERASED)

    # ali still has an open ticket: he keeps his row, his number and that ticket.
    ali = await Citizen.get(channel="memory", user_id="ali")
    assert ali.phone == PHONE
    assert await identity(still_open) == ("ali", "memory", "ali")
    assert await identity(recent) == ("reza", "memory", "reza")
    # sara had nothing else: her row is gone.
    assert not await Citizen.exists(channel="memory", user_id="sara")

    # Status by code: the chat that filed it can no longer see the anonymised ticket.
    told = await citizens.say("ali", old.tracking_code)
    assert texts.STATUS_NOT_FOUND.split("{code}")[0].strip() in told[0].text
    told = await citizens.say("ali", still_open.tracking_code)
    assert "وضعیت درخواست" in told[0].text

    # Idempotent: a second run finds nothing and changes nothing.
    again = await retention.purge(clock.at(802), policy)
    assert (again.tickets, again.requested, again.files, again.citizens_removed) == (0, 0, 0, 0)
    assert (await Ticket.get(id=old.id)).anonymised_at == now


async def test_leftovers_older_than_the_window_go(db: str, policy: retention.Policy) -> None:
    """Chat states, replies, dedup keys (they embed chat ids) and files never filed."""
    now = START + timedelta(days=800)
    old, recent = START, now - timedelta(days=5)
    for when, chat in ((old, "web-cookie-old"), (recent, "web-cookie-new")):
        await OutboxMessage.create(channel="web", chat_id=chat, payload={"text": "x"},
                                   created_at=when, sent_at=when)
        await ProcessedUpdate.create(dedup_key=f"web:{chat}:1", processed_at=when)
        state = await ChatState.create(channel="web", chat_id=chat, state={"stage": "idle"})
        await ChatState.filter(id=state.id).update(updated_at=when)
        path = media_file(policy, f"{chat}.jpg", b"a photo never filed")
        row = await Attachment.create(channel="web", chat_id=chat, kind="photo",
                                      file_ref=chat, path=path)
        await Attachment.filter(id=row.id).update(created_at=when)
    preview = await retention.preview(now, policy)
    assert (preview.outbox, preview.dedup_keys, preview.chat_states, preview.stray_files) == (
        1, 1, 1, 1)
    done = await retention.purge(now, policy)
    assert (done.outbox, done.dedup_keys, done.chat_states, done.stray_files) == (1, 1, 1, 1)
    for model in (OutboxMessage, ChatState, Attachment):
        assert await model.filter().values_list("chat_id", flat=True) == ["web-cookie-new"]
    assert await ProcessedUpdate.all().values_list("dedup_key", flat=True) == [
        "web:web-cookie-new:1"]
    assert not (policy.media_dir / "we" / "web-cookie-old.jpg").exists()  # type: ignore[operator]
    assert (policy.media_dir / "we" / "web-cookie-new.jpg").exists()  # type: ignore[operator]
    assert (await retention.purge(now, policy)).total == 0


async def test_the_units_evidence_is_kept(citizens: MemoryChannel, workflow: Workflow,
                                          clock: Clock, policy: retention.Policy) -> None:
    from PIL import Image

    ticket = await report(citizens, "ali", HERE)
    picture = policy.media_dir / "upload.jpg"  # type: ignore[operator]
    picture.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), (10, 90, 30)).save(picture, "JPEG")
    evidence = await workflow.add_evidence(ticket, picture.read_bytes(), "after.jpg", UNIT,
                                           policy.media_dir)  # type: ignore[arg-type]
    await close(citizens, workflow, ticket, "ali")
    await retention.purge(clock.at(800), policy)
    kept = await Attachment.get(id=evidence.id)
    assert kept.path and Path(kept.path).is_file() and kept.chat_id == UNIT


async def test_the_panel_no_longer_shows_the_phone(citizens: MemoryChannel, workflow: Workflow,
                                                   clock: Clock, db: str, tmp_path: Path,
                                                   policy: retention.Policy) -> None:
    ticket = await report(citizens, "ali", HERE)
    await share_phone(citizens, "ali")
    await Citizen.filter(channel="memory", user_id="ali").update(display_name="علی کریمی")
    await workflow.change_status(ticket, "rejected", UNIT, "در حوزه شهرداری نیست")
    app = build_app(db, tmp_path / "media")
    async with signed_in(app, "op1", "operator") as operator:
        page = (await operator.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert PHONE in page and "علی کریمی" in page and "ali هستم" in page
        await retention.purge(clock.at(800), policy)
        page = (await operator.get(f"/panel/tickets/{ticket.tracking_code}")).text
        assert PHONE not in page and "علی کریمی" not in page and "ali هستم" not in page
        assert "در حوزه شهرداری نیست" in page  # the city's own note stays
    assert not await Citizen.exists(phone=PHONE)


async def test_a_flagged_citizen_keeps_the_flag_not_the_number(
        citizens: MemoryChannel, workflow: Workflow, clock: Clock,
        policy: retention.Policy) -> None:
    ticket = await report(citizens, "ali", HERE)
    await share_phone(citizens, "ali")
    await Citizen.filter(user_id="ali").update(standing=Standing.VOLUNTEER)
    await workflow.change_status(ticket, "rejected", UNIT, "تکراری")
    done = await retention.purge(clock.at(800), policy)
    assert (done.citizens_removed, done.citizens_scrubbed) == (0, 1)
    ali = await Citizen.get(user_id="ali")
    assert (ali.standing, ali.phone, ali.display_name) == (Standing.VOLUNTEER, None, None)


async def test_purge_runs_in_bounded_batches(citizens: MemoryChannel, workflow: Workflow,
                                             clock: Clock, policy: retention.Policy) -> None:
    for i in range(5):
        ticket = await report(citizens, f"c{i}", (HERE[0] + 0.002 * i, HERE[1]))
        await workflow.change_status(ticket, "rejected", UNIT, "تکراری")
    small = replace(policy, batch=2)
    first = await retention.purge(clock.at(800), small, max_batches=1)
    assert (first.tickets, first.more) == (2, True)
    rest = await retention.purge(clock.now, small)
    assert (rest.tickets, rest.more) == (3, False)
    assert await Ticket.filter(anonymised_at__isnull=True).count() == 0


async def test_the_scheduler_purges_hourly(citizens: MemoryChannel, workflow: Workflow,
                                           clock: Clock, policy: retention.Policy) -> None:
    ticket = await report(citizens, "ali", HERE)
    await workflow.change_status(ticket, "rejected", UNIT, "تکراری")
    scheduler = Scheduler(workflow, clock=clock, retention_policy=policy)
    clock.at(800)
    assert (await scheduler.tick()).anonymised == 1
    late = await report(citizens, "sara", THERE)
    await workflow.change_status(late, "rejected", UNIT, "تکراری")
    await Ticket.filter(id=late.id).update(closed_at=START)  # as if closed long ago
    assert (await scheduler.tick()).anonymised == 0  # within the hour: not yet
    clock.now += timedelta(hours=1)
    assert (await scheduler.tick()).anonymised == 1


# -- the citizen's own request ---------------------------------------------------------------
ASKING = ["اطلاعات من را پاک کنید", "اطلاعاتم رو پاک کن لطفا", "حذف اطلاعات من",
          "شماره منو پاک کنید", "میشه شماره تلفنم رو از سامانه حذف کنید؟",
          "پاک کردن مشخصات من", "داده‌هامو حذف کنین"]
NOT_ASKING = ["اطلاعات من را پاک نکنید", "نمی‌خوام شماره‌ام پاک بشه",
              "شماره پلاک خونه منو پاک کنید، رنگش رفته", "آیا اطلاعات من پاک می‌شود؟",
              "جوی جلوی خونه منو پاک کنید", "شماره تلفن شهرداری چنده", "حذف سد معبر",
              "اطلاعات بیشتر درباره عوارض نوسازی می‌خواهم"]


@pytest.mark.parametrize("text", ASKING)
def test_asking_to_be_erased_is_recognised(text: str) -> None:
    assert asks_erasure(text)


@pytest.mark.parametrize("text", NOT_ASKING)
def test_other_messages_are_not_taken_for_it(text: str) -> None:
    assert not asks_erasure(text)


async def test_a_citizen_erases_their_closed_tickets(citizens: MemoryChannel,
                                                     workflow: Workflow, clock: Clock,
                                                     policy: retention.Policy) -> None:
    done = await report(citizens, "ali", HERE)
    await close(citizens, workflow, done, "ali")
    other = await report(citizens, "ali", THERE)
    await workflow.change_status(other, "rejected", UNIT, "تکراری")
    clock.at(3)
    pending = await report(citizens, "ali", (HERE[0] + 0.01, HERE[1]))
    await share_phone(citizens, "ali")
    # The unit asks to call about the open ticket; ali agrees.
    await workflow.request_contact(pending, UNIT)
    await citizens.say("ali", callback=f"consent:{pending.tracking_code}:yes")
    another = await report(citizens, "ali", (HERE[0] + 0.03, HERE[1]))  # open, no consent
    sara = await report(citizens, "sara", (HERE[0] + 0.02, HERE[1]))  # not ali's

    replies = await citizens.say("ali", "اطلاعات من را پاک کنید")
    assert len(replies) == 1
    text = replies[0].text
    assert "۲ درخواست بسته‌شده" in text and "۲ درخواست شما هنوز در دست رسیدگی" in text
    assert texts.CONTACT_KEPT in text and not re.search(r"[0-9]", text)
    for ticket in (done, other):
        fresh = await Ticket.get(id=ticket.id)
        assert fresh.anonymised_at == clock.now and fresh.status in ("closed", "rejected")
        assert await identity(ticket) == (retention.ERASED, retention.ERASED, retention.ERASED)
    assert (await Ticket.get(id=done.id)).rating == 4  # the statistics stay
    # The open ticket keeps working: the unit may still call, ali still sees its status.
    assert await identity(pending) == ("ali", "memory", "ali")
    assert (await workflow.visible_contact(await Ticket.get(id=pending.id)) or {}).get(
        "phone") == PHONE
    told = await citizens.say("ali", pending.tracking_code)
    assert "وضعیت درخواست" in told[0].text
    assert await identity(sara) == ("sara", "memory", "sara")
    assert await TicketEvent.exists(ticket_id=pending.id, actor=retention.ERASE_ACTOR,
                                    note=texts.ERASE_REQUESTED_NOTE)

    # Asked twice: nothing more to erase, and the open ticket is marked once.
    again = (await citizens.say("ali", "اطلاعاتم رو پاک کن"))[0].text
    assert texts.ERASED_NONE in again
    assert await TicketEvent.filter(ticket_id=pending.id, actor=retention.ERASE_ACTOR
                                    ).count() == 1

    # Once the ticket the unit may call about closes, the next purge erases it, and the
    # number with it; the other one, still open, keeps its chat.
    clock.at(10)
    await close(citizens, workflow, pending, "ali")
    swept = await retention.purge(clock.at(11), policy)
    assert (swept.tickets, swept.requested) == (0, 1)
    assert await identity(pending) == (retention.ERASED, retention.ERASED, retention.ERASED)
    assert await identity(another) == ("ali", "memory", "ali")
    ali = await Citizen.get(channel="memory", user_id="ali")
    assert (ali.phone, ali.display_name) == (None, None)
    assert await identity(sara) == ("sara", "memory", "sara")
    # And when the last one closes, nothing of ali is left.
    await workflow.change_status(another, "rejected", UNIT, "تکراری")
    assert (await retention.purge(clock.at(12), policy)).requested == 1
    assert not await Citizen.exists(channel="memory", user_id="ali")


async def test_without_an_open_ticket_the_number_goes_at_once(
        citizens: MemoryChannel, workflow: Workflow, clock: Clock) -> None:
    ticket = await report(citizens, "ali", HERE)
    await share_phone(citizens, "ali")
    await workflow.change_status(ticket, "rejected", UNIT, "تکراری")
    # A half-made report is theirs too: it goes with the rest.
    await citizens.say("ali", "درخت کوچه ما افتاده")
    text = (await citizens.say("ali", "شماره منو پاک کنید"))[0].text
    assert "۱ درخواست بسته‌شده" in text and texts.CONTACT_ERASED in text
    assert "در دست رسیدگی" not in text
    # Nothing needs ali's row any more: it is gone, and his number with it.
    assert not await Citizen.exists(user_id="ali")
    assert not await Citizen.exists(phone=PHONE)
    state = await ChatState.get(channel="memory", chat_id="ali")
    assert "draft" not in state.state
    # Replies already delivered to the chat are not kept either: only this answer is left.
    kept = await OutboxMessage.filter(chat_id="ali")
    assert [row.payload["text"] for row in kept] == [text]


async def test_a_stranger_asking_gets_a_plain_answer(citizens: MemoryChannel) -> None:
    replies = await citizens.say("nobody", "حذف اطلاعات من")
    assert [r.text for r in replies] == [texts.ERASED_NONE]


# -- the command line ------------------------------------------------------------------------
def purge_cli(url: str, media: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEYGIR_DATABASE_URL": url, "PEYGIR_MEDIA_DIR": str(media),
           "PEYGIR_RETENTION_DAYS": "730", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "peygir", "privacy", "purge", *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


async def test_the_cli_purges_and_its_dry_run_changes_nothing(
        tmp_path: Path, default_pack: Pack, default_classifier: Classifier) -> None:
    url = f"sqlite://{tmp_path / 'cli.db'}"
    await open_db(url)
    try:
        chat = MemoryChannel(Dialogue(default_pack, default_classifier))
        old = await report(chat, "ali", HERE)
        new = await report(chat, "sara", THERE)
        long_ago = datetime.now(UTC) - timedelta(days=1000)
        await Ticket.filter(id__in=[old.id, new.id]).update(status="rejected")
        await Ticket.filter(id=old.id).update(closed_at=long_ago)
        await Ticket.filter(id=new.id).update(closed_at=datetime.now(UTC))
    finally:
        await close_db()

    dry = purge_cli(url, tmp_path / "media", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would anonymise 1 closed ticket(s) past the retention window" in dry.stdout
    assert old.tracking_code in dry.stdout and new.tracking_code not in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing was changed")
    await open_db(url)
    try:
        assert await Ticket.filter(chat_id=retention.ERASED).count() == 0
    finally:
        await close_db()

    real = purge_cli(url, tmp_path / "media")
    assert real.returncode == 0, real.stderr
    assert "anonymised 1 closed ticket(s) past the retention window" in real.stdout
    assert "deleted 1 citizen record(s) no ticket needs any more" in real.stdout
    again = purge_cli(url, tmp_path / "media")
    assert "anonymised 0 closed ticket(s) past the retention window" in again.stdout
    await open_db(url)
    try:
        assert await identity(old) == (retention.ERASED, retention.ERASED, retention.ERASED)
        assert await identity(new) == ("sara", "memory", "sara")
    finally:
        await close_db()
