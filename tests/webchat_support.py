"""One citizen in the web chat, driven through its HTTP API (``/api/chat/send``, ``upload``,
``poll``): shared by the feature tests."""

from __future__ import annotations

from typing import Any

import httpx

Replies = list[dict[str, Any]]


class WebCitizen:
    """One browser: its cookie is its chat and its identity."""

    def __init__(self, c: httpx.AsyncClient, prefix: str = "m") -> None:
        self.c = c
        self.prefix = prefix  # of the client ids this browser sends
        self.n = 0

    def _id(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    async def say(self, text: str) -> Replies:
        return await self._send({"text": text})

    async def press(self, data: str) -> Replies:
        return await self._send({"callback": data})

    async def place(self, where: tuple[float, float]) -> Replies:
        return await self._send({"location": {"lat": where[0], "lon": where[1]}})

    async def _send(self, body: dict[str, Any]) -> Replies:
        answer = await self.c.post("/api/chat/send", json={"client_id": self._id(), **body})
        assert answer.status_code == 200, answer.text
        replies: Replies = answer.json()["replies"]
        return replies

    async def photo(self, data: bytes) -> Replies:
        answer = await self.c.post("/api/chat/upload", params={
            "client_id": self._id(), "kind": "photo"}, content=data,
            headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 200, answer.text
        replies: Replies = answer.json()["replies"]
        return replies

    async def poll(self) -> Replies:
        answer = await self.c.get("/api/chat/poll")
        assert answer.status_code == 200, answer.text
        replies: Replies = answer.json()["replies"]
        return replies

    @property
    def chat(self) -> str:
        return self.c.cookies["peygir_chat"]


def texts(replies: Replies) -> str:
    return "\n".join(r["text"] for r in replies)


def data_of(replies: Replies) -> list[str]:
    """The callback data of the replies' buttons."""
    return [b["data"] for r in replies for row in r["buttons"] for b in row]
