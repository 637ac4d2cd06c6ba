"""The fake Bot API server (tests/fakes/botapi.py) driven by the real aiogram over loopback HTTP.

Each test states the documented Bot API behaviour it checks; aiogram's own request encoding
(multipart/urlencoded forms, JSON-serialized reply_markup, attach:// uploads) and its error
mapping (TelegramRetryAfter, TelegramConflictError, ...) are exercised for real.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import ClientSession, web

from tests.fakes import Call, FakeBotApi, parse_html, parse_markdown, parse_markdown_v2
from tests.fakes.botapi import BotApiError
from tests.support import free_port

TOKEN = "123456:TEST-token"
OTHER_TOKEN = "777:OTHER"
CITIZEN = 42

# The smallest valid PNG: 1x1, one transparent pixel.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs]
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(tokens={TOKEN, OTHER_TOKEN}) as fake:
        yield fake


def make_bot(api: FakeBotApi, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    b = make_bot(api)
    yield b
    await b.session.close()


# ------------------------------------------------------------------------------ basics


async def test_get_me_returns_the_bot_user(bot: Bot) -> None:
    # [api] getMe: "Returns basic information about the bot in form of a User object."
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot is True
    assert me.username == "test123456_bot"


async def test_unknown_token_is_unauthorized(api: FakeBotApi) -> None:
    stranger = make_bot(api, "999:NOPE")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await stranger.get_me()
    finally:
        await stranger.session.close()


class _NoSuchMethod(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "noSuchMethod"


async def test_unknown_method_is_not_found(bot: Bot) -> None:
    with pytest.raises(TelegramNotFound, match="Not Found"):
        await bot(_NoSuchMethod())


async def test_plain_http_requests_in_every_documented_form(api: FakeBotApi) -> None:
    # [api] "Making requests": GET and POST; query string, urlencoded, JSON or multipart;
    # method names are case-insensitive; the answer is {"ok": ..., "result"/"description"}.
    api.push_message(TOKEN, CITIZEN, "سلام")
    base = f"{api.base_url}/bot{TOKEN}"
    markup = {"inline_keyboard": [[{"text": "بله", "callback_data": "yes"}]]}
    async with ClientSession() as http:
        async with http.get(f"{base}/GETME") as resp:
            assert resp.status == 200
            assert (await resp.json())["result"]["username"] == "test123456_bot"
        async with http.get(f"{base}/sendMessage", params={"chat_id": "42", "text": "a"}) as resp:
            assert (await resp.json())["result"]["text"] == "a"
        body = {"chat_id": CITIZEN, "text": "b", "reply_markup": markup}
        async with http.post(f"{base}/sendmessage", json=body) as resp:
            assert (await resp.json())["result"]["reply_markup"] == markup
        form = {"chat_id": "42", "text": "c", "reply_markup": json.dumps(markup)}
        async with http.post(f"{base}/sendMessage", data=form) as resp:
            assert (await resp.json())["ok"] is True
        async with http.post(f"{api.base_url}/bot1:X/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{base}/fooBar") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
    sent = api.sent(TOKEN, chat_id=CITIZEN)
    assert [c["params"]["text"] for c in sent] == ["a", "b", "c"]
    assert sent[1]["params"]["reply_markup"] == markup == sent[2]["params"]["reply_markup"]


# ------------------------------------------------------------------------------ sending


async def test_send_message_records_what_aiogram_sent(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(TOKEN, CITIZEN, "سلام")  # the citizen wrote first: message_id 1
    markup = keyboard(("تأیید", "confirm"), ("لغو", "cancel"))
    message = await bot.send_message(CITIZEN, "درخواست شما ثبت شود؟", reply_markup=markup)

    # [api] sendMessage: "On success, the sent Message is returned."
    assert message.message_id == 2  # ids count up per chat, both sides together
    assert message.chat.id == CITIZEN and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.text == "درخواست شما ثبت شود؟"
    assert message.reply_markup is not None
    assert message.reply_markup.model_dump(exclude_none=True) == markup.model_dump(
        exclude_none=True
    )

    [call] = api.sent(TOKEN, chat_id=CITIZEN)
    assert call["method"] == "sendMessage"
    assert call["message_id"] == 2
    # aiogram serializes reply_markup to a JSON string; the fake decodes it back.
    assert call["params"] == {
        "chat_id": CITIZEN,
        "text": "درخواست شما ثبت شود؟",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "تأیید", "callback_data": "confirm"}],
                [{"text": "لغو", "callback_data": "cancel"}],
            ]
        },
    }
    assert [m["message_id"] for m in api.messages(TOKEN, CITIZEN)] == [1, 2]


async def test_text_limits(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    # [api] sendMessage text: "1-4096 characters after entities parsing".
    assert (await bot.send_message(CITIZEN, "ب" * 4096)).text == "ب" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CITIZEN, "ب" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CITIZEN, "")
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CITIZEN, "<b> </b>", parse_mode="HTML")
    # [api] sendPhoto caption: 0-1024 characters after entities parsing.
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(CITIZEN, BufferedInputFile(PNG_1X1, "p.png"), caption="x" * 1025)
    failed = [c for c in api.calls(TOKEN) if not c["ok"]]
    assert [c["error_code"] for c in failed] == [400, 400, 400, 400]
    assert len(api.sent(TOKEN)) == 1  # failed calls are not "sent"


async def test_html_parse_mode(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    # [api] "HTML style": the returned Message has the plain text plus entities, offsets in
    # UTF-16 code units.
    message = await bot.send_message(
        CITIZEN,
        '🏛 <b>پیگیری</b> &lt;137&gt; <a href="https://example.org/t/9">لینک</a>',
        parse_mode="HTML",
    )
    assert message.text == "🏛 پیگیری <137> لینک"
    assert [(e.type, e.offset, e.length, e.url) for e in message.entities or []] == [
        ("bold", 3, 6, None),
        ("text_link", 16, 4, "https://example.org/t/9"),
    ]
    with pytest.raises(TelegramBadRequest) as unbalanced:
        await bot.send_message(CITIZEN, "<b>ثبت شد", parse_mode="HTML")
    assert unbalanced.value.message == (
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""
    )
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "div" at byte offset 0'):
        await bot.send_message(CITIZEN, "<div>x</div>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Unmatched end tag at byte offset 4"):
        await bot.send_message(CITIZEN, "<b>x</i>", parse_mode="HTML")
    # Without parse_mode the same text is sent verbatim.
    assert (await bot.send_message(CITIZEN, "<b>ثبت شد")).text == "<b>ثبت شد"
    # [api] "MarkdownV2 style": reserved characters must be escaped, a classic bot bug.
    with pytest.raises(TelegramBadRequest, match=re.escape("Character '.' is reserved")):
        await bot.send_message(CITIZEN, "*شماره* پیگیری: 137.42", parse_mode="MarkdownV2")
    ok = await bot.send_message(CITIZEN, "*شماره* پیگیری: 137\\.42", parse_mode="MarkdownV2")
    assert ok.text == "شماره پیگیری: 137.42"
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(CITIZEN, "x", parse_mode="Markdown3")


@pytest.mark.parametrize(
    ("html", "error"),
    [  # [tdlib] test/message_entities.cpp, parse_html cases
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        (
            "🏟 🏟&lt;<i    aba>",
            'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13',
        ),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
    ],
)
def test_html_errors_match_tdlib(html: str, error: str) -> None:
    with pytest.raises(BotApiError) as e:
        parse_html(html)
    assert e.value.description == f"Bad Request: can't parse entities: {error}"


def test_html_parsing_matches_tdlib() -> None:
    assert parse_html("&lt;&gt;&amp;&quot;&laquo;&#12345678;") == ('<>&"&laquo;&#12345678;', [])
    assert parse_html("🏟 🏟<i>🏟 &lt🏟</i>") == (
        "🏟 🏟🏟 <🏟",
        [{"type": "italic", "offset": 5, "length": 6}],
    )
    assert parse_html("🏟 🏟&lt;<i    aba  =  '&lt;&gt;&quot;'>a</>")[1] == [
        {"type": "italic", "offset": 6, "length": 1}
    ]
    assert parse_html('<pre><code class="language-python">x</code></pre>')[1] == [
        {"type": "pre", "offset": 0, "length": 1, "language": "python"}
    ]
    assert parse_html("<pre><code>x</code></pre>")[1] == [
        {"type": "pre", "offset": 0, "length": 1},
        {"type": "code", "offset": 0, "length": 1},
    ]
    assert parse_html("<a href=telegram.org>x</a> <a>t.me/peygir</a>")[1] == [
        {"type": "text_link", "offset": 0, "length": 1, "url": "http://telegram.org/"},
        {"type": "text_link", "offset": 2, "length": 11, "url": "http://t.me/peygir"},
    ]


@pytest.mark.parametrize(
    ("markdown", "error"),
    [  # [tdlib] test/message_entities.cpp, parse_markdown (MarkdownV2) cases
        ("🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
        ("🏟 🏟_abac * asd ", "Can't find end of Bold entity at byte offset 15"),
        ("🏟 🏟_abac * asd _", "Can't find end of Italic entity at byte offset 21"),
        ("🏟 🏟`", "Can't find end of Code entity at byte offset 9"),
        ("🏟 🏟```", "Can't find end of Pre entity at byte offset 9"),
        ("🏟 🏟```a", "Can't find end of Pre entity at byte offset 9"),
        ("🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"),
        ("🏟 🏟__🏟 🏟_", "Can't find end of Italic entity at byte offset 20"),
        ("🏟 🏟_🏟 🏟__", "Can't find end of Underline entity at byte offset 19"),
        ("🏟 🏟```🏟 🏟`", "Can't find end of Code entity at byte offset 21"),
        ("🏟 🏟```🏟 🏟_", "Can't find end of PreCode entity at byte offset 9"),
        ("[telegram\\.org](asd\\)", "Can't find end of a URL at byte offset 16"),
        ("🏟 🏟__", "Can't find end of Underline entity at byte offset 9"),
        *[
            (c, f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
            for c in "]()#+-=|{}.!"
        ],
    ],
)
def test_markdown_v2_errors_match_tdlib(markdown: str, error: str) -> None:
    with pytest.raises(BotApiError) as e:
        parse_markdown_v2(markdown)
    assert e.value.description == f"Bad Request: can't parse entities: {error}"


def test_markdown_parsing_matches_tdlib() -> None:
    assert parse_markdown_v2("🏟 🏟_abac \\* asd _") == (
        "🏟 🏟abac * asd ",
        [{"type": "italic", "offset": 5, "length": 11}],
    )
    assert parse_markdown_v2("🏟 \\.🏟_🏟\\. 🏟_") == (
        "🏟 .🏟🏟. 🏟",
        [{"type": "italic", "offset": 6, "length": 6}],
    )
    assert parse_markdown_v2("🏟 🏟```🏟 🏟```") == (
        "🏟 🏟 🏟",
        [{"type": "pre", "offset": 5, "length": 3, "language": "🏟"}],
    )
    assert parse_markdown_v2("[telegram\\.org](telegram.dog)")[1] == [
        {"type": "text_link", "offset": 0, "length": 12, "url": "http://telegram.dog/"}
    ]
    assert parse_markdown("*bold* _it_ [t](https://t.me/x) `c`") == (
        "bold it t c",
        [
            {"type": "bold", "offset": 0, "length": 4},
            {"type": "italic", "offset": 5, "length": 2},
            {"type": "text_link", "offset": 8, "length": 1, "url": "https://t.me/x"},
            {"type": "code", "offset": 10, "length": 1},
        ],
    )
    with pytest.raises(BotApiError, match="Can't find end of the entity starting at byte offset 4"):
        parse_markdown("abc *def")


async def test_inline_keyboard_validation(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    # [api] InlineKeyboardButton.callback_data: 1-64 bytes.
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CITIZEN, "x", reply_markup=keyboard(("a", "ث" * 33)))
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(
            CITIZEN,
            "x",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a")]]),
        )


async def test_unknown_and_blocked_chats(api: FakeBotApi, bot: Bot) -> None:
    # A user who never wrote to the bot cannot be messaged.
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(CITIZEN, "سلام")
    api.push_message(TOKEN, CITIZEN, "سلام")
    await bot.send_message(CITIZEN, "سلام")
    api.block(TOKEN, CITIZEN)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CITIZEN, "سلام")


async def test_edit_delete_and_callback_answers(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(TOKEN, CITIZEN, "شکایت دارم")
    sent = await bot.send_message(CITIZEN, "ثبت شود؟", reply_markup=keyboard(("بله", "yes")))
    update = api.push_callback(TOKEN, CITIZEN, "yes")
    query = update["callback_query"]
    assert query["message"]["message_id"] == sent.message_id
    assert query["from"] == {
        "id": CITIZEN,
        "is_bot": False,
        "first_name": "شهروند",
        "language_code": "fa",
    }

    # [api] answerCallbackQuery: a query is answered once.
    assert await bot.answer_callback_query(query["id"], text="ثبت شد") is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    assert api.sent(TOKEN, method="answerCallbackQuery")[0]["chat_id"] == CITIZEN

    # editMessageText without reply_markup drops the inline keyboard.
    edited = await bot.edit_message_text("ثبت شد ✅", chat_id=CITIZEN, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "ثبت شد ✅" and edited.reply_markup is None and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("ثبت شد ✅", chat_id=CITIZEN, message_id=sent.message_id)
    again = await bot.edit_message_reply_markup(
        chat_id=CITIZEN, message_id=sent.message_id, reply_markup=keyboard(("پیگیری", "track"))
    )
    assert isinstance(again, Message) and again.reply_markup is not None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CITIZEN, message_id=99)

    assert await bot.delete_message(CITIZEN, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CITIZEN, sent.message_id)
    assert [m["text"] for m in api.messages(TOKEN, CITIZEN)] == ["شکایت دارم"]


async def test_chat_action_and_commands(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    assert await bot.send_chat_action(CITIZEN, "typing") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action in request"):
        await bot.send_chat_action(CITIZEN, "dancing")
    commands = [
        BotCommand(command="start", description="شروع"),
        BotCommand(command="help", description="راهنما"),
    ]
    assert await bot.set_my_commands(commands) is True
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert api.commands(TOKEN)[1] == {"command": "help", "description": "راهنما"}
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Name", description="x")])


# ------------------------------------------------------------------------------ files


async def test_pushed_photo_can_be_fetched_and_downloaded(api: FakeBotApi, bot: Bot) -> None:
    photo_bytes = PNG_1X1 + b"\x00" * 100
    update = api.push_photo(TOKEN, CITIZEN, photo_bytes, caption="چاله", width=1600, height=1200)
    sizes = update["message"]["photo"]
    # [api] Message.photo: available sizes, the largest last.
    assert [s["width"] for s in sizes] == [90, 320, 800, 1280, 1600]
    assert update["message"]["caption"] == "چاله"

    file = await bot.get_file(sizes[-1]["file_id"])
    assert file.file_size == len(photo_bytes)
    assert file.file_path is not None and file.file_path.startswith("photos/")
    # [api] getFile: download from /file/bot<token>/<file_path>.
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == photo_bytes
    again = await bot.download(sizes[0]["file_id"])
    assert again is not None and again.read() == photo_bytes

    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("no-such-file")
    other = make_bot(api, OTHER_TOKEN)  # file ids belong to one bot
    try:
        with pytest.raises(TelegramBadRequest, match="invalid file_id"):
            await other.get_file(sizes[-1]["file_id"])
    finally:
        await other.session.close()


async def test_voice_location_and_contact_updates(api: FakeBotApi, bot: Bot) -> None:
    api.push_voice(TOKEN, CITIZEN, b"OggS-voice", duration=3)
    api.push_location(TOKEN, CITIZEN, 35.7, 51.4)
    api.push_contact(TOKEN, CITIZEN, "+989121234567")
    voice, location, contact = [u.message for u in await bot.get_updates()]
    assert voice is not None and voice.voice is not None and voice.voice.duration == 3
    file = await bot.get_file(voice.voice.file_id)
    assert file.file_path is not None and file.file_path.endswith(".oga")
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"OggS-voice"
    assert location is not None and location.location is not None
    assert (location.location.latitude, location.location.longitude) == (35.7, 51.4)
    assert contact is not None and contact.contact is not None
    assert contact.contact.user_id == CITIZEN


async def test_send_photo_upload_then_resend_by_file_id(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    first = await bot.send_photo(
        CITIZEN, BufferedInputFile(PNG_1X1, "map.png"), caption="<b>محل</b>", parse_mode="HTML"
    )
    assert first.photo is not None and first.caption == "محل"
    [call] = api.sent(TOKEN)
    # aiogram uploads as multipart with photo="attach://<random>"; the fake resolves it.
    assert call["params"]["photo"].data == PNG_1X1
    assert call["params"]["photo"].filename == "map.png"
    second = await bot.send_photo(CITIZEN, first.photo[-1].file_id)
    assert second.photo is not None and second.photo[-1].file_id == first.photo[-1].file_id
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(CITIZEN, BufferedInputFile(b"not an image", "x.jpg"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(CITIZEN, "AgACAgIAAxkBAAI-unknown")


# ------------------------------------------------------------------------------ getUpdates


async def test_get_updates_offset_semantics(api: FakeBotApi, bot: Bot) -> None:
    first = api.push_message(TOKEN, CITIZEN, "یک")["update_id"]
    second = api.push_message(TOKEN, CITIZEN, "دو")["update_id"]
    assert second == first + 1

    # [api] getUpdates: "By default, updates starting with the earliest unconfirmed update are
    # returned. An update is considered confirmed as soon as getUpdates is called with an offset
    # higher than its update_id."
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]  # unconfirmed
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert [u.update_id for u in await bot.get_updates()] == [second]  # `first` is forgotten
    assert [u.update_id for u in await bot.get_updates(limit=1, offset=0)] == [second]
    assert await bot.get_updates(offset=second + 1) == []
    assert await bot.get_updates() == []
    assert api.pending(TOKEN) == []

    # "The negative offset can be specified to retrieve updates starting from -offset update
    # from the end of the updates queue. All previous updates will be forgotten."
    ids = [api.push_message(TOKEN, CITIZEN, str(n))["update_id"] for n in range(3)]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [ids[-1]]
    assert [u["update_id"] for u in api.pending(TOKEN)] == [ids[-1]]


async def test_long_poll_returns_when_an_update_arrives(api: FakeBotApi, bot: Bot) -> None:
    # [api] getUpdates timeout: "Timeout in seconds for long polling".
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.3)
    assert not poll.done()
    pushed = api.push_message(TOKEN, CITIZEN, "فوری")
    updates = await asyncio.wait_for(poll, 5)
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    assert time.monotonic() - started < 5


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 5


async def test_a_second_long_poll_terminates_the_first(api: FakeBotApi, bot: Bot) -> None:
    # [server] abort_long_poll(): two pollers on one token - the older gets 409.
    second_bot = make_bot(api)
    try:
        first = asyncio.create_task(bot.get_updates(timeout=20))
        await asyncio.sleep(0.3)
        second = asyncio.create_task(second_bot.get_updates(timeout=20))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 5)
        api.push_message(TOKEN, CITIZEN, "x")
        assert len(await asyncio.wait_for(second, 5)) == 1
    finally:
        await second_bot.session.close()


async def test_redeliver_hands_an_update_out_again(api: FakeBotApi, bot: Bot) -> None:
    update_id = api.push_message(TOKEN, CITIZEN, "تکراری")["update_id"]
    assert len(await bot.get_updates()) == 1
    assert await bot.get_updates(offset=update_id + 1) == []
    api.redeliver(TOKEN, update_id)
    again = await bot.get_updates(offset=update_id + 1)
    assert [(u.update_id, u.message and u.message.text) for u in again] == [(update_id, "تکراری")]
    assert await bot.get_updates(offset=update_id + 1) == []


async def test_allowed_updates_filter_new_updates(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(TOKEN, CITIZEN, "سلام")
    await bot.send_message(CITIZEN, "؟", reply_markup=keyboard(("بله", "yes")))
    # [api] allowed_updates: only these types are received from now on ("previous setting"
    # is kept when the parameter is absent).
    await bot.get_updates(offset=-1, allowed_updates=["message"])
    await bot.get_updates(offset=api.pending(TOKEN)[-1]["update_id"] + 1)
    dropped = api.push_callback(TOKEN, CITIZEN, "yes")
    assert "update_id" not in dropped and api.dropped(TOKEN)
    assert await bot.get_updates() == []
    await bot.get_updates(allowed_updates=[])  # an empty list restores the default set
    api.push_callback(TOKEN, CITIZEN, "yes")
    [update] = await bot.get_updates()
    assert update.callback_query is not None and update.callback_query.data == "yes"


async def test_fail_next_429_raises_retry_after(api: FakeBotApi, bot: Bot) -> None:
    api.add_chat(TOKEN, CITIZEN)
    api.fail_next(TOKEN, "sendMessage", 429, retry_after=1)
    # [api] ResponseParameters.retry_after: "the number of seconds left to wait".
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(CITIZEN, "پیام")
    assert error.value.retry_after == 1
    assert "Too Many Requests: retry after 1" in error.value.message
    await bot.send_message(CITIZEN, "پیام")  # only the next call fails
    assert [c["ok"] for c in api.calls(TOKEN)] == [False, True]
    assert len(api.sent(TOKEN)) == 1


async def test_fail_next_answers_like_telegram_over_http(api: FakeBotApi) -> None:
    api.fail_next(TOKEN, "getMe", 429, retry_after=7)
    async with ClientSession() as http, http.post(f"{api.base_url}/bot{TOKEN}/getMe") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "7"
        assert await resp.json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }


# ------------------------------------------------------------------------------ webhooks


async def test_webhook_blocks_get_updates(api: FakeBotApi, bot: Bot) -> None:
    api.push_message(TOKEN, CITIZEN, "در صف")
    assert await bot.set_webhook("https://peygir.example/tg/hook", secret_token="s3cr3t_X") is True
    info = api.webhook(TOKEN)
    assert info is not None
    assert info["url"] == "https://peygir.example/tg/hook"
    assert info["secret_token"] == "s3cr3t_X"
    assert info["pending_update_count"] == 1  # a non-loopback webhook is never called

    # [api] getUpdates "will not work if an outgoing webhook is set up".
    with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook"):
        await bot.get_updates()
    web_info = await bot.get_webhook_info()
    assert web_info.url == "https://peygir.example/tg/hook" and web_info.pending_update_count == 1

    assert await bot.delete_webhook() is True
    assert api.webhook(TOKEN) is None
    assert len(await bot.get_updates()) == 1


async def test_set_webhook_is_limited_to_once_a_second(bot: Bot) -> None:
    # [server] process_set_webhook_query(): a second setWebhook with a URL within a second
    # answers 429 retry_after 1.
    assert await bot.set_webhook("https://peygir.example/a") is True
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.set_webhook("https://peygir.example/b")
    assert error.value.retry_after == 1


@pytest.mark.parametrize(
    ("url", "secret", "error"),
    [
        ("http://peygir.example/hook", None, "An HTTPS URL must be provided for webhook"),
        ("https://peygir.example:8080/hook", None, "only on ports 80, 88, 443 or 8443"),
        ("https://peygir.example/hook", "no spaces", "secret token contains unallowed characters"),
    ],
)
async def test_set_webhook_validation(bot: Bot, url: str, secret: str | None, error: str) -> None:
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.set_webhook(url, secret_token=secret)


async def test_set_webhook_ends_a_waiting_long_poll(api: FakeBotApi, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await asyncio.sleep(0.3)
    await bot.set_webhook("https://peygir.example/hook")
    with pytest.raises(TelegramConflictError, match="terminated by setWebhook request"):
        await asyncio.wait_for(poll, 5)




async def test_webhook_delivery_to_an_aiogram_webhook(api: FakeBotApi, bot: Bot) -> None:
    # [api] setWebhook: updates are POSTed as JSON with X-Telegram-Bot-Api-Secret-Token;
    # "Making requests when getting updates": the reply may itself be a method call.
    router = Router()

    @router.message(F.text)
    async def reply_in_response(message: Message) -> Any:
        return message.answer(f"دریافت شد: {message.text}")  # returned, not awaited

    dp = Dispatcher()
    dp.include_router(router)
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="hook_secret", handle_in_background=False).register(
        app, path="/hook"
    )
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="hook_secret")
        api.push_message(TOKEN, CITIZEN, "سلام")
        call = await api.wait_for_sent(TOKEN, method="sendMessage", timeout=5)
        assert call["params"]["text"] == "دریافت شد: سلام"
        assert call["via_webhook_reply"] is True
        assert api.pending(TOKEN) == []

        # A receiver that rejects the secret leaves the update pending and the error visible.
        await asyncio.sleep(1.0)  # [server] at most one setWebhook with a URL per second
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="wrong")
        api.push_message(TOKEN, CITIZEN, "دوباره")
        for _ in range(50):
            info = await bot.get_webhook_info()
            if info.last_error_message:
                break
            await asyncio.sleep(0.1)
        assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
        assert info.pending_update_count == 1
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


# ------------------------------------------------------------------------------ Dispatcher


async def test_dispatcher_polling_end_to_end(api: FakeBotApi, bot: Bot) -> None:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"پژواک: {message.text}", reply_markup=keyboard(("تأیید", "ok")))

    @router.callback_query(F.data == "ok")
    async def confirm(callback: CallbackQuery) -> None:
        await callback.answer("ثبت شد")
        assert isinstance(callback.message, Message)
        await callback.message.edit_text("تأیید شد")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, polling_timeout=5, close_bot_session=False)
    )
    try:
        api.push_message(TOKEN, CITIZEN, "چراغ کوچه خاموش است")
        reply = await api.wait_for_sent(
            TOKEN, lambda c: c["params"].get("text", "").startswith("پژواک"), chat_id=CITIZEN
        )
        assert reply["params"]["text"] == "پژواک: چراغ کوچه خاموش است"

        api.push_callback(TOKEN, CITIZEN, "ok")
        edit = await api.wait_for_sent(TOKEN, method="editMessageText")
        assert edit["message_id"] == reply["message_id"]
        answer = api.sent(TOKEN, method="answerCallbackQuery")
        assert answer[0]["params"]["text"] == "ثبت شد"

        # The dispatcher confirms what it handled: nothing is left pending.
        for _ in range(50):
            if not api.pending(TOKEN):
                break
            await asyncio.sleep(0.1)
        assert api.pending(TOKEN) == []
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 10)
    methods = [c["method"] for c in api.calls(TOKEN)]
    assert methods[0] == "getMe"  # aiogram identifies the bot before polling
    assert methods[1:] == ["sendMessage", "answerCallbackQuery", "editMessageText"]


async def test_close_answers_a_waiting_poll_promptly(bot: Bot) -> None:
    api = FakeBotApi(tokens={TOKEN})
    await api.start()
    other = make_bot(api)
    try:
        poll = asyncio.create_task(other.get_updates(timeout=30))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await api.close()
        assert await asyncio.wait_for(poll, 5) == []
        assert time.monotonic() - started < 5
    finally:
        await other.session.close()


def test_call_record_shape() -> None:
    assert set(Call.__annotations__) == {
        "seq",
        "method",
        "params",
        "chat_id",
        "message_id",
        "ok",
        "result",
        "error_code",
        "description",
        "via_webhook_reply",
        "at",
    }
