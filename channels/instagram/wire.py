"""Instagram Direct: instagrapi's messages to ``IncomingMessage``, ``Reply`` to Direct texts.

instagrapi models most of a Direct item (``DirectMessage``), but drops what it does not model:
a shared location is one such field, the length of a voice message another. Those are read
from the raw item of the same response, which instagrapi keeps as ``Client.last_json``.
Direct has no inline keyboard, so a reply with buttons goes out as numbered choices
(:meth:`Reply.plain_text`) and the dialogue takes a digit as the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from instagrapi.types import DirectMessage

from peygir.messages.types import Attachment, IncomingMessage, Location, Reply, split_text

CHANNEL = "instagram"
# One Direct text holds at most 1000 characters (reported by instagrapi's users, not in any
# Instagram document); longer replies are cut into several messages.
MAX_TEXT = 1000
PHOTO, VIDEO = 1, 2  # Instagram's media_type values
# Items that are only bookkeeping of the thread, never something a citizen said.
_SILENT = frozenset({"action_log", "video_call_event", "expired_placeholder"})


def dedup_key(thread_id: str, item_id: str) -> str:
    """Direct item ids are unique within a thread: the pair is the update's identity."""
    return f"{CHANNEL}:{thread_id}:{item_id}"


def item_to_incoming(
    thread_id: str, message: DirectMessage, raw: Mapping[str, Any]
) -> IncomingMessage | None:
    """One Direct item from a citizen as our message; None for items we leave alone."""
    kind = message.item_type or raw.get("item_type") or ""
    if kind in _SILENT:
        return None
    text = message.text or ""
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    unsupported: str | None = None
    if kind == "media" and message.media is not None:
        attachments = _visual(message)
    elif kind == "voice_media" and message.media is not None and message.media.audio_url:
        attachments = (Attachment("voice", str(message.media.audio_url), "audio/mp4",
                                  duration=_voice_seconds(raw)),)
    elif kind == "location":
        location = _location(raw)
        unsupported = None if location else "other"
    elif kind == "link":
        text = text or str((raw.get("link") or {}).get("text") or "")
    elif kind in ("like", "animated_media", "raven_media"):
        unsupported = "sticker" if kind != "raven_media" else "other"
    elif kind != "text":
        unsupported = "other"  # shared posts, reels, stories, polls...
    received = message.timestamp
    if received.tzinfo is None:  # instagrapi turns Instagram's µs stamps into local time
        received = received.astimezone(UTC)
    return IncomingMessage(
        channel=CHANNEL,
        chat_id=str(thread_id),
        user_id=str(message.user_id or ""),
        message_id=str(message.id),
        dedup_key=dedup_key(str(thread_id), str(message.id)),
        text=text,
        attachments=attachments,
        location=location,
        unsupported=unsupported,
        received_at=received if isinstance(received, datetime) else datetime.now(UTC),
    )


def _visual(message: DirectMessage) -> tuple[Attachment, ...]:
    media = message.media
    assert media is not None
    if media.media_type == VIDEO and media.video_url:
        return (Attachment("video", str(media.video_url), "video/mp4"),)
    if media.thumbnail_url:  # a photo's largest candidate (instagrapi picks it)
        return (Attachment("photo", str(media.thumbnail_url), "image/jpeg"),)
    return ()


def _voice_seconds(raw: Mapping[str, Any]) -> float | None:
    audio = ((raw.get("voice_media") or {}).get("media") or {}).get("audio") or {}
    duration = audio.get("duration")  # milliseconds in the raw item
    return float(duration) / 1000 if isinstance(duration, int | float) else None


def _location(raw: Mapping[str, Any]) -> Location | None:
    """The raw ``location`` of a shared place: ``lat`` and ``lng`` (DirectMessage drops it)."""
    place = raw.get("location") or {}
    lat, lon = place.get("lat"), place.get("lng", place.get("lon"))
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Location(float(lat), float(lon))


def direct_texts(reply: Reply, limit: int = MAX_TEXT) -> list[str]:
    """A reply as the Direct texts to send: buttons become numbered choices."""
    return list(split_text(reply.plain_text(), limit)) or [" "]
