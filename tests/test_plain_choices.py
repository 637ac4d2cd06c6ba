"""Buttons degrade: on a channel without buttons a digit answers the numbered choices."""

from peygir.channels.memory import MemoryChannel
from peygir.conversation.dialogue import Dialogue
from peygir.messages.types import Button, Reply
from peygir.ticket_store.models import Ticket
from tests.test_dialogue import buttons, tracking_code

REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده"


def test_plain_text_numbers_every_button() -> None:
    rows = ((Button("اول", "a"),), (Button("دوم", "b"), Button("سوم", "c")))
    reply = Reply("کدام؟", buttons=rows)
    text = reply.plain_text()
    assert text.startswith("کدام؟\n\n")
    assert text.splitlines()[-3:] == ["۱. اول", "۲. دوم", "۳. سوم"]
    assert Reply("بدون دکمه").plain_text() == "بدون دکمه"


async def test_digits_answer_choices_on_a_buttonless_channel(dialogue: Dialogue) -> None:
    direct = MemoryChannel(dialogue, name="instagram")
    replies = await direct.say("thread-1", REPORT)
    assert replies[-1].request_location and buttons(replies[-1]) == ["loc:skip"]
    replies = await direct.say("thread-1", "۱")  # «skip the address», typed as a Persian digit
    assert buttons(replies[-1])[0] == "confirm"
    replies = await direct.say("thread-1", "1.")
    code = tracking_code(replies)
    ticket = await Ticket.get(tracking_code=code)
    assert ticket.channel == "instagram" and ticket.address is None
    # No choices are open now: a digit is ordinary text again, not an old button.
    after = await direct.say("thread-1", "3")
    assert await Ticket.all().count() == 1 and "ثبت شد" not in after[-1].text


async def test_a_digit_out_of_range_is_not_a_choice(dialogue: Dialogue) -> None:
    direct = MemoryChannel(dialogue, name="instagram")
    await direct.say("thread-2", REPORT)
    replies = await direct.say("thread-2", "۷")  # only one choice was offered
    # Taken as the address (the dialogue's normal reading), so nothing is skipped or filed.
    assert "confirm" in buttons(replies[-1]) and await Ticket.all().count() == 0


async def test_channels_with_buttons_keep_digits_as_text(chat: MemoryChannel) -> None:
    replies = await chat.say("web-1", REPORT)
    assert buttons(replies[-1]) == ["loc:skip"]
    replies = await chat.say("web-1", "1")  # on a channel with buttons this is an address
    assert "confirm" in buttons(replies[-1])
    assert "نشانی: 1" in replies[-1].text or "نشانی: ۱" in replies[-1].text
