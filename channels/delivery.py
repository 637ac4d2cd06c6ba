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
from peygir.ticket_store import leases, outbox
from peygir.ticket_store.outbox import Queued

log = logging.getLogger(__name__)


CLAIM_TIMEOUT = 120  # seconds; longer than any one Bot API call is allowed to take
LOOK_FOR_DEAD = timedelta(seconds=3)  # between looks for claims of processes that are gone


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
        claim_timeout: float = CLAIM_TIMEOUT,
    ) -> None:
        self.channel = channel
        self.sender = sender
        self.clock = clock
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.batch = batch
        self.claim_timeout = timedelta(seconds=claim_timeout)
        self._look_for_dead = clock()  # next look for claims of processes that are gone
        self.wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()  # one delivery task per chat
        self._sent: list[int] = []  # delivered, to be marked sent by the next flush

    async def report_interrupted(self) -> int:
        """At start-up: replies claimed by a process that died before marking them.

        They may or may not have reached the citizen, so they are closed as interrupted
        rather than sent again. Alone on the database (SQLite), any claim found at start-up
        is a dead process's; on a shared one, only claims older than the claim timeout are:
        younger ones may be another worker's, in flight (:meth:`_dispatch` closes them once
        they age)."""
        now = self.clock()
        before = now - self.claim_timeout if leases.database_shared() else None
        stuck = await outbox.close_interrupted(self.channel, now, claimed_before=before)
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
        """Claim the head of each chat's queue that may go now, in one statement, and start
        a delivery task for each chat whose head this worker got.

        A delivery claims each later reply of its chat just before sending it, so a worker
        that dies holds at most the one reply it was handing over (it may have arrived: it is
        closed, never sent twice) and the rest of the chat's queue goes on from another
        worker. Sent marks are written by :meth:`_flush`, one statement for many replies; a
        chat whose delivery is still running is left alone (its claimed reply heads its
        queue), so replies keep flowing to other chats without waiting for the slowest send.
        """
        rows = await outbox.unsent(self.channel, self.batch)
        by_chat: dict[str, list[Queued]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        now = self.clock()
        ready: list[list[Queued]] = []
        dead = False
        for chat_rows in by_chat.values():
            chat_ready, chat_dead = self._ready(chat_rows, now)
            dead = dead or chat_dead
            if chat_ready:
                ready.append(chat_ready)
        # Claims older than any send may take, or (now and then, on a shared database) held
        # by a process that is gone: closed, so their chats go on.
        others = any(r.claimed_at is not None for r in rows) and leases.database_shared()
        if dead or (others and now >= self._look_for_dead):
            self._look_for_dead = now + LOOK_FOR_DEAD
            closed = await outbox.close_interrupted(self.channel, now,
                                                    claimed_before=now - self.claim_timeout)
            if closed:
                log.warning("%s: %d replies were claimed by a worker that stopped; they may "
                            "have arrived and are not sent again", self.channel, closed)
                self.wake.set()  # their chats' next replies may go now
        claimed = await outbox.claim([chat_rows[0].id for chat_rows in ready], now)
        started = []
        # Chats are independent; within a chat the order of replies matters.
        for chat_rows in ready:
            if chat_rows[0].id in claimed:
                task = asyncio.create_task(self._deliver_chat(chat_rows))
                self._running.add(task)
                task.add_done_callback(self._finished)
                started.append(task)
        return started

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.wake.set()  # its marks are due, and its chat may have more to send

    async def _flush(self) -> None:
        """Mark finished deliveries sent."""
        sent, self._sent = self._sent, []
        try:
            await outbox.sent(sent, self.clock())
        except Exception:
            self._sent[:0] = sent  # kept for the next flush
            raise

    def _ready(self, rows: list[Queued], now: datetime) -> tuple[list[Queued], bool]:
        """The replies of one chat that may go now (up to one that must not be overtaken),
        and whether a claim older than the claim timeout was passed over."""
        ready: list[Queued] = []
        dead = False
        for row in rows:
            if row.claimed_at is not None:
                if now - row.claimed_at > self.claim_timeout:
                    dead = True
                    continue  # sent, or not, by a worker that died: never twice
                break  # in the hands of a worker right now
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                break  # a later reply must not overtake one that is waiting
            ready.append(row)
        return ready, dead

    async def _deliver_chat(self, rows: list[Queued]) -> None:
        # The head is claimed; each later reply is claimed as its turn comes. The one before
        # it stays claimed until the next flush marks it sent, so no other worker starts on
        # this chat meanwhile. self._sent is read at each use: a flush swaps it.
        for i, row in enumerate(rows):
            if i and not await outbox.claim([row.id], self.clock()):
                return  # taken meanwhile: the chat's queue is in other hands
            try:
                await self.sender.send(row.chat_id, row.reply)
            except RetryLater as wait:
                await self._postpone(row, wait.seconds, str(wait), count=False)
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

