"""What a citizen is told on sending a voice note: «converting…», or, when the queue is long,
roughly how long it will take, so a long silence is not read as the bot ignoring them."""

from __future__ import annotations

from datetime import datetime

from peygir.messages import texts
from peygir.messages.persian import about_wait
from peygir.ticket_store.voice_queue import expected_wait

# Under half a minute «a few moments» is true enough; past it the citizen is told the wait.
TELL_AFTER = 30.0  # seconds


async def transcribing_text(channel: str, chat_id: str, now: datetime) -> str:
    """The reply to a voice note whose job was just queued (in the caller's transaction)."""
    wait = await expected_wait(channel, chat_id, now)
    if wait.seconds <= TELL_AFTER:
        return texts.TRANSCRIBING
    return texts.TRANSCRIBING_QUEUED.format(wait=about_wait(wait.seconds))
