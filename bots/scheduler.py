"""The deadline scheduler in ``peygir serve``: escalations, auto-closing, the dashboard's
daily roll-ups and the data retention purge, on the database.

It keeps no state of its own: every pass asks the database what is due, and the database's
unique constraints make each alert fire once, so a restart or a second process running the
same scheduler changes nothing. The roll-up job takes a database lock, so two schedulers
take turns (``ticket_store/rollups.py``). The retention purge runs hourly and again at the
next tick while a backlog remains; when it last ran is the one thing kept in memory (a
restart runs it at once, which is harmless: each pass is idempotent and bounded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from peygir.config import loop
from peygir.conversation.alerts import send_digests
from peygir.ticket_store import leases, retention, rollups
from peygir.ticket_store.escalation import auto_close, escalate
from peygir.ticket_store.workflow import Workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    escalated: int
    closed: int
    rolled_days: int = 0  # past days whose dashboard roll-ups were redone
    anonymised: int = 0  # tickets whose personal data the retention purge removed
    digests: int = 0  # area alert digests queued (issue 20)


class Scheduler:
    def __init__(self, workflow: Workflow, interval: float = 60.0,
                 clock: Callable[[], datetime] | None = None,
                 on_queued: Callable[[], None] = lambda: None,
                 retention_policy: retention.Policy | None = None,
                 retention_every: float = 3600.0,
                 alert_digest_hour: int = 8, public_location_decimals: int = 3) -> None:
        self.workflow = workflow
        self.interval = interval
        self.clock = clock or workflow.clock
        self.on_queued = on_queued  # wakes the outbox workers when alerts were queued
        self.retention = retention_policy or retention.Policy()
        self.retention_every = timedelta(seconds=retention_every)
        self._retention_due: datetime | None = None  # None: at the first tick
        # Area alerts: each day's digests from this local hour; points rounded as in public.
        self.alert_digest_hour = alert_digest_hour
        self.public_location_decimals = public_location_decimals

    async def tick(self) -> Tick:
        now = self.clock()
        fired = await escalate(self.workflow, now)
        closed = await auto_close(self.workflow, now)
        if fired or closed:
            self.on_queued()
        rolled = await rollups.refresh(now)
        digests = await send_digests(
            self.workflow.pack, now, timezone=self.workflow.timezone,
            hour=self.alert_digest_hour, decimals=self.public_location_decimals)
        if digests:
            self.on_queued()
        return Tick(len(fired), closed, rolled.days, await self._retain(now), digests)

    async def _retain(self, now: datetime) -> int:
        """The retention purge, hourly: what it scans grows with the store, not with what is
        due. A backlog (the first run on years of tickets) is taken a capped slice a tick."""
        if self._retention_due is not None and now < self._retention_due:
            return 0
        done = await retention.purge(now, self.retention, max_batches=retention.MAX_BATCHES)
        self._retention_due = now if done.more else now + self.retention_every
        return done.tickets + done.requested

    async def run(self, stop: asyncio.Event) -> None:
        await loop.work("scheduler", self._tick_if_elected, stop, self.interval)

    async def _tick_if_elected(self) -> Tick | None:
        # Processes sharing PostgreSQL take turns by a lease: one ticks, the others stand by
        # and take over within an interval of its death (each job is idempotent anyway).
        if not await leases.hold("scheduler"):
            return None
        return await self.tick()

