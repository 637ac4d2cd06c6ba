"""The web chat: no messenger and no token, a page at ``/`` that talks to the dialogue.

Its replies wait in the outbox until the page posts or polls, so it has no worker to start
and nothing to wake."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from peygir.channels.base import Quiet
from peygir.channels.webchat.chat import ChatIn, ChatOut, LocationIn, chat_id, for_browser
from peygir.channels.webchat.routes import CHANNEL, templates, web_chat_routes

if TYPE_CHECKING:
    from fastapi import APIRouter

    from peygir.config.settings import Settings
    from peygir.conversation.dialogue import Dialogue

__all__ = ["CHANNEL", "ChatIn", "ChatOut", "LocationIn", "WebChat", "chat_id", "for_browser",
           "from_settings", "templates"]


class WebChat(Quiet):
    name = CHANNEL

    def __init__(self, dialogue: Dialogue, media_dir: Path | None = None) -> None:
        self.dialogue = dialogue
        self.media_dir = media_dir  # where uploads go; None: the page offers none

    def routes(self) -> APIRouter:
        # on_speech is read when a note arrives: Core sets it after the routes are built.
        return web_chat_routes(self.dialogue, self.media_dir, lambda: self.on_speech())


def from_settings(settings: Settings, dialogue: Dialogue) -> WebChat:
    """Always on: the web chat needs no token."""
    return WebChat(dialogue, Path(settings.media_dir))
