"""The citizen's story on the ticket page, over HTTP against the real app, on SQLite and
PostgreSQL: the 137 centre reads the whole conversation (a photo inline) and the citizen's
other tickets; a unit reads only its own ticket's part, never the phone, and none of the
citizen's tickets that are another unit's."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import replace
from pathlib import Path

import pytest

from peygir.channels.memory import MemoryChannel
from peygir.messages import texts
from peygir.messages.types import Attachment as AttachmentIn
from peygir.messages.types import Contact, Reply
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.models import Attachment, StaffUser, Ticket
from tests.panel_support import build_app, jpeg, signed_in

PHONE = "09127654321"
POTHOLE = "آسفالت کوچه ما پر از چاله شده"
BIN = "سطل زباله سر کوچه‌مون پر شده و بو میده"


@pytest.fixture
def app(db: str, tmp_path: Path):
    return build_app(db, tmp_path / "media")


def code_in(replies: list[Reply]) -> str:
    found = re.search(r"[0-9۰-۹]{8}", "\n".join(r.text for r in replies))
    assert found, [r.text for r in replies]
    return ascii_digits(found.group(0))


def photo_file(media: Path) -> str:
    data = jpeg((200, 30, 30))
    digest = hashlib.sha256(data).hexdigest()
    path = media / digest[:2] / f"{digest}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


async def report(chat: MemoryChannel, who: str, text: str) -> Ticket:
    await chat.say(who, text)
    await chat.say(who, callback="loc:skip")
    return await Ticket.get(tracking_code=code_in(await chat.say(who, callback="confirm")))


async def test_the_centre_reads_the_story_and_a_unit_only_its_part(app, tmp_path: Path) -> None:
    core = app.state.core
    chat = MemoryChannel(core.dialogue)
    workflow = core.workflow
    await chat.say("ali", "سلام، ساعت کاری شهرداری چیه")  # before any report
    # The report begins with a photo, then the words.
    photo = photo_file(tmp_path / "media")
    await chat.say("ali", attachments=(AttachmentIn("photo", "tg-photo-1", mime="image/jpeg",
                                                    path=photo),))
    pothole = await report(chat, "ali", POTHOLE)
    await chat.send(replace(chat.message("ali"), contact=Contact(PHONE, "ali")))
    bins = await report(chat, "ali", BIN)
    await workflow.assign(pothole, "north_works", "staff:op1")
    await workflow.assign(bins, "south_works", "staff:op1")
    async with signed_in(app, "op1", "operator") as operator:
        await StaffUser.filter(username="op1").update(full_name="سارا احمدی")
        await workflow.reply_to_citizen(pothole, "staff:op1", "اکیپ فردا صبح می‌آید")
        page = await operator.get(f"/panel/tickets/{pothole.tracking_code}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        story = text[text.index('id="story"'):text.index("</section>", text.index('id="story"'))]
        # The whole chat: the greeting, the photo inline, the report, the answers, by who.
        assert "ساعت کاری شهرداری" in story and POTHOLE in story and BIN in story
        photo_row = await Attachment.get(file_ref="tg-photo-1")
        assert photo_row.ticket_id == pothole.id
        assert f'<img src="/panel/media/{photo_row.id}"' in story
        assert (await operator.get(f"/panel/media/{photo_row.id}")).content == Path(
            photo).read_bytes()
        assert "شهروند" in story and "پیگیر" in story and "سارا احمدی" in story
        assert "اکیپ فردا صبح می‌آید" in story
        assert f"گزینهٔ «{texts.CONFIRM}» را زد" in story  # a button pressed, by its label
        assert "شمارهٔ تماس خود را فرستاد" in story and PHONE not in story
        assert story.index("ساعت کاری") < story.index(POTHOLE) < story.index("اکیپ فردا")
        # The citizen's other ticket, linked, with its state and a Jalali date.
        others = story[story.index('id="other-tickets"'):]
        assert f'href="/panel/tickets/{bins.tracking_code}"' in others
        assert "ارجاع به واحد" in others and "۱۴۰" in others  # its state; a Jalali year

    async with signed_in(app, "crew", "unit", unit="north_works") as unit:
        page = await unit.get(f"/panel/tickets/{pothole.tracking_code}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        story = text[text.index('id="story"'):text.index("</section>", text.index('id="story"'))]
        # From the report's first message (the photo) to its filing, and what followed on it.
        assert POTHOLE in story and f"/panel/media/{photo_row.id}" in story
        assert "اکیپ فردا صبح می‌آید" in story
        assert "ساعت کاری شهرداری" not in story  # before the report: not the unit's
        assert BIN not in story and "شمارهٔ تماس" not in story
        assert PHONE not in text  # nowhere on the page: the citizen did not consent
        assert bins.tracking_code not in text  # another unit's ticket is not listed
        assert (await unit.get(f"/panel/tickets/{bins.tracking_code}")).status_code == 404


async def test_a_units_other_tickets_of_the_citizen_are_listed(app) -> None:
    core = app.state.core
    chat = MemoryChannel(core.dialogue)
    first = await report(chat, "ali", POTHOLE)
    second = await report(chat, "ali", BIN)
    sara = await report(chat, "sara", POTHOLE)
    for ticket in (first, second, sara):
        await core.workflow.assign(ticket, "north_works", "staff:op1")
    async with signed_in(app, "crew", "unit", unit="north_works") as unit:
        text = (await unit.get(f"/panel/tickets/{first.tracking_code}")).text
        others = text[text.index('id="other-tickets"'):]
        assert second.tracking_code in others and sara.tracking_code not in others
        assert BIN not in text  # its words stay on its own page


async def test_an_anonymised_ticket_has_no_story(app) -> None:
    from datetime import timedelta

    from peygir.config.clock import utcnow
    from peygir.ticket_store import retention

    core = app.state.core
    chat = MemoryChannel(core.dialogue)
    old = await report(chat, "ali", POTHOLE)
    other = await report(chat, "reza", BIN)
    for ticket in (old, other):
        await core.workflow.change_status(ticket, "rejected", "staff:op1", "تکراری")
    await retention.purge(utcnow() + timedelta(days=800), retention.Policy(days=730))
    async with signed_in(app, "op1", "operator") as operator:
        text = html.unescape((await operator.get(f"/panel/tickets/{old.tracking_code}")).text)
        assert POTHOLE not in text and "گفت‌وگویی ثبت نشده است" in text
        # Both now belong to the one anonymous citizen: neither lists the other.
        assert other.tracking_code not in text
