"""The one loop every background worker runs: a pass, then sleep until woken, stopped, or
``idle`` seconds have gone by. A failing pass is logged and tried again on the next turn, so
a database that goes away for a moment never ends a worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def work(name: str, step: Callable[[], Awaitable[object]], stop: asyncio.Event,
               idle: float, wake: asyncio.Event | None = None) -> None:
    """Run ``step`` until ``stop`` is set. ``wake`` (when given) is cleared before each pass,
    so something queued during a pass starts the next one at once."""
    while not stop.is_set():
        if wake is not None:
            wake.clear()
        try:
            await step()
        except Exception:
            log.exception("%s: pass failed; trying again", name)
        await _sleep(stop, idle, wake)


async def _sleep(stop: asyncio.Event, idle: float, wake: asyncio.Event | None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
