"""A small Open311 back office and a webhook receiver on loopback, under the test's control.

``FakeBackOffice`` files POSTs, answers GET requests by ids or window and tokens, and can be
made to answer 500, to file a request and then hang past the client's timeout (the answer is
lost: the report arrived), to answer junk, or to be away altogether (its port closed). It
honours ``Idempotency-Key`` as peygir's own Open311 API does, unless told not to; it counts
every POST and every filing, so a test can tell "sent twice" from "filed twice".

``Receiver`` checks each webhook's signature as a subscriber would and records what came.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.support import free_port


@dataclass
class Filed:
    id: str
    form: dict[str, str]
    key: str | None
    status: str = "open"
    notes: str = ""
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


class FakeBackOffice:
    def __init__(self, *, idempotent: bool = True, api_key: str = "bo-key") -> None:
        self.idempotent = idempotent
        self.api_key = api_key
        self.port = free_port()
        self.mode = "ok"  # ok, 500, hang, junk
        self.token_only = False  # answer a POST with a token alone (the id comes later)
        self.hang = 5.0  # seconds a "hang" answer waits (longer than the client's timeout)
        self.posts: list[dict[str, str]] = []  # every POST that reached us
        self.keys: list[str | None] = []
        self.filed: dict[str, Filed] = {}
        self.by_key: dict[str, str] = {}
        self.gets = 0
        self._ids = itertools.count(70000001)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/open311/v2/requests.json", self._post)
        app.router.add_get("/open311/v2/requests.json", self._list)
        app.router.add_get("/open311/v2/tokens/{token}.json", self._token)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await self.come_back()

    async def go_away(self) -> None:
        """Close the port: connections are refused until :meth:`come_back`."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def come_back(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self, remote_id: str, notes: str = "") -> None:
        filed = self.filed[remote_id]
        filed.status, filed.notes, filed.updated = "closed", notes, datetime.now(UTC)

    def note(self, remote_id: str, notes: str) -> None:
        filed = self.filed[remote_id]
        filed.notes, filed.updated = notes, datetime.now(UTC)

    async def _post(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        key = request.headers.get("Idempotency-Key")
        self.posts.append(form)
        self.keys.append(key)
        if form.get("api_key") != self.api_key:
            return web.json_response([{"code": 403, "description": "api_key"}], status=403)
        if self.mode == "500":
            return web.json_response([{"code": 500, "description": "down"}], status=500)
        if self.mode == "junk":
            return web.Response(text="<html>gateway</html>", status=200)
        if self.idempotent and key and key in self.by_key:
            remote_id = self.by_key[key]
        else:
            remote_id = str(next(self._ids))
            self.filed[remote_id] = Filed(remote_id, form, key)
            if key:
                self.by_key[key] = remote_id
        if self.mode == "hang":  # filed, and the answer never arrives in time
            await asyncio.sleep(self.hang)
        if self.token_only:
            return web.json_response([{"token": f"t{remote_id}", "service_notice": ""}])
        return web.json_response([{"service_request_id": remote_id, "token": f"t{remote_id}",
                                   "service_notice": ""}])

    def _view(self, filed: Filed) -> dict[str, Any]:
        return {"service_request_id": filed.id, "status": filed.status,
                "status_notes": filed.notes or None,
                "service_code": filed.form.get("service_code"),
                "updated_datetime": filed.updated.isoformat()}

    async def _list(self, request: web.Request) -> web.Response:
        self.gets += 1
        if self.mode == "500":
            return web.json_response([], status=500)
        if self.mode == "junk":
            bad = [{"service_request_id": "x" * 500, "status": "closed"},
                   {"service_request_id": "ok1", "status": "exploded"},
                   {"service_request_id": {"$gt": ""}, "status": "closed"}, "nonsense", 7]
            return web.json_response(bad)
        ids = request.query.get("service_request_id")
        rows = [self.filed[i] for i in ids.split(",") if i in self.filed] if ids else list(
            self.filed.values())
        return web.json_response([self._view(f) for f in rows])

    async def _token(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = token[1:] if token[1:] in self.filed else None
        if found is None:
            return web.json_response([{"code": 404, "description": "token"}], status=404)
        return web.json_response([{"service_request_id": found, "token": token}])


class Receiver:
    """A webhook subscriber: checks signatures and records (id, event, body) in order."""

    def __init__(self, secret: str, tolerance: float = 300.0) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.port = free_port()
        self.got: list[dict[str, Any]] = []
        self.bad: list[str] = []
        self.fail_next: list[str] = []  # "500" or "hang", one per coming request
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def check(self, body: bytes, header: str) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            stamp = int(parts["t"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - stamp) > self.tolerance:
            return False
        mac = hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        return hmac.compare_digest(mac.hexdigest(), parts.get("v1", ""))

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.check(body, request.headers.get("Peygir-Signature", "")):
            self.bad.append(request.headers.get("Peygir-Signature", ""))
            return web.Response(status=400)
        payload = json.loads(body)
        assert payload["id"] == request.headers["Peygir-Event-Id"]
        self.got.append(payload)  # recorded first: a lost answer still arrived
        fail = self.fail_next.pop(0) if self.fail_next else None
        if fail == "500":
            return web.Response(status=500)
        if fail == "hang":
            await asyncio.sleep(3)
        return web.Response(status=204)

    def unique(self) -> list[dict[str, Any]]:
        """What a subscriber keeps after dropping repeats by event id."""
        seen: set[str] = set()
        kept = []
        for payload in self.got:
            if payload["id"] not in seen:
                seen.add(payload["id"])
                kept.append(payload)
        return kept
