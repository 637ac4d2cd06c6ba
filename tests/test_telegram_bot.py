"""Whole conversations through the real aiogram stack and a Bot API server on loopback."""

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from peygir.channels.telegram.runner import Messengers
from peygir.conversation.dialogue import Dialogue
from peygir.messages.types import Reply
from peygir.nlu.normalize import ascii_digits
from peygir.ticket_store.models import Attachment, OutboxMessage, Ticket
from tests.fakes.botapi import FakeBotApi
from tests.media_samples import jpeg_with_gps

TG = "111:TELEGRAM"
BALE = "222:BALE"
CODE = re.compile(r"[۰-۹]{8}")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(tokens=(TG, BALE)) as fake:
        yield fake


@pytest.fixture
async def bale_api() -> AsyncIterator[FakeBotApi]:
    """Bale's servers: a second Bot API server at its own base URL."""
    async with FakeBotApi(tokens=(BALE,)) as fake:
        yield fake


@pytest.fixture
async def bots(api: FakeBotApi, bale_api: FakeBotApi, dialogue: Dialogue
               ) -> AsyncIterator[Messengers]:
    messengers = Messengers(dialogue)
    messengers.add("telegram", TG, api.base_url, markdown_by_default=False)
    messengers.add("bale", BALE, bale_api.base_url, markdown_by_default=True)
    await messengers.start()
    yield messengers
    await messengers.stop()


@pytest.fixture
async def media_bot(api: FakeBotApi, dialogue: Dialogue, tmp_path: Path
                    ) -> AsyncIterator[Messengers]:
    """The Telegram bot alone, keeping files under ``tmp_path / "media"``."""
    messengers = Messengers(dialogue, media_dir=tmp_path / "media")
    messengers.add("telegram", TG, api.base_url, markdown_by_default=False)
    await messengers.start()
    yield messengers
    await messengers.stop()


def real_jpeg(colour: tuple[int, int, int]) -> bytes:
    """A small real JPEG: peygir checks what a file is, not what it is called."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def buttons(call: dict[str, Any]) -> list[str]:
    markup = call["params"].get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


async def reply_with(api: FakeBotApi, token: str, chat: int, since: int,
                     pattern: str) -> dict[str, Any]:
    return await api.wait_for_sent(
        token, lambda c: re.search(pattern, c["params"].get("text", "")) is not None,
        method="sendMessage", chat_id=chat, since=since, timeout=15)


async def report(api: FakeBotApi, token: str, chat: int, text: str) -> str:
    """Describe, send a location, confirm; returns the tracking code (ASCII digits)."""
    code, _ = await report_and_tap(api, token, chat, text)
    return code


async def report_and_tap(api: FakeBotApi, token: str, chat: int, text: str
                         ) -> tuple[str, dict[str, Any]]:
    """As :func:`report`, also returning the confirming tap's update."""
    mark = len(api.calls(token))
    api.push_message(token, chat, text)
    asked = await reply_with(api, token, chat, mark, "موقعیت|کدام")
    if any(d.startswith("svc:") for d in buttons(asked)):
        mark = len(api.calls(token))
        api.push_callback(token, chat, buttons(asked)[0])
        await reply_with(api, token, chat, mark, "موقعیت")
    mark = len(api.calls(token))
    api.push_location(token, chat, 35.70, 51.40)
    confirm = await reply_with(api, token, chat, mark, "ثبت شود")
    assert "confirm" in buttons(confirm)
    mark = len(api.calls(token))
    tap = api.push_callback(token, chat, "confirm")
    filed = await reply_with(api, token, chat, mark, "کد پیگیری")
    found = CODE.search(filed["params"]["text"])
    assert found
    return ascii_digits(found.group(0)), tap


async def test_text_report_with_location_ends_with_a_code(
    api: FakeBotApi, bots: Messengers
) -> None:
    code = await report(api, TG, 501, "آسفالت کوچه ما پر از چاله شده")
    ticket = await Ticket.get(tracking_code=code)
    assert ticket.channel == "telegram" and ticket.latitude == pytest.approx(35.70)
    assert ticket.chat_id == "501"
    # Every update was confirmed, every reply sent once, and each callback answered.
    assert api.pending(TG) == []
    # A reply is marked sent on the outbox's next pass, just after the Bot API took it.
    async with asyncio.timeout(10):
        while await OutboxMessage.filter(sent_at__isnull=True).exists():
            await asyncio.sleep(0.02)
    assert api.sent(TG, method="answerCallbackQuery")


async def test_the_same_update_twice_makes_one_ticket(api: FakeBotApi, bots: Messengers
                                                      ) -> None:
    code, tap = await report_and_tap(api, TG, 502, "آسفالت خیابون ما خرابه و چاله داره")
    await settle(api)
    replies_before = len(api.sent(TG, chat_id=502, method="sendMessage"))
    api.redeliver(TG, tap["update_id"])  # Telegram delivers the confirming tap again
    await settle(api)
    assert await Ticket.filter(chat_id="502").count() == 1
    assert (await Ticket.get(chat_id="502")).tracking_code == code
    assert len(api.sent(TG, chat_id=502, method="sendMessage")) == replies_before


async def settle(api: FakeBotApi) -> None:
    """Until every update is confirmed and every reply sent (or 10 s)."""
    for _ in range(100):
        await asyncio.sleep(0.1)
        if not api.pending(TG) and not await OutboxMessage.filter(sent_at__isnull=True).exists():
            return


async def test_429_is_retried_after_retry_after(api: FakeBotApi, bots: Messengers) -> None:
    api.fail_next(TG, "sendMessage", error_code=429, retry_after=1)
    mark = len(api.calls(TG))
    api.push_message(TG, 503, "سلام")
    started = asyncio.get_running_loop().time()
    await reply_with(api, TG, 503, mark, "سلام")
    assert asyncio.get_running_loop().time() - started >= 0.9
    failures = [c for c in api.calls(TG)[mark:] if c["error_code"] == 429]
    assert len(failures) == 1
    assert len(api.sent(TG, chat_id=503, method="sendMessage")) == 1


async def test_status_for_the_owner_only(api: FakeBotApi, bots: Messengers) -> None:
    code = await report(api, TG, 504, "درخت بزرگ کوچه افتاده وسط راه")
    mark = len(api.calls(TG))
    api.push_message(TG, 504, f"پیگیری {code}")
    await reply_with(api, TG, 504, mark, "وضعیت درخواست")
    mark = len(api.calls(TG))
    api.push_message(TG, 999, f"پیگیری {code}")
    refused = await reply_with(api, TG, 999, mark, "پیدا نشد")
    assert "درخت" not in refused["params"]["text"]


async def test_bale_runs_through_the_same_dispatcher(
    api: FakeBotApi, bale_api: FakeBotApi, bots: Messengers
) -> None:
    assert bots.bots[0].bot.session.api.base != bots.bots[1].bot.session.api.base
    code = await report(bale_api, BALE, 601, "سطل زباله سر کوچه شکسته")
    ticket = await Ticket.get(tracking_code=code)
    assert ticket.channel == "bale"
    assert api.sent(TG, chat_id=601) == []  # nothing leaked to the other bot
    # Bale parses Markdown by default: its sender escapes what Telegram's leaves alone.
    text = "کوچه_۱۲ و *پلاک* [۵]"
    await bots.bots[1].outbox.sender.send("601", Reply(text))
    api.add_chat(TG, 601)
    await bots.bots[0].outbox.sender.send("601", Reply(text))
    assert bale_api.sent(BALE, chat_id=601)[-1]["params"]["text"] == (
        "کوچه\\_۱۲ و \\*پلاک\\* \\[۵\\]")
    assert api.sent(TG, chat_id=601)[-1]["params"]["text"] == text


async def test_photos_are_fetched_and_oversized_files_refused_politely(
    api: FakeBotApi, media_bot: Messengers, tmp_path: Path
) -> None:
    jpeg = real_jpeg((200, 30, 30))
    mark = len(api.calls(TG))
    api.push_photo(TG, 701, jpeg, caption=None)
    await reply_with(api, TG, 701, mark, "فایل دریافت شد")
    kept = await Attachment.get(chat_id="701")
    assert kept.path and Path(kept.path).read_bytes() == jpeg
    assert Path(kept.path).parent.parent == tmp_path / "media"

    mark = len(api.calls(TG))
    voice = {"file_id": "huge-voice", "file_unique_id": "huge", "duration": 600,
             "mime_type": "audio/ogg", "file_size": 21 * 1024 * 1024}
    api.push_update(TG, {"message": api.user_message(TG, 701, voice=voice)})
    await reply_with(api, TG, 701, mark, "بزرگ‌تر از حد مجاز")
    assert await Attachment.filter(chat_id="701").count() == 1
    fetched = [c["params"].get("file_id") for c in api.calls(TG) if c["method"] == "getFile"]
    assert "huge-voice" not in fetched  # refused before any download was attempted


async def test_a_flooding_chat_is_slowed_and_others_are_not(
    api: FakeBotApi, bots: Messengers
) -> None:
    for i in range(50):
        api.push_message(TG, 801, f"سلام {i}")
    api.push_message(TG, 802, "سلام")
    await reply_with(api, TG, 802, 0, "سلام")
    await reply_with(api, TG, 801, 0, "صبر کنید")
    await settle(api)
    to_flooder = api.sent(TG, chat_id=801, method="sendMessage")
    notices = [c for c in to_flooder if "صبر کنید" in c["params"]["text"]]
    assert len(notices) == 1
    assert len(to_flooder) <= bots.flood.limit + 1
    assert len(api.sent(TG, chat_id=802, method="sendMessage")) == 1


async def test_an_album_with_a_caption_is_one_report(
    api: FakeBotApi, media_bot: Messengers, tmp_path: Path
) -> None:
    mark = len(api.calls(TG))
    api.push_photo(TG, 901, real_jpeg((10, 120, 10)),
                   caption="درخت بزرگ کوچه افتاده وسط راه", media_group_id="al1")
    api.push_photo(TG, 901, real_jpeg((20, 130, 20)), media_group_id="al1")
    api.push_photo(TG, 901, real_jpeg((30, 140, 30)), media_group_id="al1")
    await reply_with(api, TG, 901, mark, "موقعیت|کدام")
    await settle(api)
    assert not [c for c in api.sent(TG, chat_id=901) if "فایل" in
                c["params"].get("text", "")]  # no reply per photo of the album
    mark = len(api.calls(TG))
    api.push_location(TG, 901, 35.7, 51.4)
    asked = await reply_with(api, TG, 901, mark, "ثبت شود|انتخاب کنید")
    if "confirm" not in buttons(asked):
        assert buttons(asked)[0] == "svc:fallen_tree"
        mark = len(api.calls(TG))
        api.push_callback(TG, 901, buttons(asked)[0])
        await reply_with(api, TG, 901, mark, "ثبت شود")
    mark = len(api.calls(TG))
    api.push_callback(TG, 901, "confirm")
    filed = await reply_with(api, TG, 901, mark, "کد پیگیری")
    code = ascii_digits(CODE.search(filed["params"]["text"]).group(0))
    ticket = await Ticket.get(tracking_code=code)
    assert await Attachment.filter(ticket=ticket).count() == 3


async def test_a_broken_voice_note_is_refused_politely_and_the_text_kept(
    api: FakeBotApi, media_bot: Messengers, tmp_path: Path
) -> None:
    mark = len(api.calls(TG))
    api.push_voice(TG, 951, b"OggS\x00\x02 this is not really an opus stream", duration=4)
    refused = await reply_with(api, TG, 951, mark, "صوتی|فایل")
    assert "Traceback" not in refused["params"]["text"]
    assert await Attachment.filter(chat_id="951").count() == 0
    assert list((tmp_path / "media").rglob("*.*")) == []  # nothing bad kept on disk
    mark = len(api.calls(TG))
    api.push_message(TG, 951, "آسفالت کوچه ما پر از چاله شده")
    await reply_with(api, TG, 951, mark, "موقعیت|کدام")


async def test_a_photos_gps_is_the_reports_location(
    api: FakeBotApi, media_bot: Messengers, tmp_path: Path
) -> None:
    photo = jpeg_with_gps(tmp_path, 32.6539, 51.6660).read_bytes()
    mark = len(api.calls(TG))
    api.push_photo(TG, 961, photo, caption="آسفالت کوچه ما پر از چاله شده")
    asked = await reply_with(api, TG, 961, mark, "ثبت شود|کدام")
    if "confirm" not in buttons(asked):
        mark = len(api.calls(TG))
        api.push_callback(TG, 961, buttons(asked)[0])
        asked = await reply_with(api, TG, 961, mark, "ثبت شود")
    assert "موقعیت: دریافت شد" in asked["params"]["text"]  # not asked for: the photo said
    mark = len(api.calls(TG))
    api.push_callback(TG, 961, "confirm")
    filed = await reply_with(api, TG, 961, mark, "کد پیگیری")
    code = ascii_digits(CODE.search(filed["params"]["text"]).group(0))
    ticket = await Ticket.get(tracking_code=code)
    assert ticket.latitude == pytest.approx(32.6539, abs=1e-4)
    assert ticket.longitude == pytest.approx(51.6660, abs=1e-4)


async def test_evidence_photo_then_accept_and_rate_on_telegram(
        api: FakeBotApi, media_bot: Messengers, dialogue: Dialogue, tmp_path: Path) -> None:
    """The unit's photo reaches the citizen as an uploaded photo before the question; the
    citizen's taps close the ticket and rate it."""
    code = await report(api, TG, 777, "سطل زباله سر کوچه پر شده و بو میده")
    ticket = await Ticket.get(tracking_code=code)
    workflow = dialogue.workflow
    await workflow.assign(ticket, "r1_services", "staff:operator")
    await workflow.add_evidence(ticket, real_jpeg((200, 90, 20)), "done.jpg", "staff:unit",
                                tmp_path / "evidence")
    mark = len(api.calls(TG))
    await workflow.change_status(ticket, "resolved", "staff:unit", "تخلیه شد")
    await api.wait_for_sent(TG, lambda c: True, method="sendPhoto", chat_id=777, since=mark,
                            timeout=15)
    asked = await reply_with(api, TG, 777, mark, "تخلیه شد")
    assert buttons(asked) == [f"accept:{code}", f"contest:{code}"]
    order = [c["method"] for c in api.sent(TG, chat_id=777)][-2:]
    assert order == ["sendPhoto", "sendMessage"]  # the photo comes before the question

    mark = len(api.calls(TG))
    api.push_callback(TG, 777, f"accept:{code}")
    survey = await reply_with(api, TG, 777, mark, "راضی")
    assert buttons(survey) == [f"rate:{code}:{n}" for n in (1, 2, 3, 4, 5)]
    mark = len(api.calls(TG))
    api.push_callback(TG, 777, f"rate:{code}:5")
    await reply_with(api, TG, 777, mark, "سپاس")
    await ticket.refresh_from_db()
    assert (ticket.status, ticket.rating) == ("closed", 5)


async def test_voice_note_with_two_photos_files_the_right_service(
        api: FakeBotApi, media_bot: Messengers, dialogue: Dialogue, voice_note: Path,
        whisper_dir: Path) -> None:
    """A spoken report and an album of two photos, as a citizen sends them on Telegram:
    real Whisper hears it, the citizen taps the service, and one ticket holds all three."""
    from peygir.bots.transcription import TranscriptionWorker
    from peygir.media_ingest.transcribe import Transcriber

    chat = 902
    api.push_voice(TG, chat, voice_note.read_bytes(), duration=5)
    api.push_photo(TG, chat, real_jpeg((120, 80, 40)), media_group_id="album-1")
    api.push_photo(TG, chat, real_jpeg((40, 80, 120)), media_group_id="album-1")
    for _ in range(150):
        if await Attachment.filter(chat_id=str(chat)).count() == 3:
            break
        await asyncio.sleep(0.1)
    assert await Attachment.filter(chat_id=str(chat)).count() == 3

    mark = len(api.calls(TG))
    hints = dialogue.pack.hotwords  # as `peygir serve` builds its transcriber
    worker = TranscriptionWorker(dialogue, lambda: Transcriber(str(whisper_dir), hotwords=hints),
                                 on_reply=media_bot.wake)
    assert await worker.run_once()
    heard = await reply_with(api, TG, chat, mark, "متن پیام صوتی")
    assert "svc:fallen_tree" in buttons(heard), heard["params"]["text"]

    mark = len(api.calls(TG))
    api.push_callback(TG, chat, "svc:fallen_tree")
    await reply_with(api, TG, chat, mark, "موقعیت")
    mark = len(api.calls(TG))
    api.push_location(TG, chat, 34.82, 48.49)
    await reply_with(api, TG, chat, mark, "ثبت شود")
    mark = len(api.calls(TG))
    api.push_callback(TG, chat, "confirm")
    filed = await reply_with(api, TG, chat, mark, "کد پیگیری")
    found = CODE.search(filed["params"]["text"])
    assert found
    ticket = await Ticket.get(tracking_code=ascii_digits(found.group(0)))
    assert (ticket.service_code, ticket.urgent, ticket.unit_code) == (
        "fallen_tree", True, "r1_services")
    assert ticket.transcript
    kinds = sorted(await Attachment.filter(ticket=ticket).values_list("kind", flat=True))
    assert kinds == ["photo", "photo", "voice"]
