"""Telegram and Bale (same Bot API): updates to ``IncomingMessage``, ``Reply`` to Bot API calls.

Nothing outside this package knows the Bot API's wire format: updates are read here, replies
are written in :mod:`channels.telegram.sender`. Bale follows Telegram's Bot API, so both go
through here; where Bale differs (it parses Markdown by default) the difference is a flag on
:class:`~channels.telegram.sender.TelegramSender`, not a second adapter.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from aiogram import Bot
from aiogram.types import CallbackQuery, Message, Update

from peygir.messages.types import Attachment, Contact, IncomingMessage, Location

MAX_TEXT = 4096  # Telegram's limit for one message, in characters


def _start_payload(text: str) -> str | None:
    """``/start`` or ``/start <payload>`` (a deep link); None for anything else."""
    if text == "/start" or text.startswith(("/start ", "/start@")):
        parts = text.split(maxsplit=1)
        return parts[1].strip() if len(parts) > 1 else ""
    return None


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.voice:
        v = message.voice
        found.append(Attachment("voice", v.file_id, v.mime_type, v.file_size, v.duration))
    if message.audio:
        a = message.audio
        found.append(Attachment("audio", a.file_id, a.mime_type, a.file_size, a.duration))
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(Attachment("photo", largest.file_id, "image/jpeg", largest.file_size))
    if message.video:
        video = message.video
        found.append(Attachment("video", video.file_id, video.mime_type, video.file_size,
                                video.duration))
    if message.video_note:
        n = message.video_note
        found.append(Attachment("video_note", n.file_id, "video/mp4", n.file_size, n.duration))
    if message.document:
        d = message.document
        found.append(Attachment("document", d.file_id, d.mime_type, d.file_size))
    return tuple(found)


def _unsupported(message: Message) -> str | None:
    if message.sticker:
        return "sticker"
    if message.poll:
        return "poll"
    known = (message.text or message.caption or message.location or message.venue
             or message.contact or _attachments(message))
    return None if known else "other"


def message_to_incoming(
    message: Message, channel: str, update_id: int, *, edited: bool = False
) -> IncomingMessage | None:
    """A private chat's message; None for groups and channels, which we leave alone."""
    if message.chat.type != "private" or message.from_user is None:
        return None
    text = message.text or message.caption or ""
    payload = _start_payload(text)
    location = message.location or (message.venue.location if message.venue else None)
    contact = message.contact
    own_contact = contact is not None and contact.user_id == message.from_user.id
    return IncomingMessage(
        channel=channel,
        chat_id=str(message.chat.id),
        user_id=str(message.from_user.id),
        message_id=str(message.message_id),
        dedup_key=f"{channel}:{update_id}",
        text="" if payload is not None else text,
        attachments=_attachments(message),
        location=Location(location.latitude, location.longitude) if location else None,
        # Only a number the citizen shared of themselves, never a forwarded contact card.
        contact=Contact(contact.phone_number, str(contact.user_id))
        if own_contact and contact else None,
        start_payload=payload,
        media_group=message.media_group_id,
        unsupported="edited" if edited else _unsupported(message),
        received_at=message.date,
    )


def callback_to_incoming(query: CallbackQuery, channel: str, update_id: int
                         ) -> IncomingMessage | None:
    if query.message is None or query.message.chat.type != "private":
        return None
    return IncomingMessage(
        channel=channel,
        chat_id=str(query.message.chat.id),
        user_id=str(query.from_user.id),
        message_id=str(query.message.message_id),
        dedup_key=f"{channel}:{update_id}",
        callback_data=query.data or "",
    )


def to_incoming(update: Update, channel: str) -> IncomingMessage | None:
    """One Bot API update as our message; None for updates we ignore on purpose."""
    if update.message:
        return message_to_incoming(update.message, channel, update.update_id)
    if update.edited_message:
        return message_to_incoming(update.edited_message, channel, update.update_id,
                                   edited=True)
    if update.callback_query:
        return callback_to_incoming(update.callback_query, channel, update.update_id)
    return None


async def fetch_file(bot: Bot, item: Attachment, max_bytes: int
                     ) -> tuple[Attachment, bytes | None, str]:
    """``getFile``, then the download: the item (marked ``too_big`` when over the limit), its
    bytes (None when not fetched) and the extension Telegram's file path gives.

    The size is checked twice before any byte is fetched: the update's own ``file_size`` and
    ``getFile``'s; a file over the limit is not fetched.
    """
    if item.size is not None and item.size > max_bytes:
        return replace(item, too_big=True), None, ""
    info = await bot.get_file(item.file_ref)
    if info.file_size is not None and info.file_size > max_bytes:
        return replace(item, too_big=True, size=info.file_size), None, ""
    if not info.file_path:
        return item, None, ""
    buffer = io.BytesIO()
    await bot.download_file(info.file_path, destination=buffer)
    data = buffer.getvalue()
    if len(data) > max_bytes:
        return replace(item, too_big=True, size=len(data)), None, ""
    return item, data, Path(info.file_path).suffix[:8]
