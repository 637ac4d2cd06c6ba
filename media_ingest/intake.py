"""The gate every citizen file passes before anything else touches it.

Order matters: the size comes from the file system before any library reads a byte; then the
content itself says what the file is (Pillow for images, PyAV for audio and video), whatever
the sender called it; the duration limit is applied to the container header before decoding.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from peygir.media_ingest.images import DEFAULT_MAX_PIXELS, inspect_image
from peygir.media_ingest.probe import (
    NOT_KIND,
    Kind,
    MediaError,
    MediaInfo,
    fa_digits,
    file_size,
    probe,
    too_long,
)

# What a Telegram message type promises about its file; "document" and None promise nothing.
EXPECTED_KIND: dict[str, Kind] = {
    "photo": "image",
    "voice": "audio",
    "audio": "audio",
    "video": "video",
    "video_note": "video",
    "animation": "video",
}
# Extensions by what the content turned out to be, not by the name it arrived with.
EXTENSIONS: dict[str, str] = {
    "ogg": ".ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": ".mp4",
    "matroska,webm": ".webm",
    "mp3": ".mp3",
    "wav": ".wav",
    "aac": ".aac",
    "flac": ".flac",
    "amr": ".amr",
    "amrnb": ".amr",
    "amrwb": ".amr",
    "avi": ".avi",
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
    "TIFF": ".tif",
}
# The media type a file is recorded and served as, likewise by its content: the type a sender
# or uploader declared is never kept, so it can never reach a browser.
IMAGE_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
# FFmpeg container -> (type when it holds only sound, type when it holds a picture track).
AV_TYPES: dict[str, tuple[str, str]] = {
    "ogg": ("audio/ogg", "video/ogg"),
    "mov,mp4,m4a,3gp,3g2,mj2": ("audio/mp4", "video/mp4"),
    "matroska,webm": ("audio/webm", "video/webm"),
    "mp3": ("audio/mpeg", "audio/mpeg"),
    "wav": ("audio/wav", "audio/wav"),
    "aac": ("audio/aac", "audio/aac"),
    "flac": ("audio/flac", "audio/flac"),
    "amr": ("audio/amr", "audio/amr"),
    "amrnb": ("audio/amr", "audio/amr"),
    "amrwb": ("audio/amr", "audio/amr"),
    "avi": ("video/x-msvideo", "video/x-msvideo"),
}
UNKNOWN_TYPE = "application/octet-stream"
_SAFE_EXT = re.compile(r"\.[a-z0-9]{1,8}")
_MIB = 1024 * 1024


class Limits(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(20 * _MIB, gt=0)  # what the Telegram Bot API lets a bot download
    max_duration: float = Field(300.0, gt=0)  # seconds
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, gt=0)


@dataclass(frozen=True, slots=True)
class Checked:
    path: Path
    info: MediaInfo

    @property
    def kind(self) -> Kind:
        return self.info.kind

    @property
    def extension(self) -> str:
        """The extension the content deserves (".ogg", ".jpg"), "" if unknown."""
        return EXTENSIONS.get(self.info.container, "")

    @property
    def mime(self) -> str:
        """The media type the content deserves ("image/jpeg", "audio/ogg"); the octet-stream
        type for a container we have no name for."""
        return media_type(self.info)


def media_type(info: MediaInfo) -> str:
    """What the probe found, as a media type: never what the sender claimed."""
    if info.kind == "image":
        return IMAGE_TYPES.get(info.container, UNKNOWN_TYPE)
    audio, video = AV_TYPES.get(info.container, (UNKNOWN_TYPE, UNKNOWN_TYPE))
    return video if info.kind == "video" else audio


def check(
    path: str | os.PathLike[str], kind_hint: str | None = None, limits: Limits | None = None
) -> Checked:
    """Accept a citizen's file or raise MediaError with a Persian message to send back.

    `kind_hint` is the Telegram message type ("photo", "voice", "video", "document", ...).
    """
    limits = limits or Limits()
    _check_size(path, limits.max_bytes)
    expected = EXPECTED_KIND.get(kind_hint or "")
    info = _sniff(path, expected, limits)
    if expected is not None and info.kind != expected:
        raise MediaError(
            "wrong_kind", f"sent as {kind_hint} but it is {info.kind}", NOT_KIND[expected]
        )
    if info.duration is not None and info.duration > limits.max_duration:
        raise too_long(info.kind, info.duration, limits.max_duration)
    return Checked(path=Path(path), info=info)


def store_by_hash(
    path: str | os.PathLike[str],
    media_dir: str | os.PathLike[str],
    *,
    ext: str | None = None,
    move: bool = False,
) -> Path:
    """Copy (or move) `path` to media_dir/<sha256[:2]>/<sha256><ext> and return the new path.

    The bytes are hashed while they are copied to a ".part" file that is renamed into place,
    so a reader never sees half a file and the same content always lands on the same path.
    `ext` defaults to the source's own (sanitised) extension; pass Checked.extension instead.
    """
    source, root = Path(path), Path(media_dir)
    root.mkdir(parents=True, exist_ok=True)
    part = root / f".{uuid.uuid4().hex}.part"
    try:
        digest = _copy_hashing(source, part)
        final = root / digest[:2] / f"{digest}{_clean_ext(ext, source)}"
        final.parent.mkdir(exist_ok=True)
        if not final.exists():  # the same bytes are already stored under this name
            os.replace(part, final)
    finally:
        part.unlink(missing_ok=True)
    if move:
        source.unlink()
    return final


def store_bytes(data: bytes | bytearray, media_dir: str | os.PathLike[str], ext: str = "") -> Path:
    """What :func:`store_by_hash` does for bytes already in memory (a download): write them to
    media_dir/<sha256[:2]>/<sha256><ext> through a ".part" file, unless already there."""
    digest = hashlib.sha256(data).hexdigest()
    target = Path(media_dir) / digest[:2] / f"{digest}{ext}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        partial.replace(target)  # whole or absent, never half a file
    return target


def _check_size(path: str | os.PathLike[str], max_bytes: int) -> None:
    size = file_size(path)
    if size > max_bytes:
        raise MediaError(
            "too_big",
            f"{size} bytes, the limit is {max_bytes}",
            f"حجم فایل بیشتر از {_size_text(max_bytes)} است؛ لطفاً فایل کوچک‌تری بفرستید.",
        )


def _sniff(path: str | os.PathLike[str], expected: Kind | None, limits: Limits) -> MediaInfo:
    """Pillow first (cheap, reads a header); whatever it does not know goes to PyAV."""
    try:
        return inspect_image(path, limits.max_pixels)
    except MediaError as exc:
        if exc.reason != "not_media" or expected == "image":
            raise
    return probe(path, max_duration=limits.max_duration)


def _size_text(size: int) -> str:
    if size >= _MIB:
        return f"{fa_digits(round(size / _MIB))} مگابایت"
    return f"{fa_digits(max(1, round(size / 1024)))} کیلوبایت"


def _copy_hashing(source: Path, part: Path) -> str:
    sha = hashlib.sha256()
    with source.open("rb") as src, part.open("xb") as out:
        while chunk := src.read(_MIB):
            sha.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())  # the rename must not publish bytes still in the page cache
    return sha.hexdigest()


def _clean_ext(ext: str | None, source: Path) -> str:
    candidate = (source.suffix if ext is None else ext).lower()
    return candidate if _SAFE_EXT.fullmatch(candidate) else ""
