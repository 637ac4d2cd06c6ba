"""How a stored file (a citizen's attachment, a unit's evidence photo) goes back to a browser.

The one rule for every route that serves one: a file is shown inline only as an image, audio
or video type on the allow-list below, with ``nosniff`` so the browser never guesses another
type; anything else is a download of opaque bytes. The type comes from the stored row only
when that is itself on the list, else from the file's extension (which the probe chose from
the content), so rows kept before the probe's type was recorded, with whatever type an
uploader declared, are served safely too. An uploader can therefore never make the site
serve HTML or JavaScript, whatever the bytes hide after the image.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import FileResponse

# Types a browser only ever decodes as media: nothing here can run a script or be a page
# (no SVG, no HTML, no XML, no PDF).
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp",
    "video/mp4", "video/webm", "video/ogg",
    "audio/ogg", "audio/mpeg", "audio/mp4", "audio/webm", "audio/wav", "audio/aac",
    "audio/flac",
})
# The extensions media_ingest.intake gives by content, and what each is shown as.
BY_EXTENSION = {
    ".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
    ".bmp": "image/bmp", ".mp4": "video/mp4", ".webm": "video/webm", ".ogg": "audio/ogg",
    ".mp3": "audio/mpeg", ".wav": "audio/wav", ".aac": "audio/aac", ".flac": "audio/flac",
}
DOWNLOAD_TYPE = "application/octet-stream"
# Even shown as an image, the response may not load anything or run anything: if a browser
# ever did treat it as a document, it would be an empty, sandboxed one.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
# IntField is a 32-bit integer in PostgreSQL; a larger id can only be a miss.
MAX_ID = 2**31 - 1
_HASH_NAME = re.compile(r"[0-9a-f]{64}(\.[a-z0-9]{1,8})?")
_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


def inline_type(stored: str | None, path: Path) -> str | None:
    """The allow-listed type to show the file as, or None: it is only offered as a download."""
    declared = (stored or "").split(";", 1)[0].strip().lower()
    if declared in INLINE_TYPES:
        return declared
    return BY_EXTENSION.get(path.suffix.lower())


def stored_file(path: str | None, media_dir: str | Path) -> Path | None:
    """The row's file if it exists inside the media folder, else None (a stale or odd path)."""
    if not path:
        return None
    root = Path(media_dir).resolve()
    found = Path(path).resolve()
    if not found.is_relative_to(root) or not found.is_file():
        return None
    return found


def hash_of(name: str) -> str | None:
    """The content hash in a public media name (``<sha256>.jpg``), None for any other name."""
    if not _HASH_NAME.fullmatch(name):
        return None
    return name.partition(".")[0]


def media_response(path: Path, stored: str | None, cache_control: str) -> FileResponse:
    """The file as an inert image/audio/video, or else as a download of opaque bytes."""
    headers = HEADERS | {"Cache-Control": cache_control}
    shown = inline_type(stored, path)
    if shown is None:
        suffix = path.suffix.lower()
        name = "attachment" + (suffix if _SAFE_SUFFIX.fullmatch(suffix) else ".bin")
        return FileResponse(path, media_type=DOWNLOAD_TYPE, headers=headers, filename=name)
    return FileResponse(path, media_type=shown, headers=headers)
