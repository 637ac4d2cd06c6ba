"""Delivering the outbox: each reply sent once, in order per chat, retried with backoff.

A sender raises :class:`RetryLater` when the messenger asks us to wait (Telegram's 429 with
``retry_after``), :class:`Undeliverable` when it will never take the message (the citizen
blocked the bot), and anything else for a passing fault, which is retried with exponential
backoff. A message is *claimed* before it is handed over and marked sent after; one claimed
but unmarked when the process died may already have arrived, so it is logged, not resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from peygir.config import loop
from peygir.config.clock import utcnow
from peygir.messages.types import Reply
from peygir.ticket_store import outbox
from peygir.ticket_store.outbox import Queued

log = logging.getLogger(__name__)


CLAIM_TIMEOUT = 120  # seconds; longer than any one Bot API call is allowed to take


class RetryLater(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    pass


class Sender(Protocol):
    async def send(self, chat_id: str, reply: Reply) -> None: ...



class OutboxWorker:
    def __init__(
        self,
        channel: str,
        sender: Sender,
        *,
        clock: Callable[[], datetime] = utcnow,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        max_attempts: int = 12,
        batch: int = 100,
    ) -> None:
        self.channel = channel
        self.sender = sender
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.batch = batch
        self.wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()  # one delivery task per chat
        self._sent: list[int] = []  # delivered, to be marked sent by the next flush
        self._release: list[int] = []  # claimed but given back, to be released likewise

    async def report_interrupted(self) -> int:
        """At start-up: replies claimed by a process that died before marking them.

        They may or may not have reached the citizen, so they are closed as interrupted
        rather than sent again. (One process delivers a channel's outbox: any claim found
        at start-up belongs to a dead one.)"""
        stuck = await outbox.close_interrupted(self.channel, self.clock())
        if stuck:
            log.warning("%s: %d replies were being sent when the last process stopped; they "
                        "may have arrived and are not sent again", self.channel, stuck)
        return stuck

    async def deliver_due(self) -> int:
        """Send what is due now and wait for it; returns how many were sent."""
        await self._flush()
        started = await self._dispatch()
        await asyncio.gather(*started)
        sent = len(self._sent)
        await self._flush()
        return sent

    async def _dispatch(self) -> list[asyncio.Task[None]]:
        """Claim what may go now and start a delivery task for each chat that has some.

        One statement claims every reply of the pass, and :meth:`_flush` marks finished ones
        sent with one more, instead of two statements a reply. A chat whose delivery is still
        running is left alone (its claimed reply heads its queue), so replies keep flowing to
        other chats without waiting for the slowest send of a pass. A process that dies with
        replies claimed but not marked leaves them to :meth:`report_interrupted`: never twice.
        """
        rows = await outbox.unsent(self.channel, self.batch)
        by_chat: dict[str, list[Queued]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        now = self.clock()
        ready = {chat: self._ready(chat_rows, now) for chat, chat_rows in by_chat.items()}
        claimed = await outbox.claim([r.id for chat_rows in ready.values() for r in chat_rows],
                                     now)
        started = []
        # Chats are independent; within a chat the order of replies matters.
        for chat_rows in ready.values():
            if chat_rows and chat_rows[0].id in claimed:
                task = asyncio.create_task(self._deliver_chat(chat_rows, claimed))
                self._running.add(task)
                task.add_done_callback(self._finished)
                started.append(task)
            else:
                self._release.extend(r.id for r in chat_rows if r.id in claimed)
        return started

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wake.set()  # its marks are due, and its chat may have more to send

    async def _flush(self) -> None:
        """Mark finished deliveries sent, and release claims a delivery gave back."""
        sent, self._sent = self._sent, []
        release, self._release = self._release, []
        try:
            await outbox.sent(sent, self.clock())
            sent = []
            await outbox.release(release)
        except Exception:
            self._sent[:0], self._release[:0] = sent, release  # kept for the next flush
            raise

    def _ready(self, rows: list[Queued], now: datetime) -> list[Queued]:
        """The replies of one chat that may go now: up to one that must not be overtaken."""
        ready: list[Queued] = []
        for row in rows:
            if row.claimed_at is not None:
                if now - row.claimed_at > timedelta(seconds=CLAIM_TIMEOUT):
                    continue  # sent, or not, by a process that died: never twice
                break  # in the hands of another worker right now
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                break  # a later reply must not overtake one that is waiting
            ready.append(row)
        return ready

    async def _deliver_chat(self, rows: list[Queued], claimed: set[int]) -> None:
        # self._sent and self._release are read at each use: a flush swaps them meanwhile.
        for i, row in enumerate(rows):
            later = [r.id for r in rows[i + 1:] if r.id in claimed]
            if row.id not in claimed:
                self._release.extend(later)  # another worker has this chat's queue
                return
            try:
                await self.sender.send(row.chat_id, row.reply)
            except RetryLater as wait:
                await self._postpone(row, wait.seconds, str(wait), count=False)
                self._release.extend(later)
                return
            except Undeliverable as refused:
                log.warning("%s: reply %d to chat %s refused: %s", self.channel, row.id,
                            row.chat_id, refused)
                await outbox.give_up(row, str(refused), self.clock())
                continue
            except Exception as fault:  # a passing fault: network, 5xx
                delay = min(self.max_delay, self.base_delay * 2 ** row.attempts)
                log.warning("%s: reply %d failed (%s); retrying in %.0f s", self.channel,
                            row.id, fault, delay)
                await self._postpone(row, delay, repr(fault), count=True)
                self._release.extend(later)
                return
            self._sent.append(row.id)

    async def _postpone(self, row: Queued, seconds: float, error: str, count: bool) -> None:
        if await outbox.retry_later(row, seconds, error, self.clock(), count=count,
                                    max_attempts=self.max_attempts):
            log.error("%s: reply %d given up after %d attempts", self.channel, row.id,
                      row.attempts + int(count))

    async def run(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        await self.report_interrupted()
        try:
            await self._loop(stop, idle)
        finally:
            # Let deliveries in flight finish and mark them, so a clean stop leaves nothing
            # to be reported as interrupted at the next start.
            if self._running:
                await asyncio.wait(set(self._running), timeout=5)
            with contextlib.suppress(Exception):
                await self._flush()

    async def _loop(self, stop: asyncio.Event, idle: float) -> None:
        await loop.work(f"{self.channel} outbox", self._pass, stop, idle, self.wake)

    async def _pass(self) -> None:
        await self._flush()
        await self._dispatch()

