"""Eitaa's sending API: a reply as a text message, for notifications the mini-app missed."""

from __future__ import annotations

import httpx

from peygir.channels.delivery import RetryLater, Undeliverable
from peygir.messages.types import Reply

MAX_TEXT = 4096


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
        if self.client.is_closed:  # closed by a stop; the channel was started again
            self.client = httpx.AsyncClient(timeout=30)
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
