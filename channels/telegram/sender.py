"""Replies as Bot API calls (Telegram and Bale), and the Bot API's errors as the outbox's."""

from __future__ import annotations

from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from peygir.channels.delivery import RetryLater, Undeliverable
from peygir.channels.telegram.wire import MAX_TEXT
from peygir.messages import texts
from peygir.messages.types import Reply, split_text

_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "_*[]()`"})


class TelegramSender:
    """Sends one :class:`Reply` as Bot API calls."""

    def __init__(self, bot: Bot, *, markdown_by_default: bool = False) -> None:
        self.bot = bot
        # We send plain text (no parse_mode). Telegram shows it as it is; Bale, reported to
        # parse Markdown when no parse_mode is given, gets Markdown's special characters
        # escaped so that a citizen's «_» or «*» comes back unchanged.
        self.markdown_by_default = markdown_by_default

    def _escape(self, text: str) -> str:
        return text.translate(_MARKDOWN_SPECIAL) if self.markdown_by_default else text

    async def send(self, chat_id: str, reply: Reply) -> None:
        # Evidence photos first, so the citizen sees the work before the buttons that ask
        # whether it is done. A local file is uploaded; anything else is a file_id or URL.
        for photo in reply.photos:
            source = FSInputFile(photo) if Path(photo).is_file() else photo
            await self.bot.send_photo(chat_id=int(chat_id), photo=source)
        keyboard = None
        if reply.buttons:
            keyboard = InlineKeyboardMarkup(inline_keyboard=[
                [InlineKeyboardButton(text=b.label[:64], callback_data=b.data[:64]) for b in row]
                for row in reply.buttons
            ])
        pieces = list(split_text(self._escape(reply.text), MAX_TEXT)) or [" "]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            await self.bot.send_message(
                chat_id=int(chat_id), text=piece, reply_markup=keyboard if last else None,
            )
        if reply.request_location:
            await self.bot.send_message(
                chat_id=int(chat_id), text=texts.LOCATION_PROMPT,
                reply_markup=ReplyKeyboardMarkup(
                    keyboard=[[KeyboardButton(text=texts.SEND_LOCATION, request_location=True)]],
                    resize_keyboard=True, one_time_keyboard=True,
                ),
            )
        if reply.request_contact:
            await self.bot.send_message(
                chat_id=int(chat_id), text=texts.CONTACT_PROMPT,
                reply_markup=ReplyKeyboardMarkup(
                    keyboard=[[KeyboardButton(text=texts.SEND_CONTACT, request_contact=True)]],
                    resize_keyboard=True, one_time_keyboard=True,
                ),
            )


class BotSender:
    """The outbox's sender for one bot: Bot API errors mapped to the outbox's signals."""

    def __init__(self, sender: TelegramSender) -> None:
        self.sender = sender

    async def send(self, chat_id: str, reply: Reply) -> None:
        try:
            await self.sender.send(chat_id, reply)
        except TelegramRetryAfter as wait:
            raise RetryLater(float(wait.retry_after)) from wait
        except (TelegramForbiddenError, TelegramBadRequest) as refused:
            raise Undeliverable(str(refused)) from refused
