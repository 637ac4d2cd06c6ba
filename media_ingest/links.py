"""Signed, expiring links to one stored photo, for the city's back office (issue 19).

A citizen's photo is never public. When peygir forwards a report to the city's Open311 back
office (``bots/forwarder.py``) it sends the report's photos as links the back office can open
for a while: ``<public base>/media/s/<attachment id>/<expires>/<signature>``, served by
``web/app.py``. The signature is an HMAC-SHA256, under a key only the server holds, over the
attachment's id, its content hash and the expiry, so a link

- cannot be guessed or made for another attachment (the id is signed);
- cannot be moved to another file kept under the same row (the content hash is signed);
- stops working at its expiry (signed too, so it cannot be stretched), or sooner when the
  secret changes or the lifetime setting is shortened below it.

Here only the pure signing and checking: no database, no HTTP, so both the forwarder
(``bots/``) and the web app (``web/``) may import it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from peygir.config.settings import Settings

PATH = "/media/s"
# Which secret a key comes from is itself a label: the same webhook secret also derives the
# Telegram webhook paths (HMAC over a channel's name), which must never equal a media key.
_KEY_LABEL = b"peygir media link key v1"
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 bytes, URL-safe base64 without padding
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_ID = 2**31 - 1  # an IntField in PostgreSQL; a larger id can only be a forgery
MAX_EXPIRES = 2**40  # seconds since 1970: far beyond any lifetime, and no int overflow


def link_key(settings: Settings) -> bytes | None:
    """The signing key: from ``media_link_secret``, else from ``webhook_secret``; None (no
    links made or honoured) when neither is set."""
    secret = settings.media_link_secret or settings.webhook_secret
    if secret is None or not secret.get_secret_value():
        return None
    return hmac.new(secret.get_secret_value().encode(), _KEY_LABEL, hashlib.sha256).digest()


def signature(key: bytes, attachment_id: int, sha256: str, expires: int) -> str:
    message = f"media-link:{attachment_id}:{sha256}:{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def link_path(key: bytes, attachment_id: int, sha256: str, expires: int) -> str:
    return f"{PATH}/{attachment_id}/{expires}/{signature(key, attachment_id, sha256, expires)}"


@dataclass(frozen=True)
class Parsed:
    """A link's parts once they have the shape of one; not yet checked against the row."""

    attachment_id: int
    expires: int
    signature: str


def parse(attachment_id: str, expires: str, given: str, now: datetime,
          lifetime: timedelta) -> Parsed | None:
    """The link's parts if they could be a live link: ids and times in range, not expired,
    and not valid for longer than the lifetime allows today (so shortening the setting
    shortens links already sent). None for anything else."""
    if not (attachment_id.isascii() and attachment_id.isdigit() and expires.isascii()
            and expires.isdigit() and len(attachment_id) <= 10 and len(expires) <= 13
            and _SIGNATURE.fullmatch(given)):
        return None
    row_id, until = int(attachment_id), int(expires)
    moment = int(now.timestamp())
    if not (0 < row_id <= MAX_ID and until <= MAX_EXPIRES):
        return None
    if until <= moment or until > moment + int(lifetime.total_seconds()) + 60:
        return None
    return Parsed(row_id, until, given)


def matches(key: bytes, parsed: Parsed, sha256: str | None) -> bool:
    """Whether the signature was made for this attachment with this content (constant time)."""
    if sha256 is None or not _SHA256.fullmatch(sha256):
        return False
    expected = signature(key, parsed.attachment_id, sha256, parsed.expires)
    return hmac.compare_digest(expected, parsed.signature)


@dataclass(frozen=True)
class MediaLinks:
    """What the forwarder needs to make links: the key, the public base, the lifetime."""

    key: bytes
    base: str
    lifetime: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLinks | None:
        """None without a secret or a public base: then no links are made at all."""
        key = link_key(settings)
        base = settings.public_base
        if key is None or not base:
            return None
        return cls(key, base, timedelta(days=settings.media_link_days))

    def url(self, attachment_id: int, sha256: str, now: datetime) -> str:
        expires = int((now + self.lifetime).timestamp())
        return self.base + link_path(self.key, attachment_id, sha256, expires)
