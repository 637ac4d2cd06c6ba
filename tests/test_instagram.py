"""Instagram Direct end to end: instagrapi against a fake of Instagram's private API.

The fake (tests/fakes/instagram.py) is at the HTTP level on loopback, over TLS: instagrapi's
``config.API_DOMAIN`` points at it, so instagrapi's own requests, headers, JSON handling and
error mapping all run. The dialogue and the database are the real ones.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import instagrapi.config
import pytest
from instagrapi import Client
from instagrapi.extractors import extract_direct_message
from PIL import Image

from peygir.channels.instagram.runner import InstagramBot
from peygir.channels.instagram.wire import direct_texts, item_to_incoming
from peygir.conversation.dialogue import Dialogue
from peygir.messages import texts
from peygir.messages.persian import to_persian_digits
from peygir.messages.types import Button, Reply
from peygir.ticket_store.models import Attachment, OutboxMessage, Ticket
from tests.fakes.instagram import (
    CHALLENGE,
    PLEASE_WAIT,
    SESSION_ID,
    VIEWER_PK,
    FakeInstagram,
)

THREAD = "340282366841710300949128531777654287254"
REPORT = "سطل زباله سر کوچه‌مون پر شده و بو میده"
CODE = "[۰-۹]{8}"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInstagram]:
    server = FakeInstagram(tmp_path).start()
    monkeypatch.setattr(instagrapi.config, "API_DOMAIN", server.domain)
    # requests takes the CA bundle from the environment over a session's own `verify`.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    yield server
    server.stop()


def make_client() -> Client:
    # Plain requests (instagrapi's default is curl_cffi), no pause between requests and no
    # urllib3 retries, so the tests run in moments; the protocol is unchanged.
    return Client(private_transport="requests", request_timeout=0, session_retry_total=0)


@pytest.fixture
def session_file(tmp_path: Path, fake: FakeInstagram) -> Path:
    """A saved session, as `peygir` keeps one after a successful login."""
    client = make_client()
    client.authorization_data = {"ds_user_id": VIEWER_PK, "sessionid": SESSION_ID,
                                 "should_use_header_over_cookies": True}
    path = tmp_path / "instagram-session.json"
    client.dump_settings(path)
    return path


@pytest.fixture
async def bot(dialogue: Dialogue, session_file: Path, tmp_path: Path
              ) -> AsyncIterator[InstagramBot]:
    instagram = InstagramBot(
        dialogue, username="city137", password=None, session_file=session_file,
        media_dir=tmp_path / "media", interval=0.05, jitter=0.2, max_backoff=0.3,
        client_factory=make_client,
    )
    yield instagram
    await instagram.stop()


async def turn(bot: InstagramBot) -> int:
    handled = await bot.poll_once()
    await bot.outbox.deliver_due()
    return handled


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


async def test_a_text_report_ends_with_a_tracking_code(fake: FakeInstagram, bot: InstagramBot
                                                       ) -> None:
    fake.say(THREAD, text=REPORT)
    assert await turn(bot) == 1
    asked = fake.texts_to(THREAD)[-1]
    assert texts.ASK_LOCATION[:20] in asked and f"۱. {texts.SKIP_LOCATION}" in asked
    fake.say(THREAD, text="خیابان بهار، کوچه ۴")
    await turn(bot)
    confirm = fake.texts_to(THREAD)[-1]
    assert f"۱. {texts.CONFIRM}" in confirm and f"۳. {texts.CANCEL}" in confirm
    fake.say(THREAD, text="۱")  # the numbered choice «ثبت گزارش»
    await turn(bot)
    filed = fake.texts_to(THREAD)[-1]
    ticket = await Ticket.get(channel="instagram", chat_id=THREAD)
    assert to_persian_digits(ticket.tracking_code) in filed
    assert ticket.address == "خیابان بهار، کوچه 4"
    # The same items are in the inbox on the next poll: nothing is handled or sent twice.
    sent = len(fake.sent)
    assert await turn(bot) == 0 and len(fake.sent) == sent
    assert await Ticket.all().count() == 1
    assert session_reused(fake)


def session_reused(fake: FakeInstagram) -> bool:
    """The saved session was checked once and reused, never a fresh password login."""
    return fake.requests.count("GET /api/v1/accounts/current_user/") == 1 and not fake.unknown


async def test_a_photo_and_its_text_make_one_report(fake: FakeInstagram, bot: InstagramBot
                                                    ) -> None:
    url = fake.add_media("pothole.jpg", "image/jpeg", photo_bytes())
    fake.say(THREAD, "media", media={
        "id": "31337_1", "media_type": 1,
        "image_versions2": {"candidates": [{"url": url, "width": 64, "height": 48}]},
    })
    fake.say(THREAD, text=REPORT)
    assert await turn(bot) == 2  # both in one poll, the photo first
    assert texts.ATTACHMENT_LATER in fake.texts_to(THREAD)[0]
    fake.say(THREAD, text="1")  # no address
    await turn(bot)
    fake.say(THREAD, text="1")  # confirm
    await turn(bot)
    ticket = await Ticket.get(channel="instagram")
    kept = await Attachment.filter(ticket_id=ticket.id)
    assert [a.kind for a in kept] == ["photo"]
    assert Path(kept[0].path).read_bytes()[:2] == b"\xff\xd8"
    assert await Ticket.all().count() == 1


async def test_a_message_request_is_answered_and_accepted(fake: FakeInstagram,
                                                          bot: InstagramBot) -> None:
    fake.say("777", text=REPORT, pending=True)
    assert await turn(bot) == 1
    assert fake.approved == ["777"] and fake.texts_to("777")


async def test_a_rate_limit_is_survived(fake: FakeInstagram, bot: InstagramBot,
                                        caplog: pytest.LogCaptureFixture) -> None:
    fake.say(THREAD, text=REPORT)
    fake.failures += [("inbox", PLEASE_WAIT), ("inbox", PLEASE_WAIT),
                      ("broadcast", PLEASE_WAIT)]
    bot.outbox.sender.slow_down = 0.2  # type: ignore[attr-defined]
    caplog.set_level(logging.WARNING, "peygir.channels.instagram.runner")
    await bot.start()
    await asyncio.wait_for(bot.polled.wait(), 10)
    for _ in range(100):  # the send was refused once too; the outbox tries again
        if fake.texts_to(THREAD) and not await OutboxMessage.filter(sent_at__isnull=True).count():
            break
        await asyncio.sleep(0.05)
    assert texts.ASK_LOCATION[:20] in fake.texts_to(THREAD)[0]
    assert "asked to slow down" in caplog.text
    assert fake.requests.count("GET /api/v1/direct_v2/inbox/") >= 3
    assert await OutboxMessage.filter(sent_at__isnull=True).count() == 0


async def test_a_lost_session_and_a_challenge_are_backed_off(
    fake: FakeInstagram, bot: InstagramBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "peygir.channels.instagram.runner")
    fake.failures.append(("inbox", CHALLENGE))
    fake.sessions.clear()  # Instagram forgets the session: login_required everywhere
    fake.say(THREAD, text=REPORT)
    await bot.start()
    for _ in range(100):
        if "login_required" in caplog.text or "session was refused" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert not bot.polled.is_set() and not bot._tasks[0].done()  # alive, backing off
    fake.sessions.add(SESSION_ID)  # the account owner confirmed it was them
    await asyncio.wait_for(bot.polled.wait(), 10)
    assert "wants a person to act" in caplog.text  # the challenge was logged clearly
    for _ in range(100):
        if fake.texts_to(THREAD):
            break
        await asyncio.sleep(0.05)
    assert fake.texts_to(THREAD)
    assert not fake.unknown  # no fresh password login was tried without a password


def raw_item(**fields: object) -> dict:
    return {"item_id": "29000000000000000000000000000000001", "user_id": 5001,
            "timestamp": 1_760_000_000_000_000, **fields}


def test_shared_location_and_voice_are_read_from_the_raw_item() -> None:
    place = raw_item(item_type="location",
                     location={"pk": 1, "name": "میدان", "lat": 36.3, "lng": 59.6})
    message = extract_direct_message(dict(place))
    assert not hasattr(message, "location")  # instagrapi's model drops it
    incoming = item_to_incoming("9", message, place)
    assert incoming is not None and incoming.location is not None
    assert (incoming.location.lat, incoming.location.lon) == (36.3, 59.6)
    assert incoming.dedup_key == f"instagram:9:{place['item_id']}"

    voice = raw_item(item_type="voice_media", voice_media={"media": {
        "id": "1_2", "media_type": 11,
        "audio": {"audio_src": "https://cdn.example/v.m4a", "duration": 4200}}})
    incoming = item_to_incoming("9", extract_direct_message(dict(voice)), voice)
    assert incoming is not None
    assert [(a.kind, a.file_ref, a.duration) for a in incoming.attachments] == [
        ("voice", "https://cdn.example/v.m4a", 4.2)]

    video = raw_item(item_type="media", media={"id": "1_3", "media_type": 2, "video_versions": [
        {"url": "https://cdn.example/v.mp4", "width": 480, "height": 640}]})
    incoming = item_to_incoming("9", extract_direct_message(dict(video)), video)
    assert incoming is not None and incoming.attachments[0].kind == "video"

    reel = raw_item(item_type="clip")
    incoming = item_to_incoming("9", extract_direct_message(dict(reel)), reel)
    assert incoming is not None and incoming.unsupported == "other"


def test_replies_become_numbered_texts_within_directs_limit() -> None:
    reply = Reply("ب" * 1500, buttons=((Button("بله", "confirm"),),))
    pieces = direct_texts(reply)
    assert len(pieces) == 2 and all(len(p) <= 1000 for p in pieces)
    assert pieces[-1].endswith("۱. بله")


async def test_more_items_than_one_poll_shows_are_all_handled(
    fake: FakeInstagram, bot: InstagramBot
) -> None:
    """A citizen wrote 45 items between two polls: the inbox shows the newest 20, the rest
    are fetched page by page from the thread, oldest first, each handled once."""
    fake.say(THREAD, text=REPORT)  # the oldest: a report, which must not be lost
    for n in range(44):
        fake.say(THREAD, text=f"سلام {n}")
    assert await turn(bot) == 45
    assert fake.pages == [THREAD, THREAD]  # two pages of 20 older items after the inbox's 20
    replies = fake.texts_to(THREAD)
    assert texts.ASK_LOCATION[:20] in replies[0]  # the report was answered first
    # The next poll shows our replies as the newest items: nothing is fetched or sent again.
    sent = len(fake.sent)
    assert await turn(bot) == 0 and len(fake.sent) == sent and len(fake.pages) == 2


async def test_older_pages_stop_at_our_own_reply(fake: FakeInstagram, bot: InstagramBot
                                                 ) -> None:
    fake.say(THREAD, text=REPORT)
    assert await turn(bot) == 1  # answered: our reply now stands in the thread
    for n in range(30):
        fake.say(THREAD, text=f"سلام {n}")
    assert await turn(bot) == 30
    assert fake.pages == [THREAD]  # one page reached our reply; older ones were not asked for


async def test_a_silent_item_at_the_edge_says_nothing_either_way(
    fake: FakeInstagram, bot: InstagramBot
) -> None:
    """An item we never answer (an action log) neither proves nor disproves a gap: the edge
    is the oldest item we would answer, or one of ours."""
    fake.say(THREAD, text=REPORT)
    assert await turn(bot) == 1
    fake.say(THREAD, "action_log", action_log={"description": "citizen liked a message"})
    fake.say(THREAD, text="سلام")
    assert await turn(bot) == 1
    assert fake.pages == []  # our reply was in view: nothing older was asked for
    fake.say(THREAD, "action_log", action_log={"description": "citizen liked a message"})
    for n in range(19):
        fake.say(THREAD, text=f"سلام {n}")
    assert await turn(bot) == 19  # the first text in view is new: one page back to our reply
    assert fake.pages == [THREAD]
    assert await turn(bot) == 0 and fake.pages == [THREAD]  # and not again on the next poll


async def test_evidence_photos_go_as_links_on_the_public_address(
    fake: FakeInstagram, bot: InstagramBot, tmp_path: Path
) -> None:
    from peygir.messages.types import PHOTO_LINKS
    from peygir.ticket_store import store

    fake.thread(THREAD)
    photo = tmp_path / ("ab" * 32 + ".jpg")
    photo.write_bytes(photo_bytes())
    reply = Reply("درخواست شما انجام شد.", photos=(str(photo),))
    await store.enqueue("instagram", THREAD, reply)
    await bot.outbox.deliver_due()
    assert fake.texts_to(THREAD) == ["درخواست شما انجام شد."]  # no public address: text only
    bot.public_url = "https://137.city.example"
    await store.enqueue("instagram", THREAD, reply)
    await bot.outbox.deliver_due()
    sent = fake.texts_to(THREAD)[-1]
    assert PHOTO_LINKS in sent and f"https://137.city.example/media/{photo.name}" in sent
