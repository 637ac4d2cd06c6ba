"""The one message type every channel speaks, and the reply the dialogue gives back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from peygir.messages.digits import persian_digits

# Channels that cannot show buttons: replies go out as numbered choices (Reply.plain_text) and
# a digit answers them.
PLAIN_TEXT_CHANNELS = frozenset({"instagram"})

PHOTO_LINKS = "عکس‌های کار واحد:"  # heads the links of a reply's photos where none can be sent


def evidence_url(base: str, path: str) -> str:
    """Where `peygir serve` shows a unit's evidence photo (``/media/<content hash>``), under
    ``base``: the public address, or "" for a link within the same site."""
    return f"{base.rstrip('/')}/media/{Path(path).name}"


AttachmentKind = Literal["voice", "audio", "photo", "video", "video_note", "document"]


@dataclass(frozen=True)
class Attachment:
    kind: AttachmentKind
    file_ref: str  # the channel's own id or URL for fetching the file
    mime: str | None = None
    size: int | None = None
    duration: float | None = None
    path: str | None = None  # where the file was saved under PEYGIR_MEDIA_DIR, once fetched
    too_big: bool = False  # over the channel's download limit: not fetched
    problem: str | None = None  # why the file was refused, worded for the citizen
    location_hint: tuple[float, float] | None = None  # a photo's EXIF GPS (lat, lon)


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Contact:
    """Only present when the citizen chose to share their number."""

    phone: str
    user_id: str | None = None


@dataclass(frozen=True)
class IncomingMessage:
    channel: str
    chat_id: str
    user_id: str
    message_id: str
    dedup_key: str  # channel + update id: the same update twice has the same key
    text: str = ""  # text or caption
    attachments: tuple[Attachment, ...] = ()
    location: Location | None = None
    contact: Contact | None = None
    callback_data: str | None = None
    start_payload: str | None = None  # a deep link: /start <payload>
    media_group: str | None = None  # photos of one album share it
    # Something we deliberately do not handle (an edited message, a sticker, a poll...):
    # the dialogue answers it politely instead of guessing.
    unsupported: str | None = None
    from_voice: bool = False  # the text is Whisper's transcript of the citizen's voice note
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The client's network address (web chat, Eitaa), only for throttling code guesses per
    # address; never stored.
    origin: str | None = None


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    request_location: bool = False
    photos: tuple[str, ...] = ()  # file paths under the media folder (evidence photos)
    request_contact: bool = False  # offer a "share my number" button where the channel has one

    def to_payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in self.buttons],
            "request_location": self.request_location,
            "photos": list(self.photos),
            "request_contact": self.request_contact,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Reply:
        return cls(
            text=payload["text"],
            buttons=tuple(
                tuple(Button(b["label"], b["data"]) for b in row)
                for row in payload.get("buttons", [])
            ),
            request_location=bool(payload.get("request_location")),
            photos=tuple(payload.get("photos", [])),
            request_contact=bool(payload.get("request_contact")),
        )

    def with_photo_links(self, base: str) -> Reply:
        """The reply for a channel that cannot carry our photos: each one as a link under
        ``base`` (`peygir serve`'s public address), or left out when there is none."""
        if not self.photos:
            return self
        if not base:
            return replace(self, photos=())
        links = "\n".join(evidence_url(base, path) for path in self.photos)
        return replace(self, text=f"{self.text}\n\n{PHOTO_LINKS}\n{links}", photos=())

    def plain_text(self) -> str:
        """The same reply for a channel without buttons: numbered choices to answer with."""
        choices = [b for row in self.buttons for b in row]
        if not choices:
            return self.text
        lines = [f"{persian_digits(str(i))}. {b.label}" for i, b in enumerate(choices, 1)]
        return self.text + "\n\n" + "\n".join(lines)


def split_text(text: str, limit: int) -> Iterator[str]:
    """Pieces of at most ``limit`` characters for a messenger's length cap, cut at a line
    break or a space near the limit, never inside a word when that can be helped."""
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        yield text[:cut]
        text = text[cut:].lstrip("\n ")
    if text:
        yield text
