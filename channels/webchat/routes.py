"""The web chat's routes: its page at ``/`` and its JSON API under ``/api/chat/``.

The page posts a message and gets, in the same answer, the replies the dialogue queued for
the chat; ``poll`` fetches what came later (a ticket's news). Each reply is taken from the
outbox once (``outbox.take`` marks each by a conditional update), so two tabs never show it
twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from peygir.channels.http import StrictJSONRoute, answers, client_address
from peygir.channels.webchat.chat import ChatId, ChatIn, ChatOut, for_browser
from peygir.channels.webchat.history import HistoryOut, history
from peygir.channels.webchat.upload import UploadKind, receive
from peygir.conversation.dialogue import SPOKEN_KINDS, Dialogue
from peygir.messages.types import IncomingMessage
from peygir.ticket_store import outbox

CHANNEL = "web"
# The page (chat.html) is the web chat's and the Eitaa mini-app's; its script and styles are
# the web app's static files (/static/chat.js, /static/chat.css).
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


async def deliver(chat: str) -> list[dict[str, object]]:
    return [for_browser(row.reply) for row in await outbox.take(CHANNEL, chat)]


def web_chat_routes(dialogue: Dialogue, media_dir: Path | None = None,
                    on_speech: Callable[[], None] = lambda: None) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)  # JSON strictly: no NaN

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {"media": media_dir is not None})

    @router.post("/api/chat/send", responses=answers(400, 413))
    async def send(body: ChatIn, chat: ChatId, request: Request) -> ChatOut:
        await dialogue.handle(body.incoming(CHANNEL, chat, client_address(request)))
        return ChatOut(replies=await deliver(chat))

    @router.post("/api/chat/upload", responses=answers(404, 413))
    async def upload(
        request: Request, chat: ChatId,
        client_id: Annotated[str, Query(min_length=1, max_length=64,
                                        pattern=r"^[A-Za-z0-9_\-]+$")],
        kind: UploadKind = "file",
        caption: Annotated[str, Query(max_length=4000)] = "",
    ) -> ChatOut:
        """One photo, video or voice note as the request body (no multipart: the page sends
        the file as it is); the same ``client_id`` twice files it once."""
        if media_dir is None:
            raise HTTPException(404)
        item = await receive(request, kind, media_dir, f"web-upload:{client_id}")
        # A retry stores the same bytes under the same name and is dropped by its dedup key.
        queued = await dialogue.handle(IncomingMessage(
            channel=CHANNEL, chat_id=chat, user_id=chat, message_id=client_id,
            dedup_key=f"{CHANNEL}:{chat}:{client_id}", text=caption, attachments=(item,),
            origin=client_address(request)))
        if queued and item.path and item.kind in SPOKEN_KINDS:
            on_speech()  # the transcription worker starts now, not at its next look
        return ChatOut(replies=await deliver(chat))

    @router.get("/api/chat/poll")
    async def poll(chat: ChatId) -> ChatOut:
        return ChatOut(replies=await deliver(chat))

    @router.get("/api/chat/history")
    async def chat_history(chat: ChatId) -> HistoryOut:
        """This cookie's chat so far (its newest lines), and which buttons are still live."""
        return await history(CHANNEL, chat)

    return router
