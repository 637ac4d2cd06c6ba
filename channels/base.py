"""What every channel is to the rest of peygir: something that starts, stops, is woken when
replies wait in its outbox, and may mount routes on the web app.

``bots.core.Core`` keeps a list of these, built from the settings (each package's
``from_settings``); ``web.app`` mounts each one's :meth:`Channel.routes` and knows nothing else
of any messenger. A channel turns its messenger's updates into ``IncomingMessage`` for the
dialogue and delivers the outbox's replies back; what it says is never decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from fastapi import APIRouter


@dataclass(frozen=True)
class Duties:
    """What a channel does in this process (its roles, config/roles.py): ``receive`` polls
    the messenger (a lease elects one poller per bot when processes share the database) or
    sets its webhook; ``deliver`` runs the outbox workers. Webhook routes are the web app's."""

    receive: bool = True
    deliver: bool = True


@runtime_checkable
class Channel(Protocol):
    #: The channel's name ("telegram" stands for Telegram and Bale, which share one runner).
    name: str
    #: Called when a voice or video note was queued for transcription (Core sets it).
    on_speech: Callable[[], None]
    #: What it does in this process (Core sets it before start).
    duties: Duties

    async def start(self) -> None:
        """Begin receiving and delivering (polling, webhooks, outbox workers)."""

    async def stop(self) -> None:
        """Stop every task; the channel may be started again afterwards."""

    def wake(self, channel: str | None = None) -> None:
        """Replies wait in the outbox for ``channel`` (any of this channel's when None):
        deliver now rather than at the next idle check. Unknown names are ignored."""

    def routes(self) -> APIRouter | None:
        """The HTTP routes this channel serves (webhooks, a page, its JSON API), if any."""


def _nothing() -> None:
    return None


class Quiet:
    """Defaults for a channel with no workers of its own (the web chat, the test channel)."""

    name: str
    on_speech: Callable[[], None] = staticmethod(_nothing)
    duties: Duties = Duties()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def wake(self, channel: str | None = None) -> None:
        return None

    def routes(self) -> APIRouter | None:
        return None
