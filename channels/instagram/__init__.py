"""Instagram Direct, through instagrapi: everything peygir knows of it is in this package.

- :mod:`channels.instagram.wire`: Direct items to ``IncomingMessage``, replies to Direct texts;
- :mod:`channels.instagram.runner`: the login, the poll loop and the sender
  (:class:`~channels.instagram.runner.InstagramBot`, the channel itself).

Importing this package loads no instagrapi: :func:`from_settings` imports the runner only
when ``PEYGIR_INSTAGRAM_USERNAME`` is set.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peygir.channels.instagram.runner import InstagramBot
    from peygir.config.settings import Settings
    from peygir.conversation.dialogue import Dialogue

log = logging.getLogger(__name__)


def from_settings(settings: Settings, dialogue: Dialogue) -> InstagramBot | None:
    """Instagram Direct when a username is set; None otherwise."""
    if not settings.instagram_username:
        return None
    from peygir.channels.instagram.runner import InstagramBot  # instagrapi loads only now

    password = settings.instagram_password
    log.info("instagram: Direct as %s, polling every %.0f s", settings.instagram_username,
             settings.instagram_poll_interval)
    return InstagramBot(
        dialogue, username=settings.instagram_username,
        password=password.get_secret_value() if password else None,
        session_file=settings.instagram_session, media_dir=settings.media_dir,
        interval=settings.instagram_poll_interval, jitter=settings.instagram_poll_jitter,
        max_backoff=settings.instagram_max_backoff, public_url=settings.public_base,
        claim_timeout=settings.outbox_claim_timeout,
    )
