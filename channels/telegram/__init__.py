"""Telegram and Bale (one Bot API): everything peygir knows of them is in this package.

- :mod:`channels.telegram.wire`: updates to ``IncomingMessage``, files by ``getFile``;
- :mod:`channels.telegram.sender`: a ``Reply`` as Bot API calls, errors as the outbox's signals;
- :mod:`channels.telegram.session`: the HTTP session the bots talk through;
- :mod:`channels.telegram.runner`: the dispatcher, polling or webhooks, the outbox workers
  (:class:`~channels.telegram.runner.Messengers`, the channel itself);
- :mod:`channels.telegram.webhook`: the webhook route.

Importing this package loads no aiogram: :func:`from_settings` imports the runner only when a
token is set, so ``peygir serve`` without a bot never pays for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peygir.channels.telegram.runner import Messengers
    from peygir.config.settings import Settings
    from peygir.conversation.dialogue import Dialogue

log = logging.getLogger(__name__)


def from_settings(settings: Settings, dialogue: Dialogue) -> Messengers | None:
    """The Telegram and Bale bots whose tokens are set; None when neither is."""
    configured = [
        ("telegram", settings.telegram_token, settings.telegram_api, False),
        # Bale parses Markdown by default (reported in public code), so we escape it.
        ("bale", settings.bale_token, settings.bale_api, True),
    ]
    tokens = [(channel, token.get_secret_value(), api, markdown)
              for channel, token, api, markdown in configured
              if token is not None and token.get_secret_value()]
    if not tokens:
        return None
    from peygir.channels.telegram.runner import Messengers  # aiogram loads only now

    messengers = Messengers(dialogue, media_dir=settings.media_dir,
                            claim_timeout=settings.outbox_claim_timeout)
    for channel, token, api, markdown in tokens:
        messengers.add(channel, token, api, markdown_by_default=markdown)
        log.info("%s bot on %s", channel, api)
    if settings.webhook_base:
        if settings.webhook_secret is None:
            raise ValueError("PEYGIR_WEBHOOK_BASE needs PEYGIR_WEBHOOK_SECRET as well")
        messengers.use_webhooks(settings.webhook_base, settings.webhook_secret.get_secret_value())
    return messengers
