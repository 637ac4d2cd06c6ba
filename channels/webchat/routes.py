"""The web chat's routes: its page at ``/`` and its JSON API under ``/api/chat/``.

The page posts a message and gets, in the same answer, the replies the dialogue queued for
the chat; ``poll`` fetches what came later (a ticket's news). Each reply is taken from the
outbox once (``outbox.take`` marks each by a conditional update), so two tabs never show it
twice.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from peygir.bots.dialogue import Dialogue
from peygir.channels.http import StrictJSONRoute, answers, client_address
from peygir.channels.webchat.chat import ChatId, ChatIn, ChatOut, for_browser
from peygir.ticket_store import outbox

CHANNEL = "web"
# The page (chat.html) is the web chat's and the Eitaa mini-app's; its script and styles are
# the web app's static files (/static/chat.js, /static/chat.css).
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


async def deliver(chat: str) -> list[dict[str, object]]:
    return [for_browser(row.reply) for row in await outbox.take(CHANNEL, chat)]


def web_chat_routes(dialogue: Dialogue) -> APIRouter:
    router = APIRouter(route_class=StrictJSONRoute)  # JSON strictly: no NaN

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @router.post("/api/chat/send", responses=answers(400, 413))
    async def send(body: ChatIn, chat: ChatId, request: Request) -> ChatOut:
        await dialogue.handle(body.incoming(CHANNEL, chat, client_address(request)))
        return ChatOut(replies=await deliver(chat))

    @router.get("/api/chat/poll")
    async def poll(chat: ChatId) -> ChatOut:
        return ChatOut(replies=await deliver(chat))

    return router
