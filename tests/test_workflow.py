"""The ticket's whole life, citizen side (the in-memory channel) and unit side (the workflow's
calls), on SQLite and PostgreSQL, with a clock the test moves instead of sleeping."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.conversation.dialogue import Dialogue
from peygir.conversation.notices import Notices
from peygir.messages.types import Reply
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.escalation import auto_close, escalate
from peygir.ticket_store.models import (
    Citizen,
    EscalationAlert,
    Standing,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketStatus,
)
from peygir.ticket_store.workflow import IllegalTransition, Workflow, WorkflowError, distance_m

IN_R1 = (34.82, 48.49)  # district r1 of the default pack: north_works and r1_services
OUTSIDE = (35.70, 51.40)  # not in any district of the default city
UNIT = "staff:unit_north"


def spot(i: int) -> tuple[float, float]:
    """Places about 110 m apart in district r1, so reports there are not duplicates."""
    return (IN_R1[0] + 0.001 * (i % 10), IN_R1[1] - 0.001 * (i // 10))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


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


def code_in(replies: list[Reply]) -> str:
    for reply in replies:
        found = re.search(r"[0-9۰-۹]{8}", reply.text)
        if found:
            return ascii_digits(found.group(0))
    raise AssertionError(f"no tracking code in {[r.text for r in replies]}")


async def report(chat: MemoryChannel, who: str, service: str, where: tuple[float, float] | None,
                 text: str = "یه مشکل اینجا هست لطفا رسیدگی کنید") -> list[Reply]:
    """A citizen describes, picks the service, sends the place (or skips it) and confirms."""
    await chat.say(who, text)
    await chat.say(who, callback=f"svc:{service}")
    if where is None:
        await chat.say(who, callback="loc:skip")
    else:
        await chat.say(who, location=where)
    return await chat.say(who, callback="confirm")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_a_ticket_through_every_state(citizens: MemoryChannel, workflow: Workflow,
                                            clock: Clock, tmp_path: Path) -> None:
    code = code_in(await report(citizens, "ali", "asphalt", IN_R1))
    ticket = await Ticket.get(tracking_code=code)
    # Routed on filing: the location is in r1, asphalt is a works service there.
    assert (ticket.status, ticket.district, ticket.unit_code) == ("assigned", "r1", "north_works")

    clock.advance(hours=3)
    await workflow.change_status(ticket, "in_progress", UNIT, "اکیپ اعزام شد")
    told = await citizens.flush("ali")
    assert "در حال انجام" in told[-1].text and "اکیپ اعزام شد" in told[-1].text
    assert "۱۴۰۵" in told[-1].text  # a Jalali date, in Persian digits

    photo = await workflow.add_evidence(ticket, jpeg(), "after.jpg", UNIT, tmp_path)
    assert photo.evidence and Path(photo.path).is_file()
    await workflow.change_status(ticket, "resolved", UNIT, "لکه‌گیری انجام شد")
    told = await citizens.flush("ali")
    assert told[-1].photos == (photo.path,)
    assert [b.data for row in told[-1].buttons for b in row] == [f"accept:{code}",
                                                                 f"contest:{code}"]

    # The citizen is not satisfied: the ticket goes back to the unit with their words.
    await citizens.say("ali", callback=f"contest:{code}")
    await citizens.say("ali", "هنوز یه تیکه‌اش چاله مونده")
    await ticket.refresh_from_db()
    assert ticket.status == "reopened"
    await workflow.change_status(ticket, "in_progress", UNIT)
    await workflow.change_status(ticket, "resolved", UNIT, "باقی‌مانده هم لکه‌گیری شد")
    await citizens.flush("ali")

    # Status by code shows the timeline and the evidence photo.
    status = await citizens.say("ali", code)
    assert status[0].photos == (photo.path,)
    assert "هنوز یه تیکه" in status[0].text

    await citizens.say("ali", callback=f"accept:{code}")
    survey = citizens.inbox["ali"][-1]
    assert [b.data for b in survey.buttons[0]] == [f"rate:{code}:{n}" for n in (1, 2, 3, 4, 5)]
    thanks = await citizens.say("ali", callback=f"rate:{code}:4")
    assert "سپاس" in thanks[0].text
    again = await citizens.say("ali", callback=f"rate:{code}:1")
    assert "پیش‌تر" in again[0].text

    await ticket.refresh_from_db()
    assert (ticket.status, ticket.rating) == ("closed", 4)
    assert ticket.first_answer_at is not None and ticket.closed_at is not None
    events = await TicketEvent.filter(ticket=ticket).order_by("at", "id")
    path = [e.to_status for e in events if e.to_status]
    assert path == ["new", "assigned", "in_progress", "resolved", "reopened", "in_progress",
                    "resolved", "closed"]
    assert all(e.actor for e in events)


async def test_rejected_and_referred_need_a_note_and_end_the_ticket(
        citizens: MemoryChannel, workflow: Workflow) -> None:
    code = code_in(await report(citizens, "sara", "asphalt", IN_R1))
    ticket = await Ticket.get(tracking_code=code)
    with pytest.raises(WorkflowError, match="needs a note"):
        await workflow.change_status(ticket, "rejected", UNIT)
    await workflow.change_status(ticket, "rejected", UNIT, "معبر خصوصی است")
    told = await citizens.flush("sara")
    assert "امکان انجام ندارد" in told[-1].text and "معبر خصوصی است" in told[-1].text
    with pytest.raises(IllegalTransition, match="from rejected to in_progress"):
        await workflow.change_status(ticket, "in_progress", UNIT)

    other = await Ticket.get(tracking_code=code_in(
        await report(citizens, "sara", "sidewalk", spot(5))))
    with pytest.raises(WorkflowError, match="needs a note"):
        await workflow.change_status(other, "referred", UNIT)
    await workflow.change_status(other, "referred", UNIT, "شرکت آب و فاضلاب (۱۲۲)")
    told = await citizens.flush("sara")
    assert "ارجاع به دستگاه مسئول" in told[-1].text and "۱۲۲" in told[-1].text
    await other.refresh_from_db()
    assert other.status == "referred" and other.closed_at is not None


async def test_illegal_moves_are_refused(citizens: MemoryChannel, workflow: Workflow) -> None:
    code = code_in(await report(citizens, "reza", "asphalt", IN_R1))
    ticket = await Ticket.get(tracking_code=code)
    for wrong in ("closed", "reopened"):
        with pytest.raises(IllegalTransition, match=f"from assigned to {wrong}"):
            await workflow.change_status(ticket, wrong, UNIT, "x")
    with pytest.raises(ValueError):
        await workflow.change_status(ticket, "finished", UNIT)
    # A citizen cannot close what is not resolved.
    replies = await citizens.say("reza", callback=f"accept:{code}")
    assert "تغییر کرده" in replies[0].text
    await ticket.refresh_from_db()
    assert ticket.status == "assigned"


async def test_two_staff_acting_at_once_one_wins(citizens: MemoryChannel,
                                                 workflow: Workflow) -> None:
    code = code_in(await report(citizens, "nima", "asphalt", IN_R1))
    first = await Ticket.get(tracking_code=code)
    second = await Ticket.get(tracking_code=code)  # the same ticket, loaded by someone else
    await workflow.change_status(first, "in_progress", "staff:a")
    with pytest.raises(IllegalTransition, match="changed meanwhile"):
        await workflow.change_status(second, "rejected", "staff:b", "تکراری")
    await first.refresh_from_db()
    assert first.status == "in_progress"


async def test_without_a_place_the_ticket_waits_for_an_operator(
        citizens: MemoryChannel, workflow: Workflow) -> None:
    no_place = await Ticket.get(tracking_code=code_in(
        await report(citizens, "mina", "asphalt", None)))
    far = await Ticket.get(tracking_code=code_in(
        await report(citizens, "mina", "garbage_collection", OUTSIDE)))
    for ticket in (no_place, far):
        assert ticket.status == "new" and ticket.unit_code is None
    await workflow.assign(no_place, "south_works", "staff:operator", "نشانی تلفنی گرفته شد")
    await no_place.refresh_from_db()
    assert (no_place.status, no_place.unit_code) == ("assigned", "south_works")
    with pytest.raises(WorkflowError, match="unknown unit"):
        await workflow.assign(far, "nowhere", "staff:operator")


async def test_escalation_fires_each_rung_once(citizens: MemoryChannel, workflow: Workflow,
                                               clock: Clock) -> None:
    codes = [code_in(await report(citizens, f"c{i}", "asphalt", spot(i))) for i in range(3)]
    answered = await Ticket.get(tracking_code=codes[2])
    await workflow.reply_to_citizen(answered, UNIT, "در برنامه کاری هفته آینده است")

    clock.advance(hours=23, minutes=59)
    assert await escalate(workflow, clock()) == []
    clock.advance(minutes=2)
    fired = await escalate(workflow, clock())
    assert sorted(f.recipient for f in fired) == ["manager", "manager"]
    assert await escalate(workflow, clock()) == []  # the same scan again fires nothing
    clock.advance(hours=48)
    fired = await escalate(workflow, clock())
    assert [f.recipient for f in fired] == ["deputy", "deputy"]
    clock.advance(hours=100)
    assert await escalate(workflow, clock()) == []
    assert await EscalationAlert.filter(ticket__tracking_code=codes[2]).count() == 0
    notes = await TicketEvent.filter(ticket__tracking_code=codes[0], actor="system"
                                     ).values_list("note", flat=True)
    assert any("مدیر واحد" in n for n in notes) and any("معاون" in n for n in notes)


async def test_concurrent_scans_fire_each_alert_once(citizens: MemoryChannel,
                                                     workflow: Workflow, clock: Clock) -> None:
    for i in range(12):
        await report(citizens, f"x{i}", "asphalt", spot(i))
    clock.advance(hours=80)
    results = await asyncio.gather(*(escalate(workflow, clock()) for _ in range(4)))
    fired = [f for result in results for f in result]
    assert len(fired) == 24  # 12 tickets × 2 rungs, whoever fired them
    assert len({(f.ticket_id, f.level) for f in fired}) == 24
    assert await EscalationAlert.all().count() == 24


async def test_escalation_digest_reaches_a_manager_with_a_chat(
        db: str, default_pack: Pack, default_classifier: Classifier, clock: Clock) -> None:
    from dataclasses import replace

    from peygir.config.city import Contact

    city = default_pack.city
    boss = Contact(name="مدیر شمال", channel="memory", chat_id="boss")
    units = tuple(u.model_copy(update={"manager": boss}) if u.code == "north_works" else u
                  for u in city.units)
    pack = replace(default_pack, city=replace(city, units=units))
    workflow = Workflow(pack, voice=Notices(pack), clock=clock)
    chat = MemoryChannel(Dialogue(pack, default_classifier, workflow=workflow, clock=clock))
    codes = {code_in(await report(chat, f"d{i}", "asphalt", spot(i))) for i in range(2)}
    clock.advance(hours=25)
    await escalate(workflow, clock())
    digest = await chat.flush("boss")
    assert len(digest) == 1
    assert {ascii_digits(c) for c in re.findall(r"[۰-۹]{8}", digest[0].text)} == codes


async def test_auto_close_sends_the_survey(citizens: MemoryChannel, workflow: Workflow,
                                           clock: Clock) -> None:
    code = code_in(await report(citizens, "hadi", "asphalt", IN_R1))
    ticket = await Ticket.get(tracking_code=code)
    await workflow.change_status(ticket, "resolved", UNIT, "انجام شد")
    clock.advance(hours=71)
    assert await auto_close(workflow, clock()) == 0
    clock.advance(hours=2)
    assert await auto_close(workflow, clock()) == 1
    await ticket.refresh_from_db()
    assert ticket.status == "closed"
    survey = (await citizens.flush("hadi"))[-1]
    assert survey.buttons and survey.buttons[0][-1].data == f"rate:{code}:5"


async def test_a_unit_sees_contact_only_after_consent(citizens: MemoryChannel,
                                                      workflow: Workflow) -> None:
    from peygir.messages.types import Contact, IncomingMessage

    code = code_in(await report(citizens, "leila", "asphalt", IN_R1))
    await citizens.send(IncomingMessage(channel="memory", chat_id="leila", user_id="leila",
                                        message_id="c", dedup_key="memory:contact-1",
                                        contact=Contact("+989121234567")))
    ticket = await Ticket.get(tracking_code=code)
    assert await workflow.visible_contact(ticket) is None
    await workflow.request_contact(ticket, UNIT)
    ask = (await citizens.flush("leila"))[-1]
    assert [b.data for b in ask.buttons[0]] == [f"consent:{code}:yes", f"consent:{code}:no"]
    # Another chat cannot answer for her, even knowing the code.
    refused = await citizens.say("stranger", callback=f"consent:{code}:yes")
    assert "پیدا نشد" in refused[0].text
    await ticket.refresh_from_db()
    assert await workflow.visible_contact(ticket) is None
    await citizens.say("leila", callback=f"consent:{code}:yes")
    await ticket.refresh_from_db()
    assert (await workflow.visible_contact(ticket))["phone"] == "+989121234567"  # type: ignore[index]


async def test_status_by_code_is_refused_to_another_chat(citizens: MemoryChannel) -> None:
    code = code_in(await report(citizens, "owner", "asphalt", IN_R1))
    other = await citizens.say("someone_else", code)
    assert "پیدا نشد" in other[0].text and "ارجاع" not in other[0].text
    mine = await citizens.say("owner", code)
    assert "ارجاع" in mine[0].text


async def test_tracking_codes_are_not_sequential(citizens: MemoryChannel) -> None:
    codes = [int(code_in(await report(citizens, f"s{i}", "asphalt", None))) for i in range(8)]
    gaps = {b - a for a, b in itertools.pairwise(codes)}
    assert len(gaps) > 4 and all(len(str(c)) == 8 for c in codes)


async def test_volunteers_and_urgent_matters_come_first(citizens: MemoryChannel) -> None:
    await Citizen.create(channel="memory", user_id="helper", standing=Standing.VOLUNTEER)
    plain = code_in(await report(citizens, "plain", "asphalt", IN_R1))
    volunteer = code_in(await report(citizens, "helper", "asphalt", (34.83, 48.48)))
    urgent = code_in(await report(citizens, "plain", "fallen_tree", (34.815, 48.495)))
    queue = await Ticket.filter(status="assigned").order_by("-priority", "answer_due")
    assert [t.tracking_code for t in queue] == [urgent, volunteer, plain]


async def test_a_second_report_nearby_is_its_own_ticket_linked_to_the_first(
        citizens: MemoryChannel, workflow: Workflow) -> None:
    code = code_in(await report(citizens, "first", "asphalt", IN_R1))
    near = (IN_R1[0] + 0.0003, IN_R1[1])  # about 33 m north
    assert distance_m(*IN_R1, *near) < 50
    replies = await report(citizens, "second", "asphalt", near)
    own = code_in(replies)
    assert own != code and code not in ascii_digits(" ".join(r.text for r in replies))
    assert "مشابه" in replies[-1].text
    first, second = await Ticket.get(tracking_code=code), await Ticket.get(tracking_code=own)
    assert first.duplicate_count == 1 and second.duplicate_of_id == first.id
    assert (second.status, second.unit_code) == (first.status, first.unit_code)
    # The first one's escalation covers the problem: one alert, not one per report.
    assert second.escalation_level == 100 and first.escalation_level == 0
    # The second citizen may not look at the first ticket, nor press its buttons.
    assert "پیدا نشد" in (await citizens.say("second", code))[0].text
    refused = await citizens.say("second", callback=f"accept:{code}")
    assert "پیدا نشد" in refused[0].text

    # The city's move reaches both, each on their own code, each with their own buttons;
    # the note (not published) only the first citizen's.
    await workflow.change_status(first, "resolved", UNIT, "لکه‌گیری با آسفالت سرد")
    mine = (await citizens.flush("first"))[-1]
    heard = (await citizens.flush("second"))[-1]
    assert "لکه‌گیری" in mine.text and "لکه‌گیری" not in heard.text
    assert own in ascii_digits(heard.text) and code not in ascii_digits(heard.text)
    assert [b.data for row in heard.buttons for b in row] == [f"accept:{own}", f"contest:{own}"]
    # Accepting is each citizen's own word: the second closes theirs, the first stays.
    await citizens.say("second", callback=f"accept:{own}")
    await first.refresh_from_db()
    await second.refresh_from_db()
    assert (first.status, second.status) == ("resolved", "closed")

    far = (IN_R1[0] + 0.0008, IN_R1[1])  # about 89 m: a separate problem
    other = await Ticket.get(tracking_code=code_in(await report(citizens, "third", "asphalt",
                                                                far)))
    assert other.duplicate_of_id is None
    elsewhere = await Ticket.get(tracking_code=code_in(
        await report(citizens, "fourth", "garbage_collection", near)))
    assert elsewhere.duplicate_of_id is None
    assert await TicketFollower.all().count() == 0  # nobody follows another's ticket


async def test_a_late_satisfied_scores_below_a_timely_one(citizens: MemoryChannel,
                                                           workflow: Workflow,
                                                           clock: Clock) -> None:
    import jdatetime

    timely = await Ticket.get(tracking_code=code_in(
        await report(citizens, "t1", "garbage_collection", IN_R1)))
    late = await Ticket.get(tracking_code=code_in(
        await report(citizens, "t2", "asphalt", IN_R1)))
    await workflow.change_status(timely, "in_progress", "staff:r1")
    clock.advance(hours=130)  # past the 120-hour first answer for the other one
    await workflow.change_status(late, "in_progress", UNIT)
    for ticket, who in ((timely, "t1"), (late, "t2")):
        await workflow.change_status(ticket, "resolved", "staff:x", "انجام شد")
        await citizens.say(who, callback=f"accept:{ticket.tracking_code}")
        await citizens.say(who, callback=f"rate:{ticket.tracking_code}:5")
    month = jdatetime.date.fromgregorian(date=clock().date())
    scores = {s.unit_code: s for s in await workflow.unit_scores(month.year, month.month)}
    assert scores["r1_services"].score == 100.0 and scores["r1_services"].late == 0
    assert scores["north_works"].late == 1
    assert scores["north_works"].score == 60.0
    assert scores["north_works"].mean_rating == 5.0


async def test_statuses_cover_the_lifecycle() -> None:
    from peygir.ticket_store.workflow import TRANSITIONS

    reachable = {TicketStatus.NEW}
    frontier = [TicketStatus.NEW]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(TicketStatus)


SCAN = """
import asyncio, sys
from datetime import datetime
from peygir.config.pack import load_pack
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.escalation import escalate
from peygir.ticket_store.workflow import Workflow
from peygir.conversation.notices import Notices

async def main() -> None:
    await open_db(sys.argv[1], upgrade=False)
    pack = load_pack()
    workflow = Workflow(pack, voice=Notices(pack))
    fired = await escalate(workflow, datetime.fromisoformat(sys.argv[2]))
    print(len(fired))
    await close_db()

asyncio.run(main())
"""


async def test_two_processes_fire_each_alert_once(citizens: MemoryChannel, db: str,
                                                  clock: Clock) -> None:
    import sys

    for i in range(20):
        await report(citizens, f"p{i}", "asphalt", spot(i))
    clock.advance(hours=80)
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCAN, db, clock().isoformat(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode()[-800:] for _, err in outputs]
    counts = [int(out) for out, _ in outputs]
    assert sum(counts) == 40  # 20 tickets × 2 rungs, split between the processes somehow
    assert await EscalationAlert.all().count() == 40
    assert await TicketEvent.filter(actor="system", note__startswith="هشدار").count() == 40
