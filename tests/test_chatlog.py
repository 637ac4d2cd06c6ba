"""The conversation's transcript (ticket_store.chatlog), through the real dialogue, workflow
and retention job, on SQLite and PostgreSQL: each message logged once, a report's lines tied
to its ticket, the phone never in it, and retention and erasure taking it away."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from peygir.channels.memory import MemoryChannel
from peygir.config.clock import utcnow
from peygir.conversation.dialogue import Dialogue
from peygir.messages import texts
from peygir.messages.types import Contact, Reply
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store import chatlog, retention
from peygir.ticket_store.models import ChatLine, ChatState, Ticket

POTHOLE = "آسفالت کوچه ما پر از چاله شده"
UNIT = "staff:unit_north"
PHONE = "09351112233"


def code_in(replies: list[Reply]) -> str:
    found = re.search(r"[0-9۰-۹]{8}", "\n".join(r.text for r in replies))
    assert found, [r.text for r in replies]
    return ascii_digits(found.group(0))


async def report(chat: MemoryChannel, who: str, text: str = POTHOLE) -> Ticket:
    await chat.say(who, text)
    await chat.say(who, callback="loc:skip")
    return await Ticket.get(tracking_code=code_in(await chat.say(who, callback="confirm")))


def said(lines: list[chatlog.Line]) -> list[tuple[str, str, str]]:
    return [(line.direction, line.who, line.text) for line in lines]


async def test_each_message_is_logged_once_and_the_report_is_tied_to_its_ticket(
        chat: MemoryChannel, dialogue: Dialogue) -> None:
    await chat.say("ali", "سلام")
    first = chat.message("ali", POTHOLE, update_id=500)
    assert await chat.send(first)
    assert await chat.send(first) == []  # delivered twice: handled, and logged, once
    await chat.say("ali", callback="loc:skip")
    ticket = await Ticket.get(tracking_code=code_in(await chat.say("ali", callback="confirm")))

    lines = await chatlog.of_chat("memory", "ali")
    assert [line.text for line in lines if line.direction == "in"] == [
        "سلام", POTHOLE, texts.SKIP_LOCATION, texts.CONFIRM]
    assert [line.kind for line in lines if line.direction == "in"] == [
        "text", "text", "button", "button"]
    # Every reply the chat got is in it too, once, said by the bot.
    outs = [line for line in lines if line.direction == "out"]
    assert len(outs) == await ChatLine.filter(direction="out").count() == 4
    assert {line.who for line in outs} == {"bot"}
    assert [data for row in outs[1].buttons for _, data in row] == ["loc:skip"]
    assert any(data == "confirm" for row in outs[2].buttons for _, data in row)

    # The report's conversation: from its first message to its filing, not the greeting.
    story = await chatlog.of_ticket(ticket.id)
    assert story[0].text == POTHOLE and "سلام" not in [line.text for line in story]
    assert story[-1].direction == "out" and ticket.tracking_code in ascii_digits(story[-1].text)
    assert {line.ticket_id for line in story} == {ticket.id}
    citizen_id = ticket.citizen_id  # type: ignore[attr-defined]
    assert await ChatLine.filter(ticket_id=ticket.id).exclude(citizen_id=citizen_id).count() == 0

    # Later: a staff reply and a change of state are the ticket's lines, by who said them.
    await dialogue.workflow.reply_to_citizen(ticket, "staff:sara", "اکیپ فردا می‌آید")
    await dialogue.workflow.change_status(ticket, "in_progress", UNIT, "")
    story = await chatlog.of_ticket(ticket.id)
    assert story[-2].who == "staff:sara" and "اکیپ فردا می‌آید" in story[-2].text
    assert story[-1].who == "bot" and story[-1].ticket_id == ticket.id


async def test_a_second_report_keeps_its_own_lines(chat: MemoryChannel,
                                                   dialogue: Dialogue) -> None:
    first = await report(chat, "ali")
    await chat.say("ali", "سطل زباله سر کوچه‌مون پر شده و بو میده")
    # Meanwhile staff answer about the first report: its line, not the new one's.
    await dialogue.workflow.reply_to_citizen(first, "staff:sara", "پیگیری شد")
    await chat.say("ali", callback="loc:skip")
    second = await Ticket.get(tracking_code=code_in(await chat.say("ali", callback="confirm")))
    one, two = await chatlog.of_ticket(first.id), await chatlog.of_ticket(second.id)
    assert not {line.id for line in one} & {line.id for line in two}
    assert "پیگیری شد" in one[-1].text and all("پیگیری شد" not in line.text for line in two)
    assert two[0].text.startswith("سطل زباله") and POTHOLE not in [line.text for line in two]
    assert len(await chatlog.of_chat("memory", "ali")) == len(one) + len(two)


async def test_the_phone_is_never_in_the_transcript(chat: MemoryChannel) -> None:
    await chat.send(replace(chat.message("ali"), contact=Contact(PHONE, "ali")))
    lines = await ChatLine.filter(chat_id="ali").values_list("kind", "text")
    assert ("contact", "") in lines
    assert all(PHONE not in text for _, text in lines)


async def test_hostile_text_is_kept_bounded_and_storable(chat: MemoryChannel) -> None:
    """NUL bytes (PostgreSQL refuses them) and a 20,000-character paste."""
    await chat.say("gina", "\x00\x01چاله\x00")
    await chat.say("gina", "ز" * 20_000)
    texts_in = await ChatLine.filter(chat_id="gina", direction="in").order_by("id"
                                                                          ).values_list(
        "text", flat=True)
    assert texts_in == ["\x01چاله", "ز" * chatlog.MAX_TEXT]


async def test_reads_are_bounded(chat: MemoryChannel) -> None:
    now = utcnow()
    await ChatLine.bulk_create([
        ChatLine(channel="memory", chat_id="flood", direction="in", who="citizen", kind="text",
                 text=f"پیام {i}", at=now + timedelta(seconds=i))
        for i in range(chatlog.MAX_LINES + 20)])
    lines = await chatlog.of_chat("memory", "flood", limit=10_000)
    assert len(lines) == chatlog.MAX_LINES
    assert lines[-1].text == f"پیام {chatlog.MAX_LINES + 19}"  # the newest, oldest first
    assert lines[0].text == "پیام 20"


async def test_typing_yes_to_is_it_fixed_accepts_it(chat: MemoryChannel,
                                                    dialogue: Dialogue) -> None:
    """Not a new report: «بله» (or the button's label typed out) answers the live buttons."""
    ticket = await report(chat, "ali")
    await dialogue.workflow.change_status(ticket, "in_progress", UNIT, "")
    await dialogue.workflow.change_status(ticket, "resolved", UNIT, "انجام شد")
    told = await chat.flush("ali")
    assert any(b.data == f"accept:{ticket.tracking_code}" for r in told for row in r.buttons
               for b in row)
    state = await ChatState.get(channel="memory", chat_id="ali")
    assert state.state["offered"][0]["data"] == f"accept:{ticket.tracking_code}"

    await chat.say("ali", "بله")
    assert (await Ticket.get(id=ticket.id)).status == "closed"
    assert await Ticket.all().count() == 1
    # The survey that followed is the live set now (kept, though queued mid-update).
    state = await ChatState.get(channel="memory", chat_id="ali")
    assert [b["data"] for b in state.state["offered"]] == [
        f"rate:{ticket.tracking_code}:{n}" for n in range(1, 6)]
    # Pressing an old button again changes nothing.
    await chat.say("ali", callback=f"accept:{ticket.tracking_code}")
    assert (await Ticket.get(id=ticket.id)).status == "closed"

    other = await report(chat, "sara")
    await dialogue.workflow.change_status(other, "in_progress", UNIT, "")
    await dialogue.workflow.change_status(other, "resolved", UNIT, "انجام شد")
    await chat.say("sara", texts.ACCEPT)  # the label typed out
    assert (await Ticket.get(id=other.id)).status == "closed"


@pytest.mark.parametrize(("typed", "status", "stage"), [
    ("برطرف شد، تأیید می‌کنم", "closed", "idle"),
    ("درست شد و قبول دارم. ممنون!", "closed", "idle"),
    ("درست نشده", "resolved", "correction"),  # contested: what still needs doing comes next
])
async def test_a_short_typed_answer_to_is_it_fixed(chat: MemoryChannel, dialogue: Dialogue,
                                                   typed: str, status: str,
                                                   stage: str) -> None:
    ticket = await report(chat, "reza")
    await dialogue.workflow.change_status(ticket, "in_progress", UNIT, "")
    await dialogue.workflow.change_status(ticket, "resolved", UNIT, "انجام شد")
    await chat.flush("reza")
    await chat.say("reza", typed)
    assert (await Ticket.get(id=ticket.id)).status == status
    assert await Ticket.all().count() == 1  # never a new report
    state = await ChatState.get(channel="memory", chat_id="reza")
    assert state.state.get("stage") == stage


async def test_a_longer_text_while_is_it_fixed_waits_is_a_message(
        chat: MemoryChannel, dialogue: Dialogue) -> None:
    ticket = await report(chat, "reza")
    await dialogue.workflow.change_status(ticket, "in_progress", UNIT, "")
    await dialogue.workflow.change_status(ticket, "resolved", UNIT, "انجام شد")
    await chat.say("reza", "برطرف شد ولی چاله کوچه بغلی هم هست")
    assert (await Ticket.get(id=ticket.id)).status == "resolved"  # not taken as an answer


async def test_retention_takes_the_transcript(chat: MemoryChannel, dialogue: Dialogue) -> None:
    closed = await report(chat, "ali")
    await chat.say("ali", "سلام")  # tied to no ticket
    await chat.say("guest", "سلام")  # a chat that never filed anything (no citizen row)
    await dialogue.workflow.change_status(closed, "rejected", UNIT, "تکراری")
    still_open = await report(chat, "sara")
    assert await ChatLine.filter(ticket_id=closed.id).count() > 0
    later = utcnow() + timedelta(days=800)
    policy = retention.Policy(days=730)
    preview = await retention.preview(later, policy)
    assert preview.chat_lines == 4  # both greetings and their answers
    done = await retention.purge(later, policy)
    # ali's greeting goes with his citizen row, released with his last ticket; the guest's
    # by its age.
    assert done.chat_lines == 2 and done.tickets == 1
    assert await ChatLine.filter(ticket_id=closed.id).count() == 0
    assert await ChatLine.filter(chat_id__in=["ali", "guest"]).count() == 0
    # An open ticket keeps its conversation (its unit works from it).
    assert (await chatlog.of_ticket(still_open.id))[0].text == POTHOLE
    assert (await retention.purge(later, policy)).chat_lines == 0


async def test_erasure_takes_the_transcript_but_an_open_reports(
        chat: MemoryChannel, dialogue: Dialogue) -> None:
    done = await report(chat, "ali")
    await dialogue.workflow.change_status(done, "rejected", UNIT, "تکراری")
    pending = await report(chat, "ali", "سطل زباله سر کوچه‌مون پر شده و بو میده")
    await chat.say("ali", "ساعت کاری شهرداری چیه")
    await report(chat, "sara")
    sara_lines = await ChatLine.filter(chat_id="sara").count()

    await chat.say("ali", "اطلاعات من را پاک کنید")
    texts_left = await ChatLine.filter(chat_id="ali").values_list("ticket_id", "text")
    assert POTHOLE not in [text for _, text in texts_left]
    assert "ساعت کاری شهرداری چیه" not in [text for _, text in texts_left]
    assert await ChatLine.filter(ticket_id=done.id).count() == 0
    kept = await chatlog.of_ticket(pending.id)
    assert kept and kept[0].text.startswith("سطل زباله")
    # Only the open report's lines, the request and its answer are left of ali's chat.
    untied = [text for ticket_id, text in texts_left if ticket_id is None]
    assert untied == ["اطلاعات من را پاک کنید", untied[1]] and len(untied) == 2
    assert await ChatLine.filter(chat_id="sara").count() == sara_lines
    # Once that ticket closes and is anonymised, its conversation goes too.
    await dialogue.workflow.change_status(pending, "rejected", UNIT, "تکراری")
    await retention.purge(utcnow() + timedelta(minutes=1), retention.Policy(days=730))
    assert await ChatLine.filter(ticket_id=pending.id).count() == 0
