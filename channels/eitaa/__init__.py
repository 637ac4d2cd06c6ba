"""Eitaa: citizens talk in a mini-app (``/eitaa``, known by signed ``initData``); replies the
mini-app did not show in time go out as notifications through Eitaa's sending API.

- :mod:`channels.eitaa.initdata`: the ``initData`` check;
- :mod:`channels.eitaa.sender`: the sending API (eitaayar);
- :mod:`channels.eitaa.push`: the notification worker, and the mini-app's share of the outbox;
- :mod:`channels.eitaa.routes`: the mini-app's page and API (the web chat's page and messages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from peygir.channels.base import Duties
from peygir.channels.eitaa.initdata import CHANNEL, EitaaUser, InitDataError, sign, verify_init_data
from peygir.channels.eitaa.push import EitaaPush, take_for_app
from peygir.channels.eitaa.routes import eitaa_routes
from peygir.channels.eitaa.sender import EitaaSender

if TYPE_CHECKING:
    from fastapi import APIRouter

    from peygir.config.settings import Settings
    from peygir.conversation.dialogue import Dialogue

log = logging.getLogger(__name__)

__all__ = ["CHANNEL", "EitaaChannel", "EitaaPush", "EitaaSender", "EitaaUser", "InitDataError",
           "from_settings", "sign", "take_for_app", "verify_init_data"]


class EitaaChannel:
    """The mini-app's routes and the notification worker, as one channel."""

    name = CHANNEL

    def __init__(self, dialogue: Dialogue, settings: Settings, sender: EitaaSender) -> None:
        self.dialogue = dialogue
        self.settings = settings
        self.sender = sender
        self.push = EitaaPush(sender, push_after=settings.eitaa_push_after)
        self.on_speech: Callable[[], None] = lambda: None  # the mini-app sends no voice
        self.duties = Duties()

    async def start(self) -> None:
        if self.duties.deliver:  # the mini-app's routes are the web app's
            await self.push.start()

    async def stop(self) -> None:
        await self.push.stop()

    def wake(self, channel: str | None = None) -> None:
        """Nothing to hurry: a reply becomes a notification only after ``push_after``."""

    def routes(self) -> APIRouter:
        return eitaa_routes(self.dialogue, self.settings)


def from_settings(settings: Settings, dialogue: Dialogue) -> EitaaChannel | None:
    """Eitaa when ``PEYGIR_EITAA_TOKEN`` is set; None otherwise."""
    token = settings.eitaa_token
    if token is None:
        return None
    log.info("eitaa: mini-app at /eitaa, notifications through %s", settings.eitaa_api)
    sender = EitaaSender(token.get_secret_value(), settings.eitaa_api,
                         public_url=settings.public_base)
    return EitaaChannel(dialogue, settings, sender)
