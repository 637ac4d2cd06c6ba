"""A faithful fake of the Telegram Bot API HTTP server, served on 127.0.0.1 for tests.

The real aiogram stack (``Bot`` + ``Dispatcher``) talks to it over HTTP through
``TelegramAPIServer.from_base(api.base_url)``, so a test exercises the same request encoding,
response decoding, error mapping and polling loop that run in production.

Sources mirrored (quoted in comments as [api], [server] or [tdlib]):

* [api]    https://core.telegram.org/bots/api - "Making requests", getUpdates, setWebhook,
           getFile, ResponseParameters, Update, Message, formatting options.
* [server] tdlib/telegram-bot-api, telegram-bot-api/Client.cpp and WebhookActor.cpp - the open
           source Bot API server: exact error descriptions, argument parsing (lenient integers,
           clamped limits, "true"/"yes"/"1" booleans), long-poll conflicts, webhook replies.
* [tdlib]  tdlib/td, td/telegram/MessageEntity.cpp (parse_html, parse_markdown,
           parse_markdown_v2) and test/message_entities.cpp - the parse_mode grammars and their
           error texts.

Deliberate deviations, all for tests' sake:

* No flood control beyond setWebhook's once-a-second rule and what ``fail_next`` injects; no
  3 s delay before repeated 409s; repeated short polls are not stretched to 3 s.
* ``setWebhook`` also accepts ``http://`` URLs and any port on loopback hosts (the local-mode
  server does the same), and the fake only ever connects to loopback: a webhook on any other
  host is stored but never called.
* Photo thumbnails are not really resized: every PhotoSize serves the uploaded bytes.
* text_link URLs are checked and normalized only roughly (tdlib's LinkManager is not ported),
  and tg://user links stay text_link instead of becoming text_mention.
* Files fetched "by URL" are not downloaded; they are registered with empty content.
* ``redeliver`` hands an update out again even though its update_id is below the offset.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email
import email.policy
import json
import re
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, web

__all__ = [
    "BotApiError",
    "Call",
    "FakeBotApi",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
]

CITIZEN_NAME = "شهروند"

# [api] Update: every optional field name is an update type. [server] DEFAULT_ALLOWED_UPDATE_TYPES
# is all of them except chat_member, message_reaction and message_reaction_count.
UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
)  # fmt: skip
DEFAULT_ALLOWED_UPDATES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}

# [server] Client.h: LONG_POLL_MAX_TIMEOUT = 50; getUpdates limit is clamped to 1..100.
LONG_POLL_MAX_TIMEOUT = 50
# [api] sendMessage text: 1-4096 characters after entities parsing; captions 0-1024.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
# [api] "Making requests": bots may upload up to 50 MB.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# [server] get_chat_action(): the accepted values of sendChatAction's "action".
CHAT_ACTIONS = frozenset(
    {
        "cancel", "typing", "record_video", "upload_video", "record_audio", "record_voice",
        "upload_audio", "upload_voice", "upload_photo", "upload_document", "choose_sticker",
        "pick_up_location", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip

# [server] WebhookActor: a method in a webhook reply is executed unless it is one of these or
# starts with "get".
_WEBHOOK_REPLY_IGNORED = frozenset({"deletewebhook", "setwebhook", "close", "logout"})

# Calls that only read state; they stay out of ``sent()`` (``calls()`` still has them).
_READ_METHODS = frozenset({"getMe", "getFile", "getWebhookInfo", "getMyCommands"})

# How parameters are decoded for ``Call.params``. [api] "Making requests": complex parameters
# are JSON-serialized strings; everything else arrives as text.
_JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
        "link_preview_options", "reply_parameters", "media", "results", "menu_button",
        "explanation_entities", "options", "message_ids",
    }
)  # fmt: skip
_INT_FIELDS = frozenset(
    {
        "message_id", "offset", "limit", "timeout", "duration", "width", "height",
        "max_connections", "cache_time", "reply_to_message_id", "message_thread_id",
        "live_period", "heading", "proximity_alert_radius", "user_id",
    }
)  # fmt: skip
_FLOAT_FIELDS = frozenset({"latitude", "longitude", "horizontal_accuracy"})
_BOOL_FIELDS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "show_caption_above_media", "allow_paid_broadcast", "disable_content_type_detection",
        "supports_streaming",
    }
)  # fmt: skip
_CHAT_ID_FIELDS = frozenset({"chat_id", "from_chat_id"})
_INT_RE = re.compile(r"-?\d+")


# --------------------------------------------------------------------------------------------
# Errors, uploads, recorded calls


class BotApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description", "parameters"}``."""

    def __init__(
        self, error_code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(message: str) -> BotApiError:
    # [server] fail_query_with_error(): "Bad Request: " + the message with its first letter
    # lowered, unless it is an upper-case code such as BUTTON_DATA_INVALID.
    if len(message) >= 2 and (message[1] == "_" or message[1].isupper()):
        return BotApiError(400, f"Bad Request: {message}")
    return BotApiError(400, f"Bad Request: {message[:1].lower()}{message[1:]}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request (sent directly or via ``attach://name``)."""

    filename: str | None
    content_type: str | None
    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


class Call(TypedDict):
    """One Bot API request the bot made, as the fake understood it."""

    seq: int  # position in the token's call log, from 0
    method: str  # canonical name, e.g. "sendMessage" (the URL may use any letter case)
    params: dict[str, Any]  # decoded: JSON fields parsed, integers/booleans typed, uploads
    chat_id: int | str | None  # the chat the call acted on, when there is one
    message_id: int | None  # the message it created or changed, when there is one
    ok: bool
    result: Any  # the "result" answered, or None on error
    error_code: int | None
    description: str | None
    via_webhook_reply: bool  # the method came in the body of a webhook response
    at: float  # time.time() when it was answered


@dataclass
class _Failure:
    error: BotApiError
    times: int


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes = field(repr=False)
    mime_type: str | None = None
    file_name: str | None = None
    source_url: str | None = None

    def as_file(self) -> dict[str, Any]:
        # [api] File: file_id, file_unique_id, file_size, file_path.
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }


@dataclass
class _Poll:
    """A getUpdates request that is waiting (long polling)."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    abort: str | None = None  # a 409 description, or "" when the server is closing


@dataclass
class _Webhook:
    url: str
    secret_token: str
    max_connections: int
    ip_address: str
    last_error_date: int | None = None
    last_error_message: str | None = None
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Answer:
    result: Any
    description: str | None = None


@dataclass
class _BotState:
    token: str
    user: dict[str, Any]
    next_update_id: int
    queue: list[dict[str, Any]] = field(default_factory=list)  # unconfirmed, by update_id
    redeliver: deque[dict[str, Any]] = field(default_factory=deque)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
    poll: _Poll | None = None
    webhook: _Webhook | None = None
    next_set_webhook_time: float = 0.0
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, _StoredFile] = field(default_factory=dict)
    file_paths: dict[str, _StoredFile] = field(default_factory=dict)
    photo_sizes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    file_counter: int = 0
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, deque[_Failure]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Formatting options, ported from [tdlib] MessageEntity.cpp: parse_html(), parse_markdown()
# and parse_markdown_v2(). Byte offsets in errors count UTF-8 bytes; entity offsets count
# UTF-16 code units ([api] MessageEntity).

_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_HTML_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "blockquote",
}  # fmt: skip
# tdlib's own names for entity types, used in MarkdownV2 error messages.
_TD_TYPE_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline",
    "strikethrough": "Strikethrough", "spoiler": "Spoiler", "code": "Code", "pre": "Pre",
    "pre_code": "PreCode", "text_link": "TextUrl", "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}  # fmt: skip
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACE = frozenset(b" \t\r\n\f\v")
_MD2_RESERVED = frozenset(b"_*[]()~`>#+-=|{}.!\n")


class _ParseError(Exception):
    pass


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _u16_of_byte(c: int) -> int:
    """UTF-16 units a UTF-8 byte starts: 1 for a lead byte (2 for 4-byte ones), else 0."""
    if (c & 0xC0) == 0x80:
        return 0
    return 2 if c >= 0xF0 else 1


def _decode_html_entity(b: bytes, pos: int) -> tuple[int, int] | None:
    """[tdlib] decode_html_entity(): only &lt; &gt; &amp; &quot; and numeric references; the
    ';' is optional. Returns (code point, next position) or None for a literal '&'."""
    n = len(b)
    end = pos + 1
    code = 0
    if end < n and b[end] == 0x23:  # '#'
        end += 1
        if end < n and b[end] == 0x78:  # 'x'
            end += 1
            while end < n and b[end] in b"0123456789abcdefABCDEF":
                code = code * 16 + int(chr(b[end]), 16)
                end += 1
        else:
            while end < n and 0x30 <= b[end] <= 0x39:
                code = code * 10 + b[end] - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while end < n and chr(b[end]).isascii() and chr(b[end]).isalpha():
            end += 1
        char = _NAMED_ENTITIES.get(b[pos + 1 : end])
        if char is None:
            return None
        code = ord(char)
    if end < n and b[end] == 0x3B:  # ';'
        end += 1
    return code, end


def _checked_link(url: str) -> str:
    """Roughly [tdlib] LinkManager::get_checked_link(): "" when the URL is not usable."""
    if not url or any(ch.isspace() for ch in url):
        return ""
    if url.lower().startswith(("tg:", "ton:")):
        return url
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() not in ("http", "https") or not host:
        return ""
    if "." not in host and host != "localhost":
        return ""
    return urlunsplit(parts._replace(path=parts.path or "/"))


# [tdlib] MessageEntity::get_type_priority(), the tie-breaker of sort_entities().
_TYPE_PRIORITY = {
    "blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20, "text_link": 49,
    "bold": 90, "italic": 91, "underline": 92, "strikethrough": 93, "spoiler": 94,
    "custom_emoji": 99,
}  # fmt: skip


def _sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(e: dict[str, Any]) -> tuple[int, int, int]:
        priority = (
            10 if e["type"] == "pre" and e.get("language") else _TYPE_PRIORITY.get(e["type"], 50)
        )
        return e["offset"], -e["length"], priority

    return sorted(entities, key=key)


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset into plain text plus MessageEntity dicts.

    Raises ``BotApiError(400, "Bad Request: can't parse entities: ...")`` with the server's
    wording.
    """
    try:
        return _parse_html(text)
    except _ParseError as e:
        raise BotApiError(400, f"Bad Request: can't parse entities: {e}") from None


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    b = text.encode("utf-8")
    n = len(b)

    def at(k: int) -> int:
        return b[k] if k < n else 0

    out = bytearray()
    u16 = 0
    stack: list[tuple[str, str, int, int, bool]] = []  # tag, argument, offset, out pos, expandable
    entities: list[dict[str, Any]] = []
    need_recheck_utf8 = False
    i = 0
    while i < n:
        c = b[i]
        if c == 0x26:  # '&'
            decoded = _decode_html_entity(b, i)
            if decoded is not None:
                code, i = decoded
                u16 += 2 if code > 0xFFFF else 1
                need_recheck_utf8 |= 0xD800 <= code <= 0xDFFF
                out += chr(code).encode("utf-8", "surrogatepass")
                continue
        if c != 0x3C:  # '<'
            u16 += _u16_of_byte(c)
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # '/': otherwise a start tag
            while at(i) != 0 and at(i) not in _SPACE and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise _ParseError(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            expandable = False
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) == 0x3E:
                    break
                attr_begin = i
                while at(i) != 0 and at(i) not in _SPACE and at(i) not in (0x3D, 0x3E):
                    i += 1
                attr = b[attr_begin:i].decode("utf-8", "replace")
                if not attr:
                    raise _ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) != 0x3D:  # '='
                    if tag == "blockquote" and attr == "expandable":
                        expandable = True
                        continue
                    raise _ParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while at(i) != 0 and at(i) in _SPACE:
                    i += 1
                if at(i) == 0:
                    raise _ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in (0x22, 0x27):
                    # A name token: letters, digits, periods or hyphens; not case sensitive.
                    token_begin = i
                    while at(i) != 0 and (
                        (at(i) < 0x80 and chr(at(i)).isalnum()) or at(i) in b".-"
                    ):
                        i += 1
                    value = b[token_begin:i].decode("ascii").lower()
                    if at(i) not in _SPACE and at(i) != 0x3E:
                        raise _ParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a string literal
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != 0 and at(i) != quote:
                        if at(i) == 0x26:
                            decoded = _decode_html_entity(b, i)
                            if decoded is not None:
                                raw += chr(decoded[0]).encode("utf-8", "surrogatepass")
                                i = decoded[1]
                                continue
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise _ParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attr == "href":
                    argument = value
                elif tag == "code" and attr == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, u16, len(out), expandable))
            i += 1
            continue

        # an end tag
        if not stack:
            raise _ParseError(f"Unexpected end tag at byte offset {begin}")
        while at(i) != 0 and at(i) not in _SPACE and at(i) != 0x3E:
            i += 1
        end_tag = b[begin + 2 : i].decode("utf-8", "replace").lower()
        while at(i) != 0 and at(i) in _SPACE:
            i += 1
        if at(i) != 0x3E:
            raise _ParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, out_pos, expandable = stack.pop()
        if end_tag and end_tag != tag:
            raise _ParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        i += 1
        length = u16 - offset
        if length <= 0:
            continue
        span = {"offset": offset, "length": length}
        last = entities[-1] if entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
        if tag in _HTML_ENTITY_TYPES:
            kind = _HTML_ENTITY_TYPES[tag]
            if kind == "blockquote" and expandable:
                kind = "expandable_blockquote"
            entities.append({"type": kind, **span})
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise _ParseError("Invalid custom emoji identifier specified")
            entities.append({"type": "custom_emoji", **span, "custom_emoji_id": argument})
        elif tag == "a":
            url = _checked_link(argument or out[out_pos:].decode("utf-8", "replace"))
            if url:
                entities.append({"type": "text_link", **span, "url": url})
        elif tag == "pre":
            # <pre><code class="language-x">...</code></pre> is one "pre" with a language.
            if same_span and last is not None and last["type"] == "code" and last.get("language"):
                last["type"] = "pre"
            else:
                entities.append({"type": "pre", **span})
        elif tag == "code":
            if same_span and last is not None and last["type"] == "pre" and argument:
                last["language"] = argument
            else:
                entities.append(
                    {"type": "code", **span, **({"language": argument} if argument else {})}
                )
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    try:
        plain = out.decode("utf-8")
    except UnicodeDecodeError:
        if not need_recheck_utf8:
            raise
        raise _ParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        ) from None
    return plain, _sort_entities(entities)


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """parse_mode "Markdown" (legacy), as [tdlib] parse_markdown()."""
    try:
        return _parse_markdown(text)
    except _ParseError as e:
        raise BotApiError(400, f"Bad Request: can't parse entities: {e}") from None


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    b = text.encode("utf-8")
    n = len(b)

    def at(k: int) -> int:
        return b[k] if k < n else 0

    out = bytearray()
    u16 = 0
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        c = b[i]
        if c == 0x5C and at(i + 1) in b"_*`[":
            out.append(b[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in b"_*`[":
            u16 += _u16_of_byte(c)
            out.append(c)
            i += 1
            continue
        begin = i
        end_character = 0x5D if c == 0x5B else c
        is_pre = False
        language = ""
        i += 1
        if c == 0x60 and at(i) == 0x60 and at(i + 1) == 0x60:
            i += 2
            is_pre = True
            language_end = i
            while (
                at(language_end) != 0
                and at(language_end) not in _SPACE
                and at(language_end) != 0x60
            ):
                language_end += 1
            if i != language_end and language_end < n and at(language_end) != 0x60:
                language = b[i:language_end].decode("utf-8", "replace")
                i = language_end
            if at(i) in (0x0A, 0x0D):
                i += 2 if at(i + 1) in (0x0A, 0x0D) and at(i) != at(i + 1) else 1
        offset = u16
        content_begin = len(out)
        while i < n and (
            b[i] != end_character or (is_pre and not (at(i + 1) == 0x60 and at(i + 2) == 0x60))
        ):
            u16 += _u16_of_byte(b[i])
            out.append(b[i])
            i += 1
        if i == n:
            raise _ParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if offset != u16:
            span = {"offset": offset, "length": u16 - offset}
            if c == 0x5F:
                entities.append({"type": "italic", **span})
            elif c == 0x2A:
                entities.append({"type": "bold", **span})
            elif c == 0x5B:
                if at(i + 1) != 0x28:
                    url = out[content_begin:].decode("utf-8", "replace")
                else:
                    i += 2
                    url_begin = i
                    while i < n and b[i] != 0x29:
                        i += 1
                    url = b[url_begin:i].decode("utf-8", "replace")
                if checked := _checked_link(url):
                    entities.append({"type": "text_link", **span, "url": checked})
            elif is_pre:
                entities.append(
                    {"type": "pre", **span, **({"language": language} if language else {})}
                )
            else:
                entities.append({"type": "code", **span})
        if is_pre:
            i += 2
        i += 1
    return out.decode("utf-8", "replace"), _sort_entities(entities)


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """parse_mode "MarkdownV2", as [tdlib] parse_markdown_v2(): every reserved character
    outside markup must be escaped with a backslash."""
    try:
        return _parse_markdown_v2(text)
    except _ParseError as e:
        raise BotApiError(400, f"Bad Request: can't parse entities: {e}") from None


def _reserved(c: int) -> _ParseError:
    return _ParseError(
        f"Character '{chr(c)}' is reserved and must be escaped with the preceding '\\'"
    )


def _md2_url(b: bytes, i: int) -> tuple[str, int] | None:
    """Read "(url)" whose '(' is at b[i]; returns (url, index of ')') or None if unclosed."""
    n = len(b)
    i += 1
    url = bytearray()
    while i < n and b[i] != 0x29:
        if b[i] == 0x5C and i + 1 < n and 0 < b[i + 1] <= 126:
            url.append(b[i + 1])
            i += 2
            continue
        url.append(b[i])
        i += 1
    if i >= n:
        return None
    return url.decode("utf-8", "replace"), i


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    b = text.encode("utf-8")
    n = len(b)

    def at(k: int) -> int:
        return b[k] if k < n else 0

    out = bytearray()
    u16 = 0
    # type, argument, entity offset (UTF-16), byte offset in the source, position in out
    stack: list[tuple[str, str, int, int, int]] = []
    entities: list[dict[str, Any]] = []
    have_blockquote = False
    i = 0
    while i < n:
        c = b[i]
        if c == 0x5C and 0 < at(i + 1) <= 126:
            out.append(b[i + 1])
            u16 += 1
            i += 2
            continue
        in_code = bool(stack) and stack[-1][0] in ("code", "pre", "pre_code")
        if (c != 0x60) if in_code else (c not in _MD2_RESERVED):
            u16 += _u16_of_byte(c)
            out.append(c)
            i += 1
            continue

        is_end = False
        if stack:
            kind = stack[-1][0]
            if have_blockquote and c == 0x0A and (i + 1 == n or at(i + 1) != 0x3E):
                is_end = True
            else:
                is_end = {
                    "bold": c == 0x2A,
                    "italic": c == 0x5F and at(i + 1) != 0x5F,
                    "code": c == 0x60,
                    "pre": c == 0x60 and at(i + 1) == 0x60 and at(i + 2) == 0x60,
                    "pre_code": c == 0x60 and at(i + 1) == 0x60 and at(i + 2) == 0x60,
                    "text_link": c == 0x5D,
                    "underline": c == 0x5F and at(i + 1) == 0x5F,
                    "strikethrough": c == 0x7E,
                    "spoiler": c == 0x7C and at(i + 1) == 0x7C,
                    "custom_emoji": c == 0x5D,
                    "blockquote": False,
                }[kind]

        if not is_end:  # the beginning of an entity
            byte_offset = i
            argument = ""
            kind = ""
            if c == 0x5F:
                if at(i + 1) == 0x5F:
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == 0x2A:
                kind = "bold"
            elif c == 0x7E:
                kind = "strikethrough"
            elif c == 0x7C:
                if at(i + 1) != 0x7C:
                    raise _reserved(c)
                i += 1
                kind = "spoiler"
            elif c == 0x5B:
                kind = "text_link"
            elif c == 0x60:
                if at(i + 1) == 0x60 and at(i + 2) == 0x60:
                    i += 3
                    kind = "pre"
                    end = i
                    while at(end) != 0 and at(end) not in _SPACE and at(end) != 0x60:
                        end += 1
                    if i != end and end < n and at(end) != 0x60:
                        kind = "pre_code"
                        argument = b[i:end].decode("utf-8", "replace")
                        i = end
                    if at(i) in (0x0A, 0x0D):  # one new line after the opening is skipped
                        i += 2 if at(i + 1) in (0x0A, 0x0D) and at(i) != at(i + 1) else 1
                    i -= 1
                else:
                    kind = "code"
            elif c == 0x21:
                if at(i + 1) != 0x5B:
                    raise _reserved(c)
                i += 1
                kind = "custom_emoji"
            elif c == 0x0A:
                u16 += 1
                out.append(c)
                if i + 1 < n and at(i + 1) == 0x3E:
                    i += 1
                    if not have_blockquote:
                        kind = "blockquote"
                        have_blockquote = True
            elif c == 0x3E and i == 0:
                kind = "blockquote"
                have_blockquote = True
            else:
                raise _reserved(c)
            if kind:
                stack.append((kind, argument, u16, byte_offset, len(out)))
            i += 1
            continue

        # the end of an entity
        kind, argument, offset, byte_offset, out_pos = stack[-1]
        if c == 0x0A and kind != "blockquote":
            raise _ParseError(
                f"Can't find end of {_TD_TYPE_NAMES[kind]} entity at byte offset {byte_offset}"
            )
        skip = u16 == offset
        extra: dict[str, Any] = {}
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
        elif kind == "text_link":
            if at(i + 1) != 0x28:
                url = out[out_pos:].decode("utf-8", "replace")
            else:
                read = _md2_url(b, i + 1)
                if read is None:
                    raise _ParseError(f"Can't find end of a URL at byte offset {i + 2}")
                url, i = read
            checked = _checked_link(url)
            skip = skip or not checked
            extra["url"] = checked
        elif kind == "custom_emoji":
            if at(i + 1) != 0x28:
                raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
            read = _md2_url(b, i + 1)
            if read is None:
                raise _ParseError(f"Can't find end of a custom emoji URL at byte offset {i + 2}")
            url, i = read
            m = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
            if m is None or int(m.group(1)) == 0:
                raise _ParseError("Invalid custom emoji identifier specified")
            extra["custom_emoji_id"] = m.group(1)
        elif kind == "blockquote":
            have_blockquote = False
            out.append(c)
            u16 += 1
        if not skip:
            if kind == "pre_code":
                entities.append({"type": "pre", "offset": offset, "length": u16 - offset})
                entities[-1]["language"] = argument
            else:
                entities.append({"type": kind, "offset": offset, "length": u16 - offset, **extra})
        stack.pop()
        i += 1
    if have_blockquote and stack and stack[-1][0] == "blockquote":
        offset = stack.pop()[2]
        if u16 != offset:
            entities.append({"type": "blockquote", "offset": offset, "length": u16 - offset})
    if stack:
        kind, _, _, byte_offset, _ = stack[-1]
        raise _ParseError(
            f"Can't find end of {_TD_TYPE_NAMES[kind]} entity at byte offset {byte_offset}"
        )
    return out.decode("utf-8", "replace"), _sort_entities(entities)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Leading and trailing white space is cut from message texts, entities follow."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    limit = _utf16_len(stripped)
    kept = []
    for e in entities:
        begin = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, limit)
        if end > begin:
            kept.append({**e, "offset": begin, "length": end - begin})
    return stripped, kept


def _bot_commands(text: str) -> list[dict[str, Any]]:
    # [api] MessageEntity "bot_command": /start or /start@jobs_bot, found by the server.
    entities = []
    for m in re.finditer(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?", text):
        entities.append(
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: m.start()]),
                "length": _utf16_len(m.group()),
            }
        )
    return entities


# --------------------------------------------------------------------------------------------
# Request parameters


def _to_integer(value: Any) -> int:
    # [server] td::to_integer: a leading optional '-' and digits; anything else reads as 0.
    if isinstance(value, int):
        return value
    m = re.match(r"\s*(-?\d+)", str(value))
    return int(m.group(1)) if m else 0


def _to_bool(value: Any) -> bool:
    # [server] Client::to_bool: "true", "yes" or "1", case-insensitive, trimmed.
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "1")


def _decode_params(raw: Mapping[str, str | UploadedFile]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, UploadedFile):
            params[key] = value
        elif key in _JSON_FIELDS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value  # kept as sent; the method answers "can't parse ..."
        elif key in _CHAT_ID_FIELDS or key in _INT_FIELDS:
            params[key] = int(value) if _INT_RE.fullmatch(value.strip()) else value
        elif key in _FLOAT_FIELDS:
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = value
        elif key in _BOOL_FIELDS:
            params[key] = _to_bool(value)
        else:
            params[key] = value
    return params


async def _read_request_params(request: web.Request) -> dict[str, str | UploadedFile]:
    """[api] "Making requests": query string, urlencoded form, JSON body or multipart form."""
    params: dict[str, str | UploadedFile] = dict(request.query)
    if request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _bad_request("Can't parse parameters JSON object")
            for key, value in body.items():
                # [server] top-level strings stay strings; other values are re-encoded as JSON.
                params[key] = value if isinstance(value, str) else json.dumps(value)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = UploadedFile(
                        value.filename, value.content_type, value.file.read()
                    )
                else:
                    params[key] = str(value)
    return _resolve_attachments(params)


async def _read_reply_params(
    content_type: str, headers: Mapping[str, str], body: bytes
) -> dict[str, str | UploadedFile]:
    """Parameters of a method sent in the body of a webhook response."""
    params: dict[str, str | UploadedFile] = {}
    if content_type == "application/json":
        data = json.loads(body or b"{}")
        if isinstance(data, dict):
            for key, value in data.items():
                params[key] = value if isinstance(value, str) else json.dumps(value)
    elif content_type == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif content_type == "multipart/form-data":
        # The stdlib MIME parser reads a form-data body once its Content-Type header is known.
        head = f"Content-Type: {headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            if part.get_filename():
                params[name] = UploadedFile(part.get_filename(), part.get_content_type(), data)
            else:
                params[name] = data.decode(part.get_content_charset() or "utf-8")
    return _resolve_attachments(params)


def _resolve_attachments(params: dict[str, str | UploadedFile]) -> dict[str, str | UploadedFile]:
    # [api] "Sending files": "attach://<file_attach_name>" names a multipart part. aiogram sends
    # every InputFile this way, under a random part name.
    parts = {k: v for k, v in params.items() if isinstance(v, UploadedFile)}
    used: set[str] = set()
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            name = value[len("attach://") :]
            if name in parts:
                params[key] = parts[name]
                used.add(name)
    for name in used:
        params.pop(name, None)
    return params


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF or JPEG header."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return width, height
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
    return None


def _is_image(data: bytes) -> bool:
    return data.startswith(
        (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
    ) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def _is_loopback(host: str | None) -> bool:
    return host is not None and (host in ("localhost", "::1") or host.startswith("127."))


# --------------------------------------------------------------------------------------------
# The fake server


class FakeBotApi:
    """A Telegram Bot API server on 127.0.0.1 with scriptable users, for one or more bots.

    Use ``async with FakeBotApi(tokens={"123:TEST"}) as api:`` and point aiogram at
    ``TelegramAPIServer.from_base(api.base_url)``. All helper methods must be called from the
    event loop the server runs on.
    """

    def __init__(
        self,
        tokens: Iterable[str] = ("123:TEST",),
        *,
        usernames: Mapping[str, str] | None = None,
        strict_chats: bool = True,
        first_update_id: int = 1,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        """
        :param tokens: bot tokens the server accepts; any other token gets 401 Unauthorized.
        :param usernames: bot usernames by token (default ``test<id>_bot``).
        :param strict_chats: answer "chat not found" for chats no pushed update introduced
            (as Telegram does for users who never wrote to the bot); ``add_chat`` adds one.
        :param first_update_id: the first update_id handed out for each bot.
        :param webhook_retry_delay: seconds before a failed webhook delivery is retried.
        """
        self._strict_chats = strict_chats
        self._first_update_id = first_update_id
        self._webhook_retry_delay = webhook_retry_delay
        self._bots: dict[str, _BotState] = {}
        for token in tokens:
            self.add_token(token, (usernames or {}).get(token))
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._methods: dict[str, tuple[str, Callable[[_BotState, dict[str, Any]], Any]]] = {
            name.lower(): (name, impl)
            for name, impl in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "sendVoice": self._send_voice,
                "sendLocation": self._send_location,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "getFile": self._get_file,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
            }.items()
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        # A client that hangs up cancels its handler, so an abandoned long poll ends at once.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Answer waiting long polls, stop webhook deliveries, and stop listening."""
        self._closing = True
        for st in self._bots.values():
            self._abort_long_poll(st, "")
            if st.webhook is not None:
                await self._stop_webhook(st.webhook)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base``: ``{base}/bot{token}/{method}`` and files."""
        return f"http://127.0.0.1:{self.port}"

    def add_token(self, token: str, username: str | None = None) -> None:
        """Accept another bot token."""
        left = token.partition(":")[0]
        bot_id = int(left) if left.isdigit() else abs(hash(token)) % 10**10
        user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "پیگیر",
            "username": username or f"test{bot_id}_bot",
        }
        self._bots[token] = _BotState(token, user, self._first_update_id)

    # ---------------------------------------------------------------- users' side

    def user_message(
        self,
        token: str,
        chat_id: int,
        *,
        first_name: str = CITIZEN_NAME,
        username: str | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        """A new private-chat Message from the user ``chat_id`` (not queued; see push_update).

        ``content`` are the Message fields that make its kind, e.g. ``text=...`` or
        ``sticker={...}``.
        """
        st = self._state(token)
        user: dict[str, Any] = {
            "id": chat_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "fa",
        }
        chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
        if username:
            user["username"] = chat["username"] = username
        if chat_id in st.chats and st.chats[chat_id]["type"] == "private":
            chat = {**st.chats[chat_id], **{k: v for k, v in chat.items() if k != "id"}}
        return {
            "message_id": self._next_message_id(st, chat_id),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            **content,
        }

    def push_message(
        self,
        token: str,
        chat_id: int,
        text: str,
        *,
        first_name: str = CITIZEN_NAME,
        username: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from a citizen; returns the Update."""
        content: dict[str, Any] = {"text": text}
        if entities := _bot_commands(text):
            content["entities"] = entities
        if reply_to_message_id is not None:
            content["reply_to_message"] = self._message_for_reply(
                token, chat_id, reply_to_message_id
            )
        message = self.user_message(
            token, chat_id, first_name=first_name, username=username, **content
        )
        return self.push_update(token, {"message": message})

    def push_edited_message(
        self, token: str, chat_id: int, message_id: int, text: str
    ) -> dict[str, Any]:
        """Queue an ``edited_message`` for a text message the user sent earlier."""
        st = self._state(token)
        original = st.messages.get(chat_id, {}).get(message_id)
        if original is None or original.get("from", {}).get("is_bot"):
            raise KeyError(f"no message {message_id} from the user in chat {chat_id}")
        edited = copy.deepcopy(original)
        edited.update({"text": text, "edit_date": int(time.time())})
        edited.pop("entities", None)
        if entities := _bot_commands(text):
            edited["entities"] = entities
        return self.push_update(token, {"edited_message": edited})

    def push_callback(
        self,
        token: str,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        *,
        first_name: str = CITIZEN_NAME,
    ) -> dict[str, Any]:
        """Queue a ``callback_query``: the citizen pressed an inline button.

        ``message_id`` defaults to the bot's latest message in the chat whose inline keyboard
        has a button with this ``callback_data`` (else the bot's latest message).
        """
        st = self._state(token)
        history = st.messages.get(chat_id, {})
        bot_messages = [m for m in history.values() if m.get("from", {}).get("is_bot")]
        if message_id is None:
            with_button = [m for m in bot_messages if data in _callback_data(m)]
            chosen = (with_button or bot_messages or [None])[-1]
            if chosen is None:
                raise KeyError(f"the bot has sent no message to chat {chat_id}")
            message: dict[str, Any] = copy.deepcopy(chosen)
        elif message_id in history:
            message = copy.deepcopy(history[message_id])
        else:
            # [api] InaccessibleMessage: date 0 when the message is gone or too old.
            message = {"chat": self._chat_object(st, chat_id), "message_id": message_id, "date": 0}
        query_id = str(secrets.randbits(62))
        st.callbacks[query_id] = {"chat_id": chat_id, "answered": False}
        user = {"id": chat_id, "is_bot": False, "first_name": first_name, "language_code": "fa"}
        query = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": str(abs(hash((token, chat_id))) % 10**18),
            "data": data,
        }
        return self.push_update(token, {"callback_query": query})

    def push_location(
        self,
        token: str,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        horizontal_accuracy: float | None = None,
    ) -> dict[str, Any]:
        """Queue a location the citizen shared."""
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        return self.push_update(
            token, {"message": self.user_message(token, chat_id, location=location)}
        )

    def push_photo(
        self,
        token: str,
        chat_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """Queue a photo; its sizes are registered files (getFile and download work).

        [api] Message.photo: "Available sizes of the photo", the largest last.
        """
        content: dict[str, Any] = {"photo": self.make_photo(token, data, width, height)}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self.push_update(token, {"message": self.user_message(token, chat_id, **content)})

    def push_voice(
        self,
        token: str,
        chat_id: int,
        data: bytes,
        duration: int,
        mime: str = "audio/ogg",
    ) -> dict[str, Any]:
        """Queue a voice note (a registered file)."""
        stored = self._register_file(self._state(token), data, "voice", mime_type=mime)
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": mime,
            "file_size": len(data),
        }
        return self.push_update(token, {"message": self.user_message(token, chat_id, voice=voice)})

    def push_contact(
        self,
        token: str,
        chat_id: int,
        phone_number: str,
        first_name: str = CITIZEN_NAME,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """Queue a shared contact; ``user_id`` defaults to the sender (own number shared)."""
        contact: dict[str, Any] = {
            "phone_number": phone_number,
            "first_name": first_name,
            "user_id": chat_id if user_id is None else user_id,
        }
        if last_name is not None:
            contact["last_name"] = last_name
        return self.push_update(
            token, {"message": self.user_message(token, chat_id, contact=contact)}
        )

    def push_update(self, token: str, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue any Update (edited_message, sticker, group chats, albums...).

        An ``update_id`` is assigned unless given (it must then exceed every earlier one).
        Chats and messages in it become known to the bot. [server] add_update_impl(): an
        update of a type outside the current allowed_updates is never queued; it is returned
        without an update_id and kept in ``dropped(token)``.
        """
        st = self._state(token)
        update = copy.deepcopy(dict(update))
        kinds = [k for k in update if k != "update_id"]
        if len(kinds) != 1:
            raise ValueError(f"an Update has exactly one field besides update_id, got {kinds}")
        self._learn(st, update[kinds[0]])
        if kinds[0] not in st.allowed_updates:
            update.pop("update_id", None)
            st.dropped.append(update)
            return copy.deepcopy(update)
        if "update_id" in update:
            if update["update_id"] < st.next_update_id:
                raise ValueError(f"update_id must be at least {st.next_update_id}")
            st.next_update_id = update["update_id"]
        update = {"update_id": st.next_update_id, **{k: v for k, v in update.items()}}
        st.next_update_id += 1
        st.queue.append(update)
        st.history[update["update_id"]] = update
        self._wake(st)
        return copy.deepcopy(update)

    def redeliver(self, token: str, update_id: int) -> dict[str, Any]:
        """Hand an already-delivered update out once more (at-least-once delivery).

        Telegram resends an update whose webhook delivery was not acknowledged, and a poller
        that restarts before confirming sees its updates again. Here the update is returned
        first in the next getUpdates answer (or posted to the webhook) whatever the offset.
        """
        st = self._state(token)
        if update_id not in st.history:
            raise KeyError(f"no update {update_id} was pushed for this bot")
        st.redeliver.append(st.history[update_id])
        self._wake(st)
        return copy.deepcopy(st.history[update_id])

    # ---------------------------------------------------------------- files and chats

    def add_file(
        self,
        token: str,
        data: bytes,
        *,
        kind: str = "documents",
        mime_type: str | None = None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        """Register a file the bot may getFile and download; returns its File object.

        ``kind`` is the folder of its file_path: photos, voice, documents, videos, audio...
        """
        stored = self._register_file(self._state(token), data, kind, mime_type, file_name)
        return stored.as_file()

    def make_photo(
        self, token: str, data: bytes, width: int | None = None, height: int | None = None
    ) -> list[dict[str, Any]]:
        """Register a photo and return its PhotoSize list, the largest last."""
        return copy.deepcopy(self._photo_sizes(self._state(token), data, width, height))

    def add_chat(self, token: str, chat: int | Mapping[str, Any]) -> None:
        """Make a chat known, as if its user had written to the bot before."""
        st = self._state(token)
        if isinstance(chat, int):
            chat = {"id": chat, "type": "private", "first_name": CITIZEN_NAME}
        st.chats[chat["id"]] = dict(chat)

    def block(self, token: str, chat_id: int) -> None:
        """The user blocks the bot: sends answer 403 "Forbidden: bot was blocked by the user"."""
        self._state(token).blocked.add(chat_id)

    def unblock(self, token: str, chat_id: int) -> None:
        self._state(token).blocked.discard(chat_id)

    # ---------------------------------------------------------------- inspection

    def sent(
        self, token: str, chat_id: int | str | None = None, method: str | None = None
    ) -> list[Call]:
        """Successful calls that acted on chats (every method but getUpdates and getters)."""
        return [
            copy.deepcopy(c)
            for c in self._state(token).calls
            if c["ok"]
            and c["method"] not in _READ_METHODS
            and (chat_id is None or c["chat_id"] == chat_id)
            and (method is None or c["method"].lower() == method.lower())
        ]

    def calls(self, token: str) -> list[Call]:
        """Every call but getUpdates, failed ones included, in order."""
        return copy.deepcopy(self._state(token).calls)

    async def wait_for_sent(
        self,
        token: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        method: str | None = None,
        chat_id: int | str | None = None,
        since: int = 0,
        timeout: float = 10.0,
    ) -> Call:
        """Wait until ``sent(token, chat_id, method)`` has a call matching ``predicate``.

        Calls with ``seq < since`` are not considered (pass ``len(api.calls(token))`` taken
        before acting to ignore earlier ones). Raises TimeoutError listing what was sent.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            for call in self.sent(token, chat_id, method):
                if call["seq"] >= since and (predicate is None or predicate(call)):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(c["method"], c["chat_id"], c["params"]) for c in self.sent(token)]
                raise TimeoutError(f"no matching call within {timeout}s; sent: {seen}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def messages(self, token: str, chat_id: int) -> list[dict[str, Any]]:
        """The chat as it stands: messages from both sides, after edits and deletions."""
        return copy.deepcopy(list(self._state(token).messages.get(chat_id, {}).values()))

    def pending(self, token: str) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset (or a webhook 2xx)."""
        return copy.deepcopy(self._state(token).queue)

    def dropped(self, token: str) -> list[dict[str, Any]]:
        """Pushed updates that allowed_updates kept out of the queue."""
        return copy.deepcopy(self._state(token).dropped)

    def webhook(self, token: str) -> dict[str, Any] | None:
        """The webhook set by setWebhook (getWebhookInfo plus secret_token), or None."""
        st = self._state(token)
        if st.webhook is None:
            return None
        info = self._webhook_info(st)
        info["secret_token"] = st.webhook.secret_token
        return info

    def commands(
        self, token: str, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The bot's command list for a scope and language, as setMyCommands left it."""
        key = (json.dumps(dict(scope or {"type": "default"}), sort_keys=True), language_code)
        return copy.deepcopy(self._state(token).commands.get(key, []))

    def fail_next(
        self,
        token: str,
        method: str,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        *,
        times: int = 1,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail as Telegram would.

        For 429, ``retry_after`` defaults to 1 and the description to Telegram's
        "Too Many Requests: retry after N"; the answer carries ResponseParameters.retry_after
        and a Retry-After header ([api] ResponseParameters, [server] set_retry_after_error).
        """
        params = dict(parameters or {})
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        if retry_after is not None:
            params["retry_after"] = retry_after
        if description is None:
            description = {
                400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway",
            }.get(error_code, "Error")  # fmt: skip
        failure = _Failure(BotApiError(error_code, description, params), times)
        self._state(token).failures.setdefault(method.lower(), deque()).append(failure)

    # ---------------------------------------------------------------- HTTP

    async def _handle_method(self, request: web.Request) -> web.Response:
        st = self._bots.get(request.match_info["token"])
        if st is None:
            return self._json(BotApiError(401, "Unauthorized").body(), 401)
        # [api] "Making requests": method names are case-insensitive.
        entry = self._methods.get(request.match_info["method"].lower())
        if entry is None:
            return self._json(BotApiError(404, "Not Found").body(), 404)
        try:
            raw = await _read_request_params(request)
        except web.HTTPRequestEntityTooLarge:
            return self._json(BotApiError(413, "Request Entity Too Large").body(), 413)
        except BotApiError as e:
            return self._json(e.body(), e.error_code)
        except ValueError:
            return self._json(_bad_request("Can't parse parameters JSON object").body(), 400)
        status, body = await self._dispatch(st, entry[0], raw)
        headers = {}
        if status == 429 and body.get("parameters", {}).get("retry_after"):
            headers["Retry-After"] = str(body["parameters"]["retry_after"])
        return self._json(body, status, headers)

    async def _handle_file(self, request: web.Request) -> web.Response:
        # [api] getFile: "https://api.telegram.org/file/bot<token>/<file_path>".
        st = self._bots.get(request.match_info["token"])
        if st is None:
            return self._json(BotApiError(401, "Unauthorized").body(), 401)
        stored = st.file_paths.get(request.match_info["path"])
        if stored is None:
            return self._json(BotApiError(404, "Not Found").body(), 404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    @staticmethod
    def _json(
        body: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        return web.json_response(
            body,
            status=status,
            headers=headers,
            dumps=lambda obj: json.dumps(obj, ensure_ascii=False),
        )

    async def _dispatch(
        self,
        st: _BotState,
        method: str,
        raw: Mapping[str, str | UploadedFile],
        *,
        via_webhook_reply: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Run one method; answer (HTTP status, body) and record the call."""
        impl = self._methods[method.lower()][1]
        params = _decode_params(raw)
        try:
            failures = st.failures.get(method.lower())
            if failures:
                failure = failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    failures.popleft()
                raise failure.error
            answer = await impl(st, params)
        except BotApiError as e:
            self._record(st, method, params, None, e, via_webhook_reply)
            return e.error_code, e.body()
        if not isinstance(answer, _Answer):
            answer = _Answer(answer)
        self._record(st, method, params, answer.result, None, via_webhook_reply)
        body: dict[str, Any] = {"ok": True, "result": answer.result}
        if answer.description:
            body["description"] = answer.description
        return 200, body

    def _record(
        self,
        st: _BotState,
        method: str,
        params: dict[str, Any],
        result: Any,
        error: BotApiError | None,
        via_webhook_reply: bool,
    ) -> None:
        if method == "getUpdates":
            return
        chat_id = params.get("chat_id")
        message_id = params.get("message_id") if isinstance(params.get("message_id"), int) else None
        if isinstance(result, dict) and "message_id" in result and "chat" in result:
            chat_id, message_id = result["chat"]["id"], result["message_id"]
        elif method == "answerCallbackQuery":
            chat_id = st.callbacks.get(str(params.get("callback_query_id")), {}).get("chat_id")
        st.calls.append(
            Call(
                seq=len(st.calls),
                method=method,
                params=copy.deepcopy(params),
                chat_id=chat_id,
                message_id=message_id,
                ok=error is None,
                result=copy.deepcopy(result),
                error_code=error.error_code if error else None,
                description=error.description if error else None,
                via_webhook_reply=via_webhook_reply,
                at=time.time(),
            )
        )
        self._changed.set()
        self._changed = asyncio.Event()

    # ---------------------------------------------------------------- state helpers

    def _state(self, token: str) -> _BotState:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError(f"unknown bot token {token!r}; pass it in tokens=") from None

    def _wake(self, st: _BotState) -> None:
        if st.poll is not None:
            st.poll.event.set()
        if st.webhook is not None:
            st.webhook.wake.set()

    def _abort_long_poll(self, st: _BotState, description: str) -> None:
        if st.poll is not None:
            st.poll.abort = description
            st.poll.event.set()
            st.poll = None

    def _next_message_id(self, st: _BotState, chat_id: int) -> int:
        # Message ids count up per chat, shared by both sides as in a private chat.
        st.next_message_id[chat_id] = st.next_message_id.get(chat_id, 0) + 1
        return st.next_message_id[chat_id]

    def _learn(self, st: _BotState, event: Any) -> None:
        """Remember chats and messages that appear in a pushed update."""
        if not isinstance(event, dict):
            return
        message = event.get("message") if "chat_instance" in event else event
        if not isinstance(message, dict) or not isinstance(message.get("chat"), dict):
            return
        chat = message["chat"]
        if isinstance(chat.get("id"), int):
            st.chats.setdefault(chat["id"], dict(chat))
            mid = message.get("message_id")
            if isinstance(mid, int) and message is event:
                st.messages.setdefault(chat["id"], {})[mid] = copy.deepcopy(message)
                st.next_message_id[chat["id"]] = max(st.next_message_id.get(chat["id"], 0), mid)

    def _message_for_reply(self, token: str, chat_id: int, message_id: int) -> dict[str, Any]:
        target = self._state(token).messages.get(chat_id, {}).get(message_id)
        if target is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        reply = copy.deepcopy(target)
        reply.pop("reply_to_message", None)
        return reply

    def _chat_object(self, st: _BotState, chat_id: int) -> dict[str, Any]:
        return copy.deepcopy(
            st.chats.get(chat_id, {"id": chat_id, "type": "private", "first_name": CITIZEN_NAME})
        )

    def _resolve_chat(self, st: _BotState, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("Chat_id is empty")
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                for chat in st.chats.values():
                    if chat.get("username", "").lower() == chat_id[1:].lower():
                        return copy.deepcopy(chat)
            raise _bad_request("Chat not found")
        if chat_id in st.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id not in st.chats:
            if self._strict_chats:
                raise _bad_request("Chat not found")
            st.chats[chat_id] = self._chat_object(st, chat_id)
        return copy.deepcopy(st.chats[chat_id])

    def _register_file(
        self,
        st: _BotState,
        data: bytes,
        kind: str,
        mime_type: str | None = None,
        file_name: str | None = None,
        source_url: str | None = None,
    ) -> _StoredFile:
        # Telegram re-encodes photos as JPEG and voice notes are OGG/Opus (".oga").
        extension = {
            "photos": "jpg", "voice": "oga", "videos": "mp4", "video_notes": "mp4",
            "audio": "mp3", "stickers": "webp", "animations": "mp4",
        }.get(kind)  # fmt: skip
        if extension is None:
            name = file_name or ""
            extension = name.rsplit(".", 1)[1] if "." in name else "bin"
        path = f"{kind}/file_{st.file_counter}.{extension}"
        st.file_counter += 1
        stored = _StoredFile(
            file_id=secrets.token_urlsafe(36),
            file_unique_id=secrets.token_urlsafe(12),
            file_path=path,
            data=bytes(data),
            mime_type=mime_type,
            file_name=file_name,
            source_url=source_url,
        )
        st.files[stored.file_id] = stored
        st.file_paths[path] = stored
        return stored

    def _photo_sizes(
        self,
        st: _BotState,
        data: bytes,
        width: int | None,
        height: int | None,
        source_url: str | None = None,
    ) -> list[dict[str, Any]]:
        # Telegram keeps a few scaled copies (longest side 90, 320, 800, 1280, 2560), never
        # larger than the original, and lists them smallest first.
        sniffed = _image_size(data)
        w, h = (width, height) if width and height else (sniffed or (1280, 960))
        longest = max(w, h)
        sides = [s for s in (90, 320, 800, 1280) if s < longest] + [min(longest, 2560)]
        sizes = []
        for side in sides:
            stored = self._register_file(st, data, "photos", "image/jpeg", source_url=source_url)
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": max(1, round(w * side / longest)),
                    "height": max(1, round(h * side / longest)),
                }
            )
        for size in sizes:
            st.photo_sizes[size["file_id"]] = sizes
        return sizes

    def _formatted(
        self, params: Mapping[str, Any], text_key: str, entities_key: str, parse_mode_key: str
    ) -> tuple[str, list[dict[str, Any]]]:
        """Text after entities parsing ([api] "Formatting options", [server] get_formatted_text:
        a parse_mode wins over explicit entities)."""
        text = str(params.get(text_key, ""))
        if len(text.encode("utf-8")) > 1 << 15:
            raise _bad_request("Text is too long")
        parse_mode = str(params.get(parse_mode_key, "")).lower()
        if text and parse_mode and parse_mode != "none":
            parsers = {
                "html": parse_html,
                "markdown": parse_markdown,
                "markdownv2": parse_markdown_v2,
            }
            if parse_mode not in parsers:
                raise _bad_request("Unsupported parse_mode")
            return _trim(*parsers[parse_mode](text))
        explicit = params.get(entities_key)
        if explicit in (None, ""):
            return _trim(text, [])
        if not isinstance(explicit, list):
            raise _bad_request("Can't parse entities JSON object")
        return _trim(text, explicit)

    @staticmethod
    def _reply_markup(params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Validate reply_markup as [server] get_reply_markup() does.

        Returns the inline keyboard to echo: [api] Message.reply_markup is only ever an
        InlineKeyboardMarkup; reply keyboards are not part of the Message.
        """
        markup = params.get("reply_markup")
        if markup in (None, ""):
            return None
        if isinstance(markup, str):
            raise _bad_request("Can't parse reply keyboard markup JSON object")
        if not isinstance(markup, dict):
            raise _bad_request("Object expected as reply markup")
        keyboard = markup.get("keyboard")
        if keyboard is not None:
            if not isinstance(keyboard, list) or not all(isinstance(r, list) for r in keyboard):
                raise _bad_request('Field "keyboard" must be an Array of Arrays')
            for button in (b for row in keyboard for b in row):
                if isinstance(button, dict):
                    if not isinstance(button.get("text"), str):
                        raise _bad_request("Can't parse keyboard button: Can't find field \"text\"")
                elif not isinstance(button, str):
                    raise _bad_request(
                        "Can't parse keyboard button: KeyboardButton must be a String or an Object"
                    )
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad_request(
                'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        actions = (
            "url", "callback_data", "callback_game", "pay", "switch_inline_query",
            "switch_inline_query_chosen_chat", "switch_inline_query_current_chat", "login_url",
            "web_app", "copy_text",
        )  # fmt: skip
        for button in (b for row in rows for b in row):
            prefix = "Can't parse inline keyboard button: "
            if not isinstance(button, dict):
                raise _bad_request(prefix + "InlineKeyboardButton must be an Object")
            if not isinstance(button.get("text"), str):
                raise _bad_request(prefix + 'Can\'t find field "text"')
            if not any(button.get(a) not in (None, "") for a in actions):
                raise _bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data not in (None, "") and len(str(data).encode("utf-8")) > 64:
                # [api] InlineKeyboardButton.callback_data: 1-64 bytes.
                raise _bad_request("BUTTON_DATA_INVALID")
        if not any(rows):
            return None
        return {"inline_keyboard": copy.deepcopy(rows)}

    def _reply_to(
        self, st: _BotState, chat_id: int, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        target_id: Any = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            target_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        if target_id in (None, "", 0):
            return None
        target = st.messages.get(chat_id, {}).get(_to_integer(target_id))
        if target is None:
            if allow_missing:
                return None
            raise _bad_request("Message to be replied not found")
        target = copy.deepcopy(target)
        target.pop("reply_to_message", None)
        return target

    def _new_bot_message(
        self,
        st: _BotState,
        chat: dict[str, Any],
        params: Mapping[str, Any],
        content: dict[str, Any],
    ) -> dict[str, Any]:
        """Store and return a Message the bot sent ([api] Message)."""
        reply_to = self._reply_to(st, chat["id"], params)
        markup = self._reply_markup(params)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(st, chat["id"]),
            "from": copy.deepcopy(st.user),
            "chat": chat,
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        if params.get("protect_content"):
            message["has_protected_content"] = True
        st.messages.setdefault(chat["id"], {})[message["message_id"]] = message
        return copy.deepcopy(message)

    def _caption(self, params: Mapping[str, Any]) -> dict[str, Any]:
        caption, entities = self._formatted(params, "caption", "caption_entities", "parse_mode")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("Message caption is too long")
        content: dict[str, Any] = {}
        if caption:
            content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
            if params.get("show_caption_above_media"):
                content["show_caption_above_media"] = True
        return content

    def _input_file(
        self, st: _BotState, params: Mapping[str, Any], key: str
    ) -> UploadedFile | _StoredFile | str:
        """An uploaded file, a known file_id, or an HTTP URL ([api] "Sending files")."""
        value = params.get(key)
        if value in (None, ""):
            raise _bad_request(f"There is no {key} in the request")
        if isinstance(value, UploadedFile):
            return value
        value = str(value)
        if value.startswith(("http://", "https://")):
            return value
        stored = st.files.get(value)
        if stored is None:
            raise _bad_request("Wrong file identifier/HTTP URL specified")
        return stored

    def _stored_message(
        self, st: _BotState, params: Mapping[str, Any], not_found: str
    ) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        message_id = _to_integer(params.get("message_id", 0))
        if message_id <= 0:
            raise _bad_request("Message identifier is not specified")
        message = st.messages.get(chat["id"], {}).get(message_id)
        if message is None:
            raise _bad_request(not_found)
        return message

    # ---------------------------------------------------------------- methods

    async def _get_me(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        # [api] getMe: a User with the bot-only fields.
        return {
            **st.user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, st: _BotState, params: dict[str, Any]) -> list[dict[str, Any]]:
        # [api] getUpdates: "will not work if an outgoing webhook is set up".
        if st.webhook is not None:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        # [server] process_get_updates_query(): lenient integers, clamped.
        offset = _to_integer(params.get("offset", 0))
        limit = min(max(_to_integer(params.get("limit", 100)) or 100, 1), 100)
        timeout = min(max(_to_integer(params.get("timeout", 0)), 0), LONG_POLL_MAX_TIMEOUT)
        self._set_allowed_updates(st, params.get("allowed_updates"))

        # [api] offset: updates with update_id < offset are confirmed and forgotten; a negative
        # offset keeps only the last -offset updates; 0 starts at the earliest unconfirmed one.
        if offset < 0:
            del st.queue[: max(len(st.queue) + offset, 0)]
        elif offset > 0:
            st.queue[:] = [u for u in st.queue if u["update_id"] >= offset]

        batch = self._take(st, limit)
        if batch or timeout == 0 or self._closing:
            return batch

        # [server] do_get_updates(): only a request that is about to wait displaces the
        # previous waiting one, which is answered 409.
        self._abort_long_poll(
            st,
            "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running",
        )
        poll = _Poll()
        st.poll = poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(poll.event.wait(), remaining)
                poll.event.clear()
                if poll.abort is not None:
                    if poll.abort == "":  # the fake is closing
                        return []
                    raise BotApiError(409, poll.abort)
                if batch := self._take(st, limit):
                    return batch
        finally:
            if st.poll is poll:
                st.poll = None

    def _take(self, st: _BotState, limit: int) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while st.redeliver and len(batch) < limit:
            batch.append(st.redeliver.popleft())
        batch.extend(st.queue[: limit - len(batch)])
        return copy.deepcopy(batch)

    @staticmethod
    def _set_allowed_updates(st: _BotState, value: Any) -> None:
        # [server] get_allowed_update_types(): unparsable or absent keeps the previous setting,
        # an empty (or all-unknown) list means the default set.
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return
        chosen = frozenset(v.lower() for v in value) & frozenset(UPDATE_TYPES)
        st.allowed_updates = chosen or DEFAULT_ALLOWED_UPDATES

    async def _send_message(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        text, entities = self._formatted(params, "text", "entities", "parse_mode")
        if not text:
            raise _bad_request("Message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("Message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._new_bot_message(st, chat, params, content)

    async def _send_photo(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        source = self._input_file(st, params, "photo")
        content = self._caption(params)
        if isinstance(source, UploadedFile):
            if not _is_image(source.data):
                raise _bad_request("IMAGE_PROCESS_FAILED")
            sizes = self._photo_sizes(st, source.data, None, None)
        elif isinstance(source, str):
            sizes = self._photo_sizes(st, b"", None, None, source_url=source)
        else:
            sizes = st.photo_sizes.get(source.file_id) or self._photo_sizes(
                st, source.data, None, None
            )
        if params.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return self._new_bot_message(st, chat, params, {"photo": sizes, **content})

    async def _send_document(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        source = self._input_file(st, params, "document")
        content = self._caption(params)
        if isinstance(source, UploadedFile):
            stored = self._register_file(
                st, source.data, "documents", source.content_type, source.filename
            )
        elif isinstance(source, str):
            stored = self._register_file(st, b"", "documents", source_url=source)
        else:
            stored = source
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return self._new_bot_message(st, chat, params, {"document": document, **content})

    async def _send_voice(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        source = self._input_file(st, params, "voice")
        content = self._caption(params)
        if isinstance(source, UploadedFile):
            stored = self._register_file(st, source.data, "voice", "audio/ogg", source.filename)
        elif isinstance(source, str):
            stored = self._register_file(st, b"", "voice", "audio/ogg", source_url=source)
        else:
            stored = source
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": _to_integer(params.get("duration", 0)),
            "mime_type": stored.mime_type or "audio/ogg",
            "file_size": len(stored.data),
        }
        return self._new_bot_message(st, chat, params, {"voice": voice, **content})

    async def _send_location(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(st, params)
        location: dict[str, Any] = {}
        for key in ("latitude", "longitude"):
            value = params.get(key)
            if value in (None, ""):
                raise _bad_request(f"{key.capitalize()} is empty")
            if not isinstance(value, float):
                raise _bad_request(f"Wrong {key} specified")
            location[key] = value
        if not (-90 <= location["latitude"] <= 90 and -180 <= location["longitude"] <= 180):
            raise _bad_request("Wrong location specified")
        for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if params.get(key) not in (None, ""):
                location[key] = params[key]
        return self._new_bot_message(st, chat, params, {"location": location})

    async def _edit_message_text(self, st: _BotState, params: dict[str, Any]) -> Any:
        text, entities = self._formatted(params, "text", "entities", "parse_mode")
        if not text:
            raise _bad_request("Message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("Message is too long")
        markup = self._reply_markup(params)
        if params.get("inline_message_id"):
            return True  # [api] edits of inline messages answer True
        message = self._stored_message(st, params, "Message to edit not found")
        if not message["from"].get("is_bot"):
            raise _bad_request("Message can't be edited")
        if "text" not in message:
            raise _bad_request("There is no text in the message to edit")
        if (text, entities, markup) == (
            message["text"],
            message.get("entities", []),
            message.get("reply_markup"),
        ):
            raise _bad_request(
                "Message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        # [api] the inline keyboard is replaced by the one given, so leaving it out removes it.
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, st: _BotState, params: dict[str, Any]) -> Any:
        markup = self._reply_markup(params)
        if params.get("inline_message_id"):
            return True
        message = self._stored_message(st, params, "Message to edit not found")
        if not message["from"].get("is_bot"):
            raise _bad_request("Message can't be edited")
        if markup == message.get("reply_markup"):
            raise _bad_request(
                "Message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message"
            )
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _delete_message(self, st: _BotState, params: dict[str, Any]) -> bool:
        message = self._stored_message(st, params, "Message to delete not found")
        del st.messages[message["chat"]["id"]][message["message_id"]]
        return True

    async def _answer_callback_query(self, st: _BotState, params: dict[str, Any]) -> bool:
        query = st.callbacks.get(str(params.get("callback_query_id", "")))
        if query is None or query["answered"]:
            # [server] QUERY_ID_INVALID; a query can be answered once.
            raise _bad_request(
                "Query is too old and response timeout expired or query ID is invalid"
            )
        query["answered"] = True
        return True

    async def _send_chat_action(self, st: _BotState, params: dict[str, Any]) -> bool:
        self._resolve_chat(st, params)
        if str(params.get("action", "")).lower() not in CHAT_ACTIONS:
            raise _bad_request("Wrong parameter action in request")
        return True

    async def _get_file(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        if not file_id:
            raise _bad_request('Parameter "file_id" is required')
        stored = st.files.get(file_id)
        if stored is None:
            raise _bad_request("Invalid file_id")
        return stored.as_file()

    async def _set_webhook(self, st: _BotState, params: dict[str, Any]) -> _Answer:
        url = str(params.get("url", ""))
        if not url:
            return await self._delete_webhook(st, params)
        now = time.monotonic()
        # [server] process_set_webhook_query(): at most one setWebhook with a URL per second.
        if now < st.next_set_webhook_time:
            raise BotApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        st.next_set_webhook_time = now + 1
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _bad_request("Invalid webhook URL specified")
        if not _is_loopback(parts.hostname):
            # [server] WebhookActor: HTTPS only, on ports 443, 80, 88 or 8443.
            if parts.scheme != "https":
                raise _bad_request("Bad webhook: An HTTPS URL must be provided for webhook")
            if (parts.port or 443) not in (443, 80, 88, 8443):
                raise _bad_request(
                    "Bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )
        secret = str(params.get("secret_token", ""))
        if len(secret) > 256:
            raise _bad_request("Secret token is too long")
        if not re.fullmatch(r"[A-Za-z0-9_-]*", secret):
            raise _bad_request("Secret token contains unallowed characters")
        max_connections = min(max(_to_integer(params.get("max_connections", 40)) or 40, 1), 100)
        drop = bool(params.get("drop_pending_updates"))
        self._set_allowed_updates(st, params.get("allowed_updates"))
        current = st.webhook
        if (
            current is not None
            and (current.url, current.secret_token, current.max_connections)
            == (url, secret, max_connections)
            and not drop
        ):
            return _Answer(True, "Webhook is already set")
        if drop:
            st.queue.clear()
            st.redeliver.clear()
        self._abort_long_poll(st, "Conflict: terminated by setWebhook request")
        if current is not None:
            await self._stop_webhook(current)
        st.webhook = _Webhook(url, secret, max_connections, str(params.get("ip_address", "")))
        if _is_loopback(parts.hostname):
            st.webhook.task = asyncio.create_task(self._deliver(st, st.webhook))
        return _Answer(True, "Webhook was set")

    async def _delete_webhook(self, st: _BotState, params: dict[str, Any]) -> _Answer:
        if params.get("drop_pending_updates"):
            st.queue.clear()
            st.redeliver.clear()
        if st.webhook is None:
            return _Answer(True, "Webhook is already deleted")
        current, st.webhook = st.webhook, None
        await self._stop_webhook(current)
        return _Answer(True, "Webhook was deleted")

    def _webhook_info(self, st: _BotState) -> dict[str, Any]:
        # [server] JsonWebhookInfo.
        hook = st.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(st.queue) + len(st.redeliver),
        }
        if hook is not None:
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            info["max_connections"] = hook.max_connections
            info["ip_address"] = hook.ip_address or "127.0.0.1"
        if st.allowed_updates != DEFAULT_ALLOWED_UPDATES:
            info["allowed_updates"] = [t for t in UPDATE_TYPES if t in st.allowed_updates]
        return info

    async def _get_webhook_info(self, st: _BotState, params: dict[str, Any]) -> dict[str, Any]:
        return self._webhook_info(st)

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> tuple[str, str]:
        scope = params.get("scope")
        if scope in (None, ""):
            scope = {"type": "default"}
        if not isinstance(scope, dict):
            raise _bad_request("Can't parse BotCommandScope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code", ""))

    async def _set_my_commands(self, st: _BotState, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if isinstance(commands, str):
            raise _bad_request("Can't parse commands JSON object")
        if not isinstance(commands, list):
            raise _bad_request("Expected an Array of BotCommand")
        checked = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("Can't parse BotCommand: expected an Object")
            name = str(command.get("command", "")).lstrip("/")
            description = str(command.get("description", ""))
            # [api] BotCommand: 1-32 of a-z, 0-9 and _; description 1-256 characters.
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            checked.append({"command": name, "description": description})
        st.commands[self._commands_key(params)] = checked
        return True

    async def _get_my_commands(self, st: _BotState, params: dict[str, Any]) -> list[Any]:
        return copy.deepcopy(st.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, st: _BotState, params: dict[str, Any]) -> bool:
        st.commands.pop(self._commands_key(params), None)
        return True

    # ---------------------------------------------------------------- webhook delivery

    async def _stop_webhook(self, hook: _Webhook) -> None:
        if hook.task is not None:
            hook.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hook.task
            hook.task = None

    async def _deliver(self, st: _BotState, hook: _Webhook) -> None:
        """[server] WebhookActor: POST each update as JSON, in order, until answered 2xx."""
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            while st.webhook is hook:
                update = (st.redeliver or st.queue or [None])[0]
                if update is None:
                    hook.wake.clear()
                    await hook.wake.wait()
                    continue
                if await self._post_update(st, hook, session, update):
                    if st.redeliver and st.redeliver[0] is update:
                        st.redeliver.popleft()
                    elif update in st.queue:
                        st.queue.remove(update)
                else:
                    await asyncio.sleep(self._webhook_retry_delay)

    async def _post_update(
        self, st: _BotState, hook: _Webhook, session: ClientSession, update: dict[str, Any]
    ) -> bool:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        try:
            async with session.post(hook.url, data=body, headers=headers) as resp:
                reply = await resp.read()
                if not 200 <= resp.status <= 299:
                    hook.last_error_date = int(time.time())
                    hook.last_error_message = (
                        f"Wrong response from the webhook: {resp.status} {resp.reason}"
                    )
                    return False
                content_type = resp.content_type
                reply_headers = dict(resp.headers)
        except (ClientError, TimeoutError, OSError) as e:
            hook.last_error_date = int(time.time())
            hook.last_error_message = str(e) or type(e).__name__
            return False
        # [api] "Making requests when getting updates": the webhook may answer with a method.
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            params = await _read_reply_params(content_type, reply_headers, reply)
            method = str(params.pop("method", "")).lower()
            if (
                method in self._methods
                and method not in _WEBHOOK_REPLY_IGNORED
                and not method.startswith("get")
            ):
                await self._dispatch(st, self._methods[method][0], params, via_webhook_reply=True)
        return True


def _callback_data(message: Mapping[str, Any]) -> set[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["callback_data"] for row in rows for b in row if "callback_data" in b}
