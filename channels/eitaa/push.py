"""Eitaa notifications: replies the mini-app did not show go out through Eitaa's sending API.

The mini-app shows a conversation's replies at once. A reply it has not picked up after
``push_after`` seconds (a notification that came later, with the mini-app closed) is sent as
an Eitaa message instead. The mini-app and this worker take a reply by a conditional update
each, so a reply is shown in one place or the other, never both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bots.outbox import RetryLater, Sender, Undeliverable
from channels.eitaa.initdata import CHANNEL
from messages.types import Reply
from ticket_store import store
from ticket_store.models import OutboxMessage

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def take_for_app(chat_id: str) -> list[Reply]:
    """The replies waiting for this chat that the push worker has not taken; marked sent."""
    rows = await OutboxMessage.filter(channel=CHANNEL, chat_id=chat_id, sent_at__isnull=True,
                                      claimed_at__isnull=True, failed_at__isnull=True
                                      ).order_by("id")
    taken: list[Reply] = []
    for row in rows:
        if await OutboxMessage.filter(id=row.id, sent_at__isnull=True,
                                      claimed_at__isnull=True).update(sent_at=_utcnow()):
            taken.append(Reply.from_payload(row.payload))
    return taken


class EitaaPush:
    def __init__(self, sender: Sender, *, push_after: float = 20.0, idle: float = 2.0,
                 max_attempts: int = 8, clock: Callable[[], datetime] = _utcnow) -> None:
        self.sender = sender
        self.push_after = push_after
        self.idle = idle
        self.max_attempts = max_attempts
        self.clock = clock
        self.stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def push_due(self) -> int:
        now = self.clock()
        rows = await OutboxMessage.filter(
            channel=CHANNEL, sent_at__isnull=True, claimed_at__isnull=True,
            failed_at__isnull=True, created_at__lte=now - timedelta(seconds=self.push_after),
        ).order_by("id").limit(100)
        sent = 0
        for row in rows:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                continue
            if not await OutboxMessage.filter(id=row.id, sent_at__isnull=True,
                                              claimed_at__isnull=True).update(claimed_at=now):
                continue  # the mini-app showed it a moment ago
            try:
                await self.sender.send(row.chat_id, Reply.from_payload(row.payload))
            except Undeliverable as refused:
                log.warning("eitaa: notification %d refused: %s", row.id, refused)
                await store.give_up(row, str(refused), self.clock())
                continue
            except Exception as fault:
                asked = isinstance(fault, RetryLater)  # Eitaa's own "wait" is not a failure
                wait = fault.seconds if isinstance(fault, RetryLater) else 2.0 ** row.attempts
                log.warning("eitaa: notification %d failed (%s); retrying in %.0f s", row.id,
                            fault, wait)
                await store.retry_later(row, wait, repr(fault), self.clock(), count=not asked,
                                        max_attempts=self.max_attempts)
                continue
            await OutboxMessage.filter(id=row.id).update(sent_at=self.clock())
            sent += 1
        return sent

    async def run(self) -> None:
        while not self.stopped.is_set():
            try:
                await self.push_due()
            except Exception:
                log.exception("eitaa: notification pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopped.wait(), timeout=self.idle)

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
