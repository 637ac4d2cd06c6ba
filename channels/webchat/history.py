"""The web chat's history, so a reload, another tab or a restart of `peygir serve` shows the
conversation again: the chat's transcript (``ticket_store.chatlog``) and, from the chat's
state, which buttons are still live (``bots.chat_state``: the last ones offered, until one is
used). Only the chat the cookie names, and only its newest lines.
"""

from __future__ import annotations

from pydantic import BaseModel

from peygir.channels.webchat.chat import for_browser
from peygir.conversation.chat_state import as_chat_state
from peygir.messages.types import Button, Reply
from peygir.ticket_store import chatlog, outbox, store

HISTORY_LINES = 150  # what a reload shows: the chat's newest lines


class HistoryOut(BaseModel):
    lines: list[dict[str, object]]


async def history(channel: str, chat: str) -> HistoryOut:
    # Replies still waiting are taken now: they are in the transcript, and a poll after the
    # reload must not show them a second time.
    await outbox.take(channel, chat)
    lines = await chatlog.of_chat(channel, chat, HISTORY_LINES)
    offered = [b["data"] for b in as_chat_state(await store.load_state(channel, chat)).get(
        "offered", [])]
    last_buttons = max((i for i, line in enumerate(lines) if line.buttons), default=-1)
    shown: list[dict[str, object]] = []
    for i, line in enumerate(lines):
        if line.direction == chatlog.IN:
            shown.append({"from": "citizen", "kind": line.kind, "text": line.text})
            continue
        reply = Reply(line.text, tuple(tuple(Button(label, data) for label, data in row)
                                       for row in line.buttons), photos=line.photos)
        data = [d for row in line.buttons for _, d in row]
        live = i == last_buttons and bool(offered) and data == offered
        shown.append({"from": "bot", **for_browser(reply), "live": live})
    return HistoryOut(lines=shown)
