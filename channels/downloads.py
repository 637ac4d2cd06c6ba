"""What a channel downloaded for a citizen, checked by its real content before it is kept.

Telegram's, Bale's and Instagram's downloads all come here (in a worker thread): the bytes are
probed in a scratch file first, so a hostile file never lands in ``PEYGIR_MEDIA_DIR`` and a
refusal never deletes a stored file an earlier, accepted attachment shares by content hash.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from peygir.media_ingest.images import exif_location
from peygir.media_ingest.intake import check, store_bytes
from peygir.media_ingest.probe import MediaError
from peygir.messages.types import Attachment

log = logging.getLogger(__name__)


def keep_download(data: bytes | bytearray, item: Attachment, media_dir: Path, source: str,
                  ext_hint: str = "") -> Attachment:
    """``item`` with the file kept by content hash (under the extension its content deserves,
    else ``ext_hint``), the media type its content has and, for a photo, where it was taken
    (EXIF GPS: a location hint when the citizen sends none); or, for a file that is not what
    it claims, no path and a polite ``problem`` to answer with."""
    media_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=media_dir, prefix=".check-") as scratch:
        scratch.write(data)
        scratch.flush()
        try:
            checked = check(scratch.name, item.kind)
        except MediaError as bad:
            log.info("%s: refused a %s (%s): %s", source, item.kind, bad.reason, bad.detail)
            return replace(item, mime=None, path=None, size=len(data), problem=bad.message)
    kept = store_bytes(data, media_dir, checked.extension or ext_hint)
    hint = exif_location(kept) if checked.kind == "image" else None
    # The type is the probe's, never the one the sender's message declared.
    return replace(item, mime=checked.mime, path=str(kept), size=len(data),
                   location_hint=hint or item.location_hint)
