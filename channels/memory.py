"""An in-process channel: tests talk to the real dialogue and database through it.

Like errbot's ``TestBot``: the real dialogue, store and outbox, no network. It is a
:class:`~channels.base.Channel` with nothing to start; :meth:`MemoryChannel.flush` is its
outbox worker, run when a test asks."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from peygir.channels.base import Quiet
from peygir.conversation.dialogue import Dialogue
from peygir.messages.types import Attachment, IncomingMessage, Location, Reply
from peygir.ticket_store import outbox

CHANNEL = "memory"


@dataclass
class MemoryChannel(Quiet):
    dialogue: Dialogue
    name: str = CHANNEL
    inbox: dict[str, list[Reply]] = field(default_factory=dict)  # what each chat received
    _update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def message(
        self, chat: str, text: str = "", *, callback: str | None = None,
        location: tuple[float, float] | None = None, start: str | None = None,
        update_id: int | None = None, attachments: tuple[Attachment, ...] = (),
    ) -> IncomingMessage:
        update = update_id if update_id is not None else next(self._update_ids)
        return IncomingMessage(
            channel=self.name, chat_id=chat, user_id=chat, message_id=str(update),
            dedup_key=f"{self.name}:{update}", text=text, callback_data=callback,
            location=Location(*location) if location else None, start_payload=start,
            attachments=attachments,
        )

    async def send(self, message: IncomingMessage) -> list[Reply]:
        """Deliver one update and return what reached the chat through the outbox."""
        await self.dialogue.handle(message)
        return await self.flush(message.chat_id)

    async def say(self, chat: str, text: str = "", **kwargs: object) -> list[Reply]:
        return await self.send(self.message(chat, text, **kwargs))  # type: ignore[arg-type]

    async def flush(self, chat: str | None = None) -> list[Reply]:
        delivered: list[Reply] = []
        for row in await outbox.take(self.name, chat):
            reply = row.reply
            self.inbox.setdefault(row.chat_id, []).append(reply)
            delivered.append(reply)
        return delivered
