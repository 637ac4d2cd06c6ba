"""The web chat: no messenger and no token, a page at ``/`` that talks to the dialogue.

Its replies wait in the outbox until the page posts or polls, so it has no worker to start
and nothing to wake."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peygir.channels.base import Quiet
from peygir.channels.webchat.chat import ChatIn, ChatOut, LocationIn, chat_id, for_browser
from peygir.channels.webchat.routes import CHANNEL, templates, web_chat_routes

if TYPE_CHECKING:
    from fastapi import APIRouter

    from peygir.bots.dialogue import Dialogue
    from peygir.config.settings import Settings

__all__ = ["CHANNEL", "ChatIn", "ChatOut", "LocationIn", "WebChat", "chat_id", "for_browser",
           "from_settings", "templates"]


class WebChat(Quiet):
    name = CHANNEL

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue

    def routes(self) -> APIRouter:
        return web_chat_routes(self.dialogue)


def from_settings(settings: Settings, dialogue: Dialogue) -> WebChat:
    """Always on: the web chat needs no token."""
    return WebChat(dialogue)
