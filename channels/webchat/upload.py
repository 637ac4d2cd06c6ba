"""A file the web chat's page uploads (a photo or video from the gallery or camera, a voice
note recorded in the page), taken in as the messengers' downloads are.

The body is the file itself (no multipart), streamed to a scratch file and cut off at
``MAX_DOWNLOAD``; the probe, not the browser, says what it is; a photo's EXIF place becomes a
location hint and its metadata (GPS, camera, owner) is stripped before a unit can see it. A
file that is not what it claims comes back as an ``Attachment`` with a polite ``problem``,
which the dialogue answers as it answers a messenger's.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import HTTPException, Request

from peygir.conversation.dialogue import MAX_DOWNLOAD
from peygir.media_ingest.images import exif_location, strip_exif
from peygir.media_ingest.intake import Checked, check, store_by_hash
from peygir.media_ingest.probe import MediaError
from peygir.media_ingest.video_meta import strip_video_metadata, video_location
from peygir.messages.types import Attachment, AttachmentKind

log = logging.getLogger(__name__)

UploadKind = Literal["photo", "video", "voice", "file"]
TOO_BIG = "حجم فایل بیشتر از ۲۰ مگابایت است؛ لطفاً فایل کوچک‌تری بفرستید."
UNREADABLE = "این عکس خوانده نشد؛ لطفاً عکس دیگری بفرستید."
# What a stripped photo is saved as: its own format when Pillow writes it without loss of
# meaning, else JPEG (a GIF's frames or a TIFF's pages are not evidence a unit needs).
_CLEAN_EXT = {".jpg": ".jpg", ".png": ".png", ".webp": ".webp"}
# The probe's kind, as the dialogue names an attachment when the page did not say ("file").
_BY_KIND: dict[str, AttachmentKind] = {"image": "photo", "video": "video", "audio": "audio"}


async def receive(request: Request, kind: UploadKind, media_dir: Path, ref: str) -> Attachment:
    """The request's body as a checked, stored attachment (or one with a ``problem``);
    413 as soon as it passes the limit, declared or streamed."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_DOWNLOAD:
        raise HTTPException(413, TOO_BIG)
    media_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=media_dir, prefix=".upload-") as scratch:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_DOWNLOAD:
                raise HTTPException(413, TOO_BIG)
            scratch.write(chunk)
        scratch.flush()
        # Pillow, PyAV and the copy are blocking work: off the event loop.
        return await asyncio.to_thread(_keep, Path(scratch.name), kind, size, media_dir, ref)


def _keep(path: Path, kind: UploadKind, size: int, media_dir: Path, ref: str) -> Attachment:
    hint = None if kind == "file" else kind
    try:
        checked = check(path, hint)
    except MediaError as bad:
        log.info("web chat: refused a %s (%s): %s", kind, bad.reason, bad.detail)
        named: AttachmentKind = "document" if kind == "file" else kind
        return Attachment(named, ref, None, size, problem=bad.message)
    final_kind = _BY_KIND.get(checked.kind, "document") if kind == "file" else kind
    if checked.kind == "video":
        return _keep_video(path, checked, final_kind, size, media_dir, ref)
    if checked.kind != "image":
        kept = store_by_hash(path, media_dir, ext=checked.extension)
        return Attachment(final_kind, ref, checked.mime, size, checked.info.duration,
                          path=str(kept))
    place = exif_location(path)
    with tempfile.TemporaryDirectory(dir=media_dir, prefix=".strip-") as folder:
        clean = Path(folder) / f"clean{_CLEAN_EXT.get(checked.extension, '.jpg')}"
        try:
            strip_exif(path, clean)
            stripped = check(clean, "photo")
        except (MediaError, OSError, ValueError) as odd:  # pixels Pillow reads but cannot write
            log.info("web chat: a photo could not be stripped: %s", odd)
            return Attachment(final_kind, ref, None, size, problem=UNREADABLE)
        kept = store_by_hash(clean, media_dir, ext=stripped.extension)
    return Attachment(final_kind, ref, stripped.mime, kept.stat().st_size, path=str(kept),
                      location_hint=place)


def _keep_video(path: Path, checked: Checked, kind: AttachmentKind, size: int,
                media_dir: Path, ref: str) -> Attachment:
    """A video's place as a hint, and the video kept without its container's metadata; one
    whose packets cannot be copied so is kept as it came (logged), not refused."""
    place = video_location(path)
    with tempfile.TemporaryDirectory(dir=media_dir, prefix=".strip-") as folder:
        clean = Path(folder) / f"clean{checked.extension or '.mkv'}"
        if strip_video_metadata(path, clean, checked.info.container):
            try:
                checked = check(clean, "video")
                path = clean
            except MediaError as odd:
                log.info("web chat: the stripped copy did not probe (%s); kept as sent", odd)
        kept = store_by_hash(path, media_dir, ext=checked.extension)
    return Attachment(kind, ref, checked.mime, size, checked.info.duration, path=str(kept),
                      location_hint=place)
