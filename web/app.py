"""The web app: the no-token web chat at ``/``, its JSON API, and the staff panel at ``/panel``."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bots.core import Core
from bots.messages import IncomingMessage, Location, Reply, evidence_url
from ticket_store import store
from ticket_store.models import Attachment
from web import open311

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CHANNEL = "web"
COOKIE = "peygir_chat"
MAX_TEXT = 50_000  # characters; more than any honest report, less than a denial of service


class LocationIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ChatIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    callback: str | None = Field(default=None, max_length=128)
    location: LocationIn | None = None

    def incoming(self, channel: str, chat: str) -> IncomingMessage:
        """The message as the dialogue takes it (the web chat's and the Eitaa mini-app's)."""
        return IncomingMessage(
            channel=channel, chat_id=chat, user_id=chat, message_id=self.client_id,
            dedup_key=f"{channel}:{chat}:{self.client_id}", text=self.text or "",
            callback_data=self.callback,
            location=Location(self.location.lat, self.location.lon) if self.location else None,
        )


def for_browser(reply: Reply) -> dict[str, object]:
    """A reply as a page shows it: evidence photos are files on disk, the page gets their
    URLs (``/media/<hash>``), never the server's paths."""
    payload = reply.to_payload()
    payload["photos"] = [evidence_url("", p) for p in payload["photos"]]
    return payload


class ChatOut(BaseModel):
    replies: list[dict[str, object]]


def chat_id(response: Response, peygir_chat: Annotated[str | None, Cookie()] = None) -> str:
    """The web chat's identity: a random id in an HttpOnly cookie, no account needed."""
    if peygir_chat and 16 <= len(peygir_chat) <= 64 and peygir_chat.isascii():
        return peygir_chat
    new_id = secrets.token_urlsafe(24)
    response.set_cookie(COOKIE, new_id, httponly=True, samesite="strict",
                        max_age=60 * 60 * 24 * 180)
    return new_id


ChatId = Annotated[str, Depends(chat_id)]


def create_app(core: Core) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not core.started:
            await core.start()
        try:
            yield
        finally:
            await core.stop()

    app = FastAPI(title="peygir", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.core = core
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/", response_class=HTMLResponse)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @app.get("/healthz")
    async def health() -> dict[str, object]:
        return {"ok": True, "services": len(core.pack.services), "faqs": len(core.pack.faqs)}

    async def deliver(chat: str) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for row in await store.pending(CHANNEL, chat):
            if await store.mark_sent(row):
                out.append(for_browser(Reply.from_payload(row.payload)))
        return out

    @app.get("/media/{name}")
    async def evidence_photo(name: str) -> FileResponse:
        """A unit's evidence photo, by its content hash; nothing a citizen sent is served."""
        sha, _, _ = name.partition(".")
        if not (len(sha) == 64 and sha.isalnum()):
            raise HTTPException(404)
        row = await Attachment.get_or_none(sha256=sha, evidence=True)
        if row is None or not row.path or not Path(row.path).is_file():
            raise HTTPException(404)
        return FileResponse(row.path, media_type=row.mime or "image/jpeg",
                            headers={"Cache-Control": "private, max-age=86400"})

    @app.post("/api/chat/send")
    async def send(body: ChatIn, chat: ChatId) -> ChatOut:
        if body.text is None and body.callback is None and body.location is None:
            raise HTTPException(422, "پیام خالی است.")
        await core.dialogue.handle(body.incoming(CHANNEL, chat))
        return ChatOut(replies=await deliver(chat))

    @app.post("/bot/{channel}/{path}")
    async def bot_webhook(
        channel: str, path: str, request: Request,
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Telegram's and Bale's webhook: refused (401) without the secret, before any work."""
        messengers = core.messengers
        if messengers is None or messengers.by_channel(channel) is None:
            return Response(status_code=404)
        if not messengers.authorised(channel, path, x_telegram_bot_api_secret_token):
            return Response(status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return Response(status_code=400)
        return Response(status_code=await messengers.handle_webhook(channel, body))

    @app.get("/api/chat/poll")
    async def poll(chat: ChatId) -> ChatOut:
        return ChatOut(replies=await deliver(chat))

    from web.eitaa import add_eitaa_routes  # here: it imports ChatIn from this module

    add_eitaa_routes(app, core, templates)
    open311.install(app)
    # Last: the panel's error pages hand every other path to the handler installed before.
    from web.panel import install as install_panel

    install_panel(app, core)

    return app
