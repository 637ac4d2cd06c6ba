"""Bot API updates to IncomingMessage, and replies to Bot API calls' shape (no network)."""

from typing import Any

from aiogram.types import Update

from peygir.channels.telegram.runner import FloodGate
from peygir.channels.telegram.wire import MAX_TEXT, to_incoming
from peygir.messages.types import split_text

USER = {"id": 42, "is_bot": False, "first_name": "شهروند"}
CHAT = {"id": 42, "type": "private", "first_name": "شهروند"}


def update(**fields: Any) -> Update:
    return Update.model_validate({"update_id": 7, **fields})


def message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 3, "date": 1_760_000_000, "chat": CHAT, "from": USER, **fields}


def test_text_and_dedup_key() -> None:
    incoming = to_incoming(update(message=message(text="چاله وسط کوچه")), "telegram")
    assert incoming is not None
    assert incoming.text == "چاله وسط کوچه" and incoming.dedup_key == "telegram:7"
    assert incoming.chat_id == "42" and incoming.unsupported is None


def test_deep_link_payload() -> None:
    incoming = to_incoming(update(message=message(text="/start staff_17")), "bale")
    assert incoming and incoming.start_payload == "staff_17" and incoming.text == ""
    plain = to_incoming(update(message=message(text="/start")), "bale")
    assert plain and plain.start_payload == ""


def test_media_location_and_largest_photo() -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960,
         "file_size": 9},
    ]
    incoming = to_incoming(update(message=message(
        photo=photo, caption="درخت افتاده", media_group_id="album1")), "telegram")
    assert incoming and incoming.text == "درخت افتاده" and incoming.media_group == "album1"
    assert [a.file_ref for a in incoming.attachments] == ["big"]
    note = {"file_id": "v", "file_unique_id": "v", "duration": 12, "mime_type": "audio/ogg",
            "file_size": 5000}
    voice = to_incoming(update(message=message(voice=note)), "telegram")
    assert voice and voice.attachments[0].kind == "voice"
    assert voice.attachments[0].duration == 12
    where = to_incoming(update(message=message(location={"latitude": 35.7,
                                                         "longitude": 51.4})), "telegram")
    assert where and where.location and where.location.lat == 35.7
    venue = to_incoming(update(message=message(venue={
        "location": {"latitude": 32.6, "longitude": 51.6}, "title": "میدان",
        "address": "نقش جهان"})), "telegram")
    assert venue and venue.location and venue.location.lon == 51.6


def test_only_the_citizens_own_number_is_kept() -> None:
    own = to_incoming(update(message=message(contact={
        "phone_number": "+989120000000", "first_name": "من", "user_id": 42})), "telegram")
    assert own and own.contact and own.contact.phone == "+989120000000"
    other = to_incoming(update(message=message(contact={
        "phone_number": "+989130000000", "first_name": "دیگری", "user_id": 99})), "telegram")
    assert other and other.contact is None


def test_callback_edited_sticker_and_groups() -> None:
    query = to_incoming(update(callback_query={
        "id": "q1", "from": USER, "chat_instance": "x", "data": "confirm",
        "message": message(text="ثبت شود؟")}), "telegram")
    assert query and query.callback_data == "confirm"
    edited = to_incoming(update(edited_message=message(text="اصلاح", edit_date=1)), "telegram")
    assert edited and edited.unsupported == "edited"
    sticker = to_incoming(update(message=message(sticker={
        "file_id": "st", "file_unique_id": "st", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False})), "telegram")
    assert sticker and sticker.unsupported == "sticker"
    group = {**message(text="سلام"), "chat": {"id": -5, "type": "group", "title": "محله"}}
    assert to_incoming(update(message=group), "telegram") is None


def test_long_text_is_split_at_the_limit() -> None:
    text = ("خط اول گزارش\n" * 600).strip()
    pieces = list(split_text(text, MAX_TEXT))
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) >= 2
    assert "".join(p.replace("\n", "") for p in pieces) == text.replace("\n", "")


def test_flood_gate_slows_one_chat_only() -> None:
    gate = FloodGate(limit=5, per_seconds=1.0)
    admitted = [gate.admit("spam", now=0.01 * i) for i in range(50)]
    assert admitted.count(True) == 5
    assert gate.admit("other", now=0.3)
    assert gate.should_warn("spam", now=0.5) and not gate.should_warn("spam", now=0.6)
    assert gate.admit("spam", now=2.0)
