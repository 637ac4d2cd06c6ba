"""The deadline scheduler in ``peygir serve``: escalations, auto-closing and the dashboard's
daily roll-ups, on the database.

It keeps no state of its own: every pass asks the database what is due, and the database's
unique constraints make each alert fire once, so a restart or a second process running the
same scheduler changes nothing. The roll-up job takes a database lock, so two schedulers
take turns (``ticket_store/rollups.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ticket_store import rollups
from ticket_store.escalation import auto_close, escalate
from ticket_store.workflow import Workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    escalated: int
    closed: int
    rolled_days: int = 0  # past days whose dashboard roll-ups were redone


class Scheduler:
    def __init__(self, workflow: Workflow, interval: float = 60.0,
                 clock: Callable[[], datetime] | None = None,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.workflow = workflow
        self.interval = interval
        self.clock = clock or workflow.clock
        self.on_queued = on_queued  # wakes the outbox workers when alerts were queued

    async def tick(self) -> Tick:
        now = self.clock()
        fired = await escalate(self.workflow, now)
        closed = await auto_close(self.workflow, now)
        if fired or closed:
            self.on_queued()
        rolled = await rollups.refresh(now)
        return Tick(len(fired), closed, rolled.days)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # the database went away for a moment: try again next pass
                log.exception("scheduler pass failed; retrying in %.0f s", self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
