"""Driving a bot through the Bot API of the tests (tests/fakes/botapi.py): a citizen's update
pushed, then the bot's answer waited for; shared by the feature tests that talk to Telegram."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from peygir.ticket_store.models import OutboxMessage
from tests.fakes.botapi import FakeBotApi

TG = "111:TELEGRAM"  # the token every feature test's bot uses


def buttons(call: dict[str, Any]) -> list[str]:
    """The callback data of a sent message's inline buttons."""
    markup = call["params"].get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


async def said(api: FakeBotApi, chat: int, since: int, pattern: str) -> dict[str, Any]:
    """The bot's first message to ``chat`` after call ``since`` matching ``pattern``."""
    return await api.wait_for_sent(
        TG, lambda c: re.search(pattern, c["params"].get("text", "")) is not None,
        method="sendMessage", chat_id=chat, since=since, timeout=15)


async def answer(api: FakeBotApi, chat: int, push: Callable[[], object], pattern: str
                 ) -> dict[str, Any]:
    """Push an update, then the bot's message to ``chat`` matching ``pattern``."""
    mark = len(api.calls(TG))
    push()
    return await said(api, chat, mark, pattern)


async def text_then(api: FakeBotApi, chat: int, text: str, pattern: str) -> dict[str, Any]:
    return await answer(api, chat, lambda: api.push_message(TG, chat, text), pattern)


async def tap_then(api: FakeBotApi, chat: int, data: str, pattern: str) -> dict[str, Any]:
    return await answer(api, chat, lambda: api.push_callback(TG, chat, data), pattern)


async def settle(api: FakeBotApi, channel: str | None = "telegram") -> None:
    """Until every update is confirmed and every reply sent (of ``channel``; of all when
    None), or 10 s."""
    for _ in range(100):
        await asyncio.sleep(0.1)
        waiting = OutboxMessage.filter(sent_at__isnull=True)
        if channel is not None:
            waiting = waiting.filter(channel=channel)
        if not api.pending(TG) and not await waiting.exists():
            return
