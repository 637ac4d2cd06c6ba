"""Delivering signed webhooks (``ticket_store/webhooks.py`` queues them).

Each delivery is one POST of the event's JSON, signed as Stripe signs its webhooks::

    Peygir-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    Peygir-Event-Id: <the event's id, also "id" in the body>

A receiver recomputes the HMAC over the exact bytes, compares in constant time, refuses a
``t`` older than a few minutes (a replay) and keeps the ids it has seen (a retry after a
lost answer carries the same id). Any 2xx is delivered; anything else, or no answer, is
tried again with exponential backoff (to ``max_delay``), up to ``max_attempts`` times. A
subscription's events about one ticket go in the order they happened: a later one waits
until the earlier one is delivered or given up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from peygir.config import loop
from peygir.config.clock import utcnow
from peygir.ticket_store import webhooks
from peygir.ticket_store.models import WebhookDelivery

log = logging.getLogger(__name__)
KEEP = timedelta(days=7)  # delivered events are kept this long (for the panel's counts)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Peygir-Signature`` header for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance: float = 300.0,
           now: float | None = None) -> bool:
    """What a receiver does (peygir's tests and any Python receiver may use it)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSender:
    def __init__(self, *, clock: Callable[[], datetime] = utcnow, interval: float = 2.0,
                 timeout: float = 10.0, base_delay: float = 2.0, max_delay: float = 3600.0,
                 max_attempts: int = 20, batch: int = 500,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.clock = clock
        self.interval = interval
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.batch = batch
        self.timeout = timeout
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport, trust_env=False,
                                      follow_redirects=False,
                                      headers={"User-Agent": "peygir-webhooks"})
        self.wake = asyncio.Event()
        self._secrets: dict[int, tuple[str, str]] = {}
        self._pruned: datetime | None = None  # when delivered rows were last pruned

    async def step(self) -> int:
        """One pass: every due run, runs side by side; returns how many were delivered."""
        now = self.clock()
        if self._pruned is None or now - self._pruned > timedelta(hours=1):
            await webhooks.prune(now - KEEP)
            self._pruned = now
        runs = await webhooks.claim(now, self.timeout * 4 + 30, self.batch)
        self._secrets = {s.id: (s.url, s.secret) for s in await webhooks.subscriptions()}
        done = await asyncio.gather(*(self._run(run) for run in runs))
        return sum(done)

    async def _run(self, run: list[WebhookDelivery]) -> int:
        sent = 0
        for index, row in enumerate(run):
            if not await self._deliver(row):
                await webhooks.release([r.id for r in run[index + 1:]])  # order first
                break
            sent += 1
        return sent

    async def _deliver(self, row: WebhookDelivery) -> bool:
        target = self._secrets.get(row.subscription_id)
        now = self.clock()
        if target is None:  # removed meanwhile (its rows go with it)
            return False
        url, secret = target
        body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json",
                   "Peygir-Signature": sign(secret, body, int(time.time())),
                   "Peygir-Event-Id": row.event_id, "Peygir-Event": row.event}
        try:
            answer = await self.http.post(url, content=body, headers=headers)
            ok, result = 200 <= answer.status_code < 300, str(answer.status_code)
        except httpx.HTTPError as exc:
            ok, result = False, type(exc).__name__
        await webhooks.note_result(row.subscription_id, result, self.clock())
        if ok:
            await webhooks.delivered(row.id, self.clock())
            return True
        delay = min(self.max_delay, self.base_delay * 2 ** min(row.attempts, 20))
        if await webhooks.retry_later(row, delay, result, now, self.max_attempts):
            log.warning("webhook %s to %s given up after %d tries (%s)", row.event_id, url,
                        self.max_attempts, result)
            return True  # given up: the next event of this ticket may go
        return False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await loop.work("webhooks", self.step, stop, self.interval, self.wake)
        finally:
            await self.http.aclose()
