"""``/readyz`` and ``/metrics``: what a load balancer and Prometheus ask.

``/readyz`` answers 200 when this process can serve: the database answers, every background
worker is running, and no queue is stuck (replies due for a messenger, or voice notes waiting
for Whisper, longer than ``PEYGIR_READY_OUTBOX_LAG`` / ``PEYGIR_READY_TRANSCRIPTION_LAG``
seconds); else 503 with the reasons. Counts and ages only.

``/metrics`` exists only with ``PEYGIR_METRICS=true``. With ``PEYGIR_METRICS_TOKEN`` set it
wants ``Authorization: Bearer <token>``; without one it answers only a client on loopback or
one of ``PEYGIR_TRUSTED_PROXIES`` (the address after the proxy's ``X-Forwarded-For``, so a
stranger behind the city's proxy is refused; with no trusted proxy named, a request that
carries forwarding headers is refused even from loopback: an undeclared proxy on this host
would make everyone look local). Anyone else gets a plain 404, as if it were not there.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peygir.bots.core import Core
from peygir.config.roles import Role
from peygir.conversation import metrics
from peygir.ticket_store import health
from peygir.web.drain import DRAINING
from peygir.web.guards import parse_networks

log = logging.getLogger(__name__)


async def readiness(core: Core) -> tuple[bool, dict[str, Any]]:
    settings = core.settings
    reasons: list[str] = []
    body: dict[str, Any] = {}
    try:
        await health.ping()
        body["database"] = "ok"
    except Exception as exc:  # any failure to answer is the reason itself
        body["database"] = "unreachable"
        reasons.append(f"database: {type(exc).__name__}")
    if not core.started:
        reasons.append("not started")
    if DRAINING.is_set():  # SIGTERM with --drain: the proxy takes this process out first
        reasons.append("shutting down")
    workers = core.workers()
    body["workers"] = {name: "running" if alive else "stopped" for name, alive in workers.items()}
    reasons += [f"worker {name} is not running" for name, alive in workers.items() if not alive]
    q = None
    if body["database"] == "ok":
        try:
            q = await health.queues(pulled=core.pulled_channels())
        except Exception as exc:  # gone between the ping and this
            body["database"] = "unreachable"
            reasons.append(f"database: {type(exc).__name__}")
    if q is not None:
        body["queues"] = {
            "outbox_waiting": q.outbox_waiting, "outbox_lag_seconds": q.outbox_lag,
            "transcription_waiting": q.transcription_waiting,
            "transcription_lag_seconds": q.transcription_lag}
        # A stuck queue makes the processes that work it not ready. A web-only process still
        # serves: were it to count them, a proxy checking /readyz would take every web
        # process out when the worker stops, and the web chat and panel with them.
        if settings.roles & {Role.BOTS, Role.WORKER}:
            reasons += [f"outbox: replies for {channel} waiting {lag:.0f} s"
                        for channel, lag in sorted(q.outbox_lag_by_channel.items())
                        if lag > settings.ready_outbox_lag]
        if Role.WORKER in settings.roles and \
                q.transcription_lag > settings.ready_transcription_lag:
            reasons.append(f"transcription: a voice note waiting {q.transcription_lag:.0f} s")
    return not reasons, {"ready": not reasons, "reasons": reasons, **body}


FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip")


def _local_or_trusted(request: Request, trusted: str) -> bool:
    if not trusted and any(name in request.headers for name in FORWARDING):
        # A proxy on this host that nobody declared: its loopback address stands for
        # whoever it forwards, so loopback proves nothing.
        return False
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(
        address.version == net.version and address in net for net in parse_networks(trusted))


def _may_scrape(request: Request, core: Core) -> bool:
    token = core.settings.metrics_token
    if token is not None and token.get_secret_value():
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        return secrets.compare_digest(given.encode(), expected.encode())
    return _local_or_trusted(request, core.settings.trusted_proxies)


async def scrape(core: Core) -> bytes:
    metrics.FIGURES.update(await health.tickets_by_state(),
                           await health.queues(pulled=core.pulled_channels()),
                           await health.escalations())
    return generate_latest(metrics.REGISTRY)


class CountServerErrors:
    """Counts answers with a 5xx status, and requests that raised before answering."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 500:
                metrics.ERRORS.labels("http").inc()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            metrics.ERRORS.labels("http").inc()
            raise


def install(app: FastAPI, core: Core) -> None:
    @app.get("/readyz", include_in_schema=False)
    async def ready() -> JSONResponse:
        ok, body = await readiness(core)
        return JSONResponse(body, status_code=200 if ok else 503,
                            headers={"Cache-Control": "no-store"})

    if not core.settings.metrics:
        return
    metrics.count_logged_errors()
    app.add_middleware(CountServerErrors)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not _may_scrape(request, core):
            raise HTTPException(404)
        return Response(await scrape(core), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})
