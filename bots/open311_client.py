"""Talking to a city's Open311 GeoReport v2 back office (peygir as the front door).

Everything the back office says is bounded and checked before it is believed: bodies are
read up to a cap, JSON must have the spec's shape, ids and tokens match a short pattern,
notes are cut and cleaned of control characters, dates must carry a zone. A failure is
sorted by what it means for the report:

- :class:`Refused`: the back office will never take it (a 4xx other than 408/429);
- :class:`Away`: it did not take it (no connection, 5xx, 429, 408): try again later;
- :class:`MaybeArrived`: the request went out and no answer came back (a read timeout, a
  dropped connection): resent only under the same idempotency key.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from peygir.config.endpoints import Endpoint
from peygir.ticket_store.forwarding import Outgoing

MAX_ANSWER = 64 * 1024  # a POST's or a token's answer
MAX_LIST = 4 * 1024 * 1024  # a GET requests answer
MAX_ITEMS = 1000  # the spec's own cap on GET requests
MAX_NOTES = 4000
MAX_DESCRIPTION = 4000  # the spec's limit
MORE_PHOTOS = "photo"  # a link's label in the description: "photo 2: https://…"
ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,64}$")
STATUSES = ("open", "closed")


class BackOfficeError(Exception):
    pass


class Refused(BackOfficeError):
    pass


class Away(BackOfficeError):
    pass


class MaybeArrived(BackOfficeError):
    pass


@dataclass(frozen=True)
class Remote:
    """One request as the back office describes it."""

    service_request_id: str
    status: str  # open or closed
    notes: str
    updated: datetime | None


def clean_text(value: object, limit: int = MAX_NOTES) -> str:
    if not isinstance(value, str):
        return ""
    kept = "".join(ch for ch in value[: limit * 2]
                   if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return kept.strip()[:limit]


def _id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and ID.match(value) else None


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _errors(body: Any) -> str:
    if isinstance(body, list):
        parts = [clean_text(item.get("description"), 200) for item in body[:5]
                 if isinstance(item, dict)]
        return "; ".join(p for p in parts if p)
    return ""


def with_links(description: str, links: Sequence[str]) -> str:
    """The description, with the links of the photos after the first, within the limit."""
    tail = "".join(f"\n{MORE_PHOTOS} {i}: {url}" for i, url in enumerate(links, start=2))
    if not tail:
        return description[:MAX_DESCRIPTION]
    tail = "\n" + tail
    if len(tail) > MAX_DESCRIPTION // 2:  # never let links crowd out the report itself
        tail = tail[:tail.rfind("\n", 0, MAX_DESCRIPTION // 2)]
    return description[:MAX_DESCRIPTION - len(tail)] + tail


class Open311Client:
    def __init__(self, endpoint: Endpoint, api_key: str | None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.endpoint = endpoint
        self.api_key = api_key
        self.http = httpx.AsyncClient(timeout=endpoint.timeout, transport=transport,
                                      trust_env=False, follow_redirects=False,
                                      headers={"User-Agent": "peygir (Open311 client)"})

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, cap: int, **kwargs: Any) -> Any:
        url = f"{self.endpoint.base_url}/{path}"
        try:
            async with self.http.stream(method, url, **kwargs) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise Away(f"{method} {path}: answer over {cap} bytes")
                status = answer.status_code
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Away(f"{method} {path}: cannot connect ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:  # sent, and no whole answer came back
            raise MaybeArrived(f"{method} {path}: {type(exc).__name__}") from exc
        try:
            parsed = json.loads(bytes(body)) if body else None
        except ValueError:
            parsed = None
        if status >= 500 or status in (408, 429):
            raise Away(f"{method} {path}: HTTP {status} {_errors(parsed)}".strip())
        if status >= 400:
            raise Refused(f"{method} {path}: HTTP {status} {_errors(parsed)}".strip())
        if status != 200 and status != 201:
            raise Away(f"{method} {path}: unexpected HTTP {status}")
        if parsed is None:
            raise Away(f"{method} {path}: the answer is not JSON")
        return parsed

    def _common(self) -> dict[str, str]:
        return ({"jurisdiction_id": self.endpoint.jurisdiction_id}
                if self.endpoint.jurisdiction_id else {})

    async def post(self, report: Outgoing, media_urls: Sequence[str] = ()
                   ) -> tuple[str | None, str | None]:
        """POST requests; returns (service_request_id, token), at least one of them.

        GeoReport v2 takes one ``media_url``: the first photo's link goes there, and any
        others are listed after the citizen's words, cut first if the 4000 fit needs it."""
        if not self.api_key:
            raise Away(f"no API key for {self.endpoint.name}: set "
                       f"{self.endpoint.api_key_env or 'api_key'}")
        form = {"api_key": self.api_key, "service_code": report.remote_code,
                "description": with_links(report.description, media_urls[1:]),
                **self._common()}
        if media_urls:
            form["media_url"] = media_urls[0]
        if report.latitude is not None and report.longitude is not None:
            form |= {"lat": f"{report.latitude:.6f}", "long": f"{report.longitude:.6f}"}
        if report.address:
            form["address_string"] = report.address[:512]
        elif "lat" not in form:
            raise Refused("the report has neither a place nor an address")
        if report.phone:  # only ever set with the citizen's consent on this ticket
            form["phone"] = report.phone
        if report.name:
            first, _, last = report.name.partition(" ")
            form |= {"first_name": first[:64], **({"last_name": last[:64]} if last else {})}
        body = await self._call("POST", "requests.json", MAX_ANSWER, data=form,
                                headers={"Idempotency-Key": report.idempotency_key})
        answer = body[0] if isinstance(body, list) and body else None
        if not isinstance(answer, dict):
            raise MaybeArrived("POST requests: the answer is not a list of one request")
        remote_id, token = _id(answer.get("service_request_id")), _id(answer.get("token"))
        if remote_id is None and token is None:
            raise MaybeArrived("POST requests: no service_request_id and no token")
        return remote_id, token

    async def token(self, token: str) -> str | None:
        """GET tokens/{token}: the request id it stands for, once the back office knows."""
        try:
            body = await self._call("GET", f"tokens/{token}.json", MAX_ANSWER,
                                    params=self._common())
        except Refused:
            return None
        first = body[0] if isinstance(body, list) and body else None
        return _id(first.get("service_request_id")) if isinstance(first, dict) else None

    async def requests(self, *, ids: list[str] | None = None,
                       start: datetime | None = None, end: datetime | None = None
                       ) -> list[Remote]:
        """GET requests by ids (comma-delimited) or by a date window."""
        params = self._common()
        if ids:
            params["service_request_id"] = ",".join(ids)
        else:
            if start is not None:
                params["start_date"] = start.isoformat()
            if end is not None:
                params["end_date"] = end.isoformat()
        body = await self._call("GET", "requests.json", MAX_LIST, params=params)
        if not isinstance(body, list):
            raise Away("GET requests: the answer is not a list")
        found: list[Remote] = []
        for item in body[:MAX_ITEMS]:
            if not isinstance(item, dict):
                continue
            remote_id = _id(item.get("service_request_id"))
            given = item.get("status")
            status = given.strip().lower() if isinstance(given, str) else ""
            if remote_id is None or status not in STATUSES:
                continue  # what cannot be read is not believed
            found.append(Remote(remote_id, status, clean_text(item.get("status_notes")),
                                _moment(item.get("updated_datetime"))))
        return found
