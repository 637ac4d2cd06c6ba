"""The dialogue driven through the in-memory channel, on SQLite and on PostgreSQL."""

import itertools
import re

from peygir.channels.memory import MemoryChannel
from peygir.config.pack import Pack
from peygir.conversation.dialogue import Dialogue
from peygir.messages.persian import to_persian_digits
from peygir.messages.types import Reply
from peygir.nlu.classifier import Classifier
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.db import close_db, open_db
from peygir.ticket_store.models import OutboxMessage, ProcessedUpdate, Ticket, TicketEvent

CODE = re.compile(r"[۰-۹]{8}")


def buttons(reply: Reply) -> list[str]:
    return [b.data for row in reply.buttons for b in row]


def tracking_code(replies: list[Reply]) -> str:
    found = CODE.search(replies[-1].text)
    assert found, replies[-1].text
    return ascii_digits(found.group(0))


async def report(chat: MemoryChannel, who: str, text: str, address: str = "کوچه نسترن ۳") -> str:
    """A whole report: describe, give an address, confirm; returns the tracking code."""
    replies = await chat.say(who, text)
    if "svc:" in "".join(buttons(replies[-1])):
        replies = await chat.say(who, callback=buttons(replies[-1])[0])
    assert replies[-1].request_location
    replies = await chat.say(who, address)
    assert "confirm" in buttons(replies[-1])
    return tracking_code(await chat.say(who, callback="confirm"))


async def test_report_confirm_and_follow(chat: MemoryChannel) -> None:
    replies = await chat.say("alice", "سطل زباله سر کوچه‌مون پر شده و بو میده")
    assert replies[-1].request_location and "loc:skip" in buttons(replies[-1])
    replies = await chat.say("alice", "خیابان بهار، کوچه ۴")
    assert "سطل" in replies[-1].text and "confirm" in buttons(replies[-1])
    assert await Ticket.all().count() == 0  # nothing is filed before the tap
    replies = await chat.say("alice", callback="confirm")
    code = tracking_code(replies)
    assert "۱۲۰ ساعت" in replies[-1].text
    ticket = await Ticket.get(tracking_code=code)
    assert ticket.service_code == "waste_bin" and ticket.address == "خیابان بهار، کوچه 4"
    assert ticket.answer_due is not None and ticket.onsite_due is None
    assert await TicketEvent.filter(ticket=ticket).count() == 1

    status = await chat.say("alice", f"پیگیری {code}")
    assert CODE.search(status[-1].text).group(0) == code.translate(
        str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert "ثبت شده" in status[-1].text and "۱۴۰" in status[-1].text  # a Jalali year


async def test_status_is_refused_to_another_chat(chat: MemoryChannel) -> None:
    code = await report(chat, "alice", "چاله بزرگ وسط کوچه ما")
    stranger = await chat.say("mallory", f"وضعیت {code}")
    assert "پیدا نشد" in stranger[-1].text
    assert "کوچه نسترن" not in stranger[-1].text and "چاله" not in stranger[-1].text


async def test_urgent_report_gets_the_urgent_deadline(chat: MemoryChannel) -> None:
    replies = await chat.say("bob", "یه درخت بزرگ افتاده وسط خیابون و راه بسته شده")
    assert any("فوری" in r.text for r in replies)
    replies = await chat.say("bob", location=(35.7, 51.4))
    assert "confirm" in buttons(replies[-1])
    replies = await chat.say("bob", callback="confirm")
    assert "۲ ساعت" not in replies[-1].text  # the deadline is a time, not a duration
    ticket = await Ticket.get(tracking_code=tracking_code(replies))
    assert ticket.urgent and ticket.latitude == 35.7
    assert ticket.onsite_due is not None
    assert (ticket.onsite_due - ticket.created_at).total_seconds() <= 2 * 3600 + 5
    assert (ticket.answer_due - ticket.created_at).total_seconds() <= 24 * 3600 + 5


async def test_urgent_candidate_is_flagged_before_the_pick(
    chat: MemoryChannel, default_classifier: Classifier
) -> None:
    text = "ساختمون قدیمی"  # bulky waste to clear out, or a dangerous building?
    intent = default_classifier.classify(text)
    assert not intent.confident
    assert "svc:dangerous_building" in [f"svc:{c.key}" for c in intent.alternatives[:2]]
    replies = await chat.say("zoe", text)
    # Issue 17: the warning goes with the best guess only (here bulky waste); the urgent
    # subject behind it is still offered, and flagged once picked (tests/test_urgent_warning.py).
    assert "فوری" not in replies[-1].text and "svc:dangerous_building" in buttons(replies[-1])
    calm = await chat.say("zed", "چراغ خیابون خاموشه")
    assert "فوری" not in calm[-1].text


async def test_faq_is_answered_at_once(chat: MemoryChannel, default_pack: Pack) -> None:
    replies = await chat.say("carol", "مرکز ۱۳۷ چه ساعتی جواب میده؟")
    assert len(replies) == 1 and not replies[0].buttons
    assert "۱۳۷" in replies[0].text
    assert replies[0].text == to_persian_digits(default_pack.faq_by_id["hours_137"].answer)
    assert await Ticket.all().count() == 0


async def test_unsure_faq_offers_the_candidates(chat: MemoryChannel, default_pack: Pack) -> None:
    replies = await chat.say("carol", "برای گرفتن پروانه ساختمانی چه مدارکی لازمه؟")
    datas = buttons(replies[-1])
    assert "faq:building_permit_documents" in datas and datas[-1] == "svc:none"
    replies = await chat.say("carol", callback="faq:building_permit_documents")
    expected = default_pack.faq_by_id["building_permit_documents"].answer
    assert replies[-1].text == to_persian_digits(expected)


async def test_referral_files_no_ticket(chat: MemoryChannel) -> None:
    replies = await chat.say("dave", "بوی گاز توی راه‌پله ساختمون پیچیده")
    assert "۱۹۴" in replies[-1].text
    assert await Ticket.all().count() == 0


async def test_ambiguous_message_offers_choices(
    chat: MemoryChannel, default_classifier: Classifier
) -> None:
    text = "چراغ خیابون خاموشه"  # a traffic light, or a street lamp (the power company's)?
    intent = default_classifier.classify(text)
    assert intent.kind == "service" and not intent.confident
    replies = await chat.say("erin", text)
    datas = buttons(replies[-1])
    assert datas[0] == f"svc:{intent.code}" and datas[-1] == "svc:none"
    assert len(datas) >= 3
    assert await Ticket.all().count() == 0
    replies = await chat.say("erin", callback=datas[1])  # the citizen picks the runner-up
    assert replies[-1].text and (replies[-1].request_location or "۱۲۱" in replies[-1].text)


async def test_unknown_asks_again_and_says_what_it_does(chat: MemoryChannel) -> None:
    replies = await chat.say("frank", "قیمت دلار امروز چنده")
    assert "ثبت" in replies[-1].text and "پیگیری" in replies[-1].text


async def test_bad_input_gets_a_polite_reply(chat: MemoryChannel) -> None:
    for text in ["", "    \n\t", "\x00\x01\x02\ufffd\ufffd\ufffd", "🙂🙂🙂", "ز" * 20_000,
                 "chale وسط کوچه ما hast 😡 ١٢"]:
        replies = await chat.say("gina", text)
        assert replies and replies[-1].text.strip()
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0


async def test_long_report_is_kept_within_bounds(chat: MemoryChannel) -> None:
    long_text = "آسفالت کوچه خراب است و چاله دارد. " * 800
    replies = await chat.say("hana", long_text)
    if "svc:" in "".join(buttons(replies[-1])):
        replies = await chat.say("hana", callback=buttons(replies[-1])[0])
    await chat.say("hana", callback="loc:skip")
    code = tracking_code(await chat.say("hana", callback="confirm"))
    ticket = await Ticket.get(tracking_code=code)
    assert 100 < len(ticket.description) <= 4000


async def test_the_same_update_twice_makes_one_ticket(chat: MemoryChannel) -> None:
    await chat.say("ivan", "آسفالت کوچه ما پر از چاله شده")
    await chat.say("ivan", callback="loc:skip")
    confirm = chat.message("ivan", callback="confirm", update_id=999)
    first = await chat.send(confirm)
    again = await chat.send(confirm)
    assert CODE.search(first[-1].text) and again == []
    assert await Ticket.all().count() == 1
    assert await ProcessedUpdate.filter(dedup_key="memory:999").count() == 1


async def test_half_made_report_survives_a_restart(
    database_url: str, default_pack: Pack, default_classifier: Classifier
) -> None:
    await open_db(database_url)
    chat = MemoryChannel(Dialogue(default_pack, default_classifier))
    await chat.say("jack", "جدول کنار خیابون شکسته")
    await close_db()

    await open_db(database_url)  # a new process: nothing in memory, same database
    chat = MemoryChannel(Dialogue(default_pack, default_classifier),
                         _update_ids=itertools.count(100))
    replies = await chat.say("jack", "روبروی پارک لاله")
    assert "confirm" in buttons(replies[-1])
    code = tracking_code(await chat.say("jack", callback="confirm"))
    assert (await Ticket.get(tracking_code=code)).address == "روبروی پارک لاله"


async def test_deep_link_is_kept_on_the_ticket(chat: MemoryChannel) -> None:
    replies = await chat.say("kate", start="staff_42")
    assert "همکار" in replies[-1].text
    code = await report(chat, "kate", "کارمند شهرداری با من بی‌ادبی کرد و جواب سلامم رو نداد")
    assert (await Ticket.get(tracking_code=code)).deep_link == "staff_42"


async def test_cancel_and_change_of_service(chat: MemoryChannel) -> None:
    await chat.say("leo", "چاله وسط خیابون")
    await chat.say("leo", callback="loc:skip")
    replies = await chat.say("leo", callback="change")
    assert "svc:none" in buttons(replies[-1])
    replies = await chat.say("leo", "نه")
    replies = await chat.say("leo", callback="cancel")
    assert await Ticket.all().count() == 0


async def test_stale_button_is_answered_politely(chat: MemoryChannel) -> None:
    replies = await chat.say("mia", callback="confirm")
    assert replies and "گزارشی" in replies[-1].text
    replies = await chat.say("mia", callback="svc:does_not_exist")
    assert replies


FOLLOW_UP = "سه روز پیش زنگ زدم ۱۳۷ برای سطل زباله شکسته سر کوچه، هنوز کسی نیومده"


async def test_a_follow_up_without_code_can_be_reported_here(chat: MemoryChannel) -> None:
    """A citizen who reported by phone has no code and no report in this chat: asked for
    the code, and offered to report it here under the subjects the message names."""
    replies = await chat.say("ida", FOLLOW_UP)
    assert "کد پیگیری" in replies[-1].text and "همین‌جا دوباره گزارش" in replies[-1].text
    datas = buttons(replies[-1])
    assert "svc:waste_bin" in datas and datas[-1] == "svc:none"
    replies = await chat.say("ida", callback="svc:waste_bin")
    assert replies[-1].request_location
    replies = await chat.say("ida", "خیابان بهار، کوچه ۴")
    filed = await chat.say("ida", callback="confirm")
    ticket = await Ticket.get(tracking_code=tracking_code(filed))
    assert ticket.service_code == "waste_bin" and "زنگ زدم" in ticket.description


async def test_a_follow_up_from_a_chat_with_reports_lists_them(chat: MemoryChannel) -> None:
    code = await report(chat, "jack", "سطل زباله سر کوچه‌مون پر شده و بو میده")
    replies = await chat.say("jack", FOLLOW_UP)
    assert CODE.search(replies[-1].text).group(0) == to_persian_digits(code)
    assert not any(d.startswith("svc:") for d in buttons(replies[-1]))
