"""Eitaa: the mini-app's ``initData`` check, and the sending API for notifications.

Eitaa's bot API sends but does not receive, so citizens talk to peygir in a mini-app (a web
page that Eitaa opens, served by ``peygir serve``). The page hands the server the
``initData`` string Eitaa gave it; the server trusts the user in it only after checking its
signature, the scheme Telegram's Web Apps document and Eitaa follows:

    data_check_string = the fields except ``hash``, sorted by key, as ``key=value`` lines
    secret_key        = HMAC-SHA256(key="WebAppData", message=<app token>)
    hash              = hex(HMAC-SHA256(key=secret_key, message=data_check_string))

plus ``auth_date`` no older than a limit, so a leaked ``initData`` does not work for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from bots.outbox import RetryLater, Undeliverable
from messages.types import Reply

CHANNEL = "eitaa"
MAX_INIT_DATA = 4096  # characters; a real initData is a few hundred
MAX_TEXT = 4096


class InitDataError(ValueError):
    """The initData is missing, malformed, forged or stale: the request is refused."""


@dataclass(frozen=True)
class EitaaUser:
    id: str
    first_name: str = ""
    username: str = ""
    auth_date: int = 0


def _secret(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def sign(fields: dict[str, str], token: str) -> str:
    """The ``hash`` for these fields: what Eitaa computes, and what the tests forge with."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")
    return hmac.new(_secret(token), check.encode(), hashlib.sha256).hexdigest()


def verify_init_data(init_data: str, token: str, max_age: int, now: float | None = None
                     ) -> EitaaUser:
    """The user this initData vouches for; raises :class:`InitDataError` otherwise."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise InitDataError("initData missing or too long")
    pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=False)
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataError("a field appears twice")
    received = fields.pop("hash", "")
    if not received or not hmac.compare_digest(sign(fields, token), received.lower()):
        raise InitDataError("bad signature")
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError as exc:
        raise InitDataError("auth_date missing") from exc
    now = time.time() if now is None else now
    if not (now - max_age <= auth_date <= now + 60):  # a minute of clock skew allowed
        raise InitDataError("initData is stale")
    try:
        user: dict[str, Any] = json.loads(fields.get("user", ""))
        user_id = str(int(user["id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InitDataError("no user in initData") from exc
    return EitaaUser(user_id, str(user.get("first_name") or ""), str(user.get("username") or ""),
                     auth_date)


class EitaaSender:
    """Sends a reply as a text message through Eitaa's sending API (eitaayar).

    ``POST {api}/{token}/sendMessage`` with ``chat_id`` and ``text`` as a form; the answer is
    JSON with ``ok`` (as reported by public client libraries: Eitaa's own documents for this
    API were not at hand). Buttons become numbered lines, since the message is only a notice:
    the conversation itself continues in the mini-app; evidence photos become links under the
    public address (``PEYGIR_PUBLIC_URL``), and the mini-app shows them as photos.
    """

    def __init__(self, token: str, api: str, client: httpx.AsyncClient | None = None,
                 public_url: str = "") -> None:
        self.url = f"{api.rstrip('/')}/{token}/sendMessage"
        self.client = client or httpx.AsyncClient(timeout=30)
        self.public_url = public_url  # evidence photos go as links under it

    async def send(self, chat_id: str, reply: Reply) -> None:
        text = reply.with_photo_links(self.public_url).plain_text()[:MAX_TEXT] or " "
        try:
            response = await self.client.post(self.url, data={"chat_id": chat_id, "text": text})
        except httpx.HTTPError as exc:
            raise ConnectionError(f"eitaa: {exc}") from exc  # passing: retried with backoff
        if response.status_code == 429:
            raise RetryLater(float(response.headers.get("Retry-After") or 30))
        if response.status_code >= 500:
            raise ConnectionError(f"eitaa: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ConnectionError("eitaa: the answer was not JSON") from exc
        if response.status_code >= 400 or not body.get("ok"):
            raise Undeliverable(str(body.get("description") or body)[:300])

    async def close(self) -> None:
        await self.client.aclose()
