"""Eitaa notifications: replies the mini-app did not show go out through Eitaa's sending API.

The mini-app shows a conversation's replies at once. A reply it has not picked up after
``push_after`` seconds (a notification that came later, with the mini-app closed) is sent as
an Eitaa message instead. The mini-app and this worker take a reply by a conditional update
each, so a reply is shown in one place or the other, never both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from peygir.channels.delivery import RetryLater, Sender, Undeliverable
from peygir.channels.eitaa.initdata import CHANNEL
from peygir.config import loop
from peygir.config.clock import utcnow
from peygir.messages.types import Reply
from peygir.ticket_store import outbox

log = logging.getLogger(__name__)


async def take_for_app(chat_id: str) -> list[Reply]:
    """The replies waiting for this chat that the push worker has not taken; marked sent."""
    return [row.reply for row in await outbox.take(CHANNEL, chat_id, None, unclaimed=True)]


class EitaaPush:
    def __init__(self, sender: Sender, *, push_after: float = 20.0, idle: float = 2.0,
                 max_attempts: int = 8, clock: Callable[[], datetime] = utcnow) -> None:
        self.sender = sender
        self.push_after = push_after
        self.idle = idle
        self.max_attempts = max_attempts
        self.clock = clock
        self.stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def push_due(self) -> int:
        now = self.clock()
        rows = await outbox.unsent(CHANNEL, 100, unclaimed=True,
                                   created_before=now - timedelta(seconds=self.push_after))
        sent = 0
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                continue
            if not await outbox.claim([row.id], now):
                continue  # the mini-app showed it a moment ago
            try:
                await self.sender.send(row.chat_id, row.reply)
            except Undeliverable as refused:
                log.warning("eitaa: notification %d refused: %s", row.id, refused)
                await outbox.give_up(row, str(refused), self.clock())
                continue
            except Exception as fault:
                asked = isinstance(fault, RetryLater)  # Eitaa's own "wait" is not a failure
                wait = fault.seconds if isinstance(fault, RetryLater) else 2.0 ** row.attempts
                log.warning("eitaa: notification %d failed (%s); retrying in %.0f s", row.id,
                            fault, wait)
                await outbox.retry_later(row, wait, repr(fault), self.clock(), count=not asked,
                                         max_attempts=self.max_attempts)
                continue
            await outbox.sent([row.id], self.clock())
            sent += 1
        return sent

    async def run(self) -> None:
        await loop.work("eitaa notifications", self.push_due, self.stopped, self.idle)

    async def start(self) -> None:
        self.stopped = asyncio.Event()  # a fresh one: the worker may be started again
        self._task = asyncio.create_task(self.run(), name="eitaa-push")

    async def stop(self) -> None:
        self.stopped.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        close = getattr(self.sender, "close", None)
        if close is not None:
            await close()
