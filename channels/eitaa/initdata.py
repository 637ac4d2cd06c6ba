"""Eitaa: the mini-app's ``initData`` check (the sending API is :mod:`channels.eitaa.sender`).

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

CHANNEL = "eitaa"
MAX_INIT_DATA = 4096  # characters; a real initData is a few hundred


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
