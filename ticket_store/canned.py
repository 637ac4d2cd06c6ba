"""An administrator's edits of the pack's canned replies, kept by reply id. The store keeps
what it is given (bounded by the caller) and writes no sentence of its own."""

from __future__ import annotations

from datetime import datetime

from peygir.ticket_store.models import CannedReplyOverride


async def overrides() -> dict[str, CannedReplyOverride]:
    # A city has tens of replies, not thousands: all of them in one read.
    return {row.reply_id: row for row in await CannedReplyOverride.all().limit(1000)}


async def save(reply_id: str, title: str, text: str, actor: str, now: datetime
               ) -> CannedReplyOverride:
    row, created = await CannedReplyOverride.get_or_create(
        reply_id=reply_id,
        defaults={"title": title, "text": text, "updated_by": actor, "updated_at": now})
    if not created:
        row.title, row.text, row.updated_by, row.updated_at = title, text, actor, now
        await row.save(update_fields=["title", "text", "updated_by", "updated_at"])
    return row


async def reset(reply_id: str) -> bool:
    """Back to the pack's own words; False if there was no edit."""
    return bool(await CannedReplyOverride.filter(reply_id=reply_id).delete())
