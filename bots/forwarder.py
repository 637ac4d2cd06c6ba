"""The forwarder in ``peygir serve``: reports out to the city's Open311 back office, its
updates back to the citizens (peygir as the front door; ``endpoints.yaml``).

Sending: due rows are claimed with a lease (``ticket_store/forwarding.py``) and POSTed under
their idempotency key. When a back office is away (no connection, 5xx, 429) the forwarder
backs off *that back office* exponentially (to ``max_delay``) and leaves its other reports
queued untouched, so an hour away costs one probe per backoff step, and the backlog drains
at full speed once it answers. A refusal (4xx) sets the report aside for staff; a request
that may have arrived is resent only under the same key, or set aside for staff when the
back office ignores keys (``idempotent: false``).

Fetching: every ``fetch_interval`` the forwarder asks each back office about the reports it
holds (``GET requests`` by ids, 50 at a time; ``GET tokens/{id}`` for those it knows only by
token) and reads the window since its last look (``start_date``/``end_date``), and applies
what changed through the workflow (``ticket_store/remote_updates.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from peygir.bots.open311_client import Away, MaybeArrived, Open311Client, Refused
from peygir.config import loop
from peygir.config.clock import utcnow
from peygir.config.endpoints import Endpoint
from peygir.media_ingest.links import MediaLinks
from peygir.ticket_store import forwarding
from peygir.ticket_store.forwarding import Outgoing
from peygir.ticket_store.models import ForwardState
from peygir.ticket_store.remote_updates import apply_update
from peygir.ticket_store.workflow import Workflow

log = logging.getLogger(__name__)
IDS_PER_GET = 50
MAX_PHOTOS = 10  # links per report: one as media_url, the rest in the description
WINDOW_OVERLAP = timedelta(minutes=5)  # clocks differ; an update read twice applies once


def api_key(endpoint: Endpoint) -> str | None:
    if endpoint.api_key_env:
        return os.environ.get(endpoint.api_key_env) or None
    return endpoint.api_key


class Forwarder:
    def __init__(self, workflow: Workflow, endpoints: tuple[Endpoint, ...], *,
                 clock: Callable[[], datetime] = utcnow, send_interval: float = 5.0,
                 fetch_interval: float = 60.0, base_delay: float = 1.0,
                 max_delay: float = 60.0, batch: int = 200, parallel: int = 4,
                 on_queued: Callable[[], None] = lambda: None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 media_links: MediaLinks | None = None) -> None:
        self.workflow = workflow
        self.endpoints = {e.name: e for e in endpoints}
        self.clock = clock
        self.send_interval = send_interval
        self.fetch_interval = fetch_interval
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch = batch
        self.parallel = parallel
        self.on_queued = on_queued  # wakes the outbox workers after updates were applied
        # None (no secret or no public base): reports go without their photos, as before.
        self.media_links = media_links
        self.clients = {e.name: Open311Client(e, api_key(e), transport) for e in endpoints}
        self.wake = asyncio.Event()
        self._away: dict[str, tuple[int, datetime]] = {}  # endpoint: (failures, until)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    # -- sending -----------------------------------------------------------------------------
    def _is_away(self, name: str, now: datetime) -> bool:
        away = self._away.get(name)
        return away is not None and now < away[1]

    def _went_away(self, name: str, now: datetime) -> float:
        failures = self._away.get(name, (0, now))[0] + 1
        delay = min(self.max_delay, self.base_delay * 2 ** min(failures - 1, 20))
        self._away[name] = (failures, now + timedelta(seconds=delay))
        return delay

    async def send_pass(self) -> int:
        """Send what is due; returns how many reached their back office."""
        now = self.clock()
        lease = max(e.timeout for e in self.endpoints.values()) * 3 + 60 if self.endpoints \
            else 60
        claimed = await forwarding.claim(now, lease, self.batch)
        by_endpoint: dict[str, list[Outgoing]] = defaultdict(list)
        for report in claimed:
            by_endpoint[report.endpoint].append(report)
        counts = await asyncio.gather(*(self._send_to(name, reports)
                                        for name, reports in by_endpoint.items()))
        return sum(counts)

    async def _send_to(self, name: str, reports: list[Outgoing]) -> int:
        endpoint, client = self.endpoints.get(name), self.clients.get(name)
        if endpoint is None or client is None:  # the pack no longer names it: keep waiting
            for report in reports:
                await forwarding.retry_later(report.id, report.attempts, self.max_delay,
                                             f"no endpoint {name!r} in endpoints.yaml",
                                             self.clock())
            return 0
        queue = list(reports)
        done = 0
        lock = asyncio.Lock()

        async def one() -> None:
            nonlocal done
            while queue:
                now = self.clock()
                async with lock:
                    if not queue:
                        return
                    if self._is_away(name, now):  # leave the rest queued for later
                        rest = [r.id for r in queue]
                        queue.clear()
                        await forwarding.release(rest)
                        return
                    report = queue.pop(0)
                result = await self._send_one(endpoint, client, report)
                done += result  # not `done += await`: it would read done before waiting

        await asyncio.gather(*(one() for _ in range(self.parallel)))
        return done

    async def _send_one(self, endpoint: Endpoint, client: Open311Client,
                        report: Outgoing) -> int:
        now = self.clock()
        if report.interrupted and not endpoint.idempotent:
            await forwarding.set_aside(report.id, ForwardState.UNCERTAIN,
                                       "a send was interrupted; it may have arrived")
            return 0
        try:
            remote_id, token = await client.post(report, self._media_urls(report, now))
        except Refused as exc:
            log.warning("forwarding %s refused by %s: %s", report.tracking_code,
                        endpoint.name, exc)
            await forwarding.set_aside(report.id, ForwardState.FAILED, str(exc))
            return 0
        except MaybeArrived as exc:
            if not endpoint.idempotent:
                await forwarding.set_aside(report.id, ForwardState.UNCERTAIN, str(exc))
                return 0
            delay = self._went_away(endpoint.name, self.clock())
            await forwarding.retry_later(report.id, report.attempts, delay, str(exc),
                                         self.clock())
            return 0
        except Away as exc:
            delay = self._went_away(endpoint.name, self.clock())
            log.info("%s is away (%s); next try in %.0f s", endpoint.name, exc, delay)
            await forwarding.retry_later(report.id, report.attempts, delay, str(exc),
                                         self.clock())
            return 0
        self._away.pop(endpoint.name, None)
        await forwarding.sent(report.id, remote_id, token, now)
        return 1

    def _media_urls(self, report: Outgoing, now: datetime) -> list[str]:
        """Signed links to this report's photos, made afresh for each try: a report that waited
        out a long absence of its back office still arrives with links of full lifetime."""
        if self.media_links is None:
            return []
        links = self.media_links
        return [links.url(photo_id, sha256, now)
                for photo_id, sha256 in report.photos[:MAX_PHOTOS]]

    # -- fetching ----------------------------------------------------------------------------
    async def fetch_pass(self, limit: int = 500) -> int:
        """Ask each back office what became of its reports; returns updates applied."""
        applied = 0
        for name, client in self.clients.items():
            now = self.clock()
            if self._is_away(name, now):
                continue
            try:
                applied += await self._fetch(name, client, now, limit)
            except (Away, MaybeArrived, Refused) as exc:
                log.info("fetching updates from %s: %s", name, exc)
        if applied:
            self.on_queued()
        return applied

    async def _fetch(self, name: str, client: Open311Client, now: datetime,
                     limit: int) -> int:
        watched = await forwarding.to_watch(name, limit)
        for row in watched:
            if row.remote_id is None and row.remote_token:
                remote_id = await client.token(row.remote_token)
                if remote_id:
                    await forwarding.token_resolved(row.id, remote_id)
        by_remote = await forwarding.by_remote_ids(
            name, [row.remote_id for row in watched if row.remote_id])
        applied = 0
        ids = list(by_remote)
        for start in range(0, len(ids), IDS_PER_GET):
            for remote in await client.requests(ids=ids[start:start + IDS_PER_GET]):
                row_id = by_remote.get(remote.service_request_id)
                if row_id is not None:
                    applied += await apply_update(self.workflow, row_id, remote.status,
                                                  remote.notes, self.clock())
        await forwarding.checked([row.id for row in watched], now)
        # The window since the last look: what changed among reports not asked about above.
        since = await forwarding.cursor(name) or now - timedelta(days=1)
        window = await client.requests(start=since - WINDOW_OVERLAP, end=now)
        known = await forwarding.by_remote_ids(
            name, [r.service_request_id for r in window if r.service_request_id not in by_remote])
        for remote in window:
            row_id = known.get(remote.service_request_id)
            if row_id is not None:
                applied += await apply_update(self.workflow, row_id, remote.status,
                                              remote.notes, self.clock())
        await forwarding.move_cursor(name, now)
        return applied

    # -- running -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        async def fetching() -> None:
            await loop.work("forwarder fetch", self.fetch_pass, stop, self.fetch_interval)

        async def sending() -> None:
            if await self.send_pass():  # a backlog drains pass after pass, without a pause
                self.wake.set()

        fetch = asyncio.create_task(fetching(), name="forwarder-fetch")
        try:
            await loop.work("forwarder send", sending, stop, self.send_interval, self.wake)
        finally:
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)
            await self.close()
