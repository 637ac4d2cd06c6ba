"""What the JSON routes answer besides 200, as the OpenAPI document declares it.

Each route names its own error codes with :func:`answers`; the shapes here are the ones the
app really sends (the helper and the shapes live in channels.http, which the channels'
routes use too): ``{"detail": "..."}`` from an ``HTTPException`` or the body cap, and the
422 list of :func:`web.guards.install_validation_errors`. A schemathesis run with every check
(tests/hostile/test_openapi.py) holds the document to it.
"""

from __future__ import annotations

from typing import Any

from peygir.channels.http import WHY as WHY
from peygir.channels.http import Problem as Problem
from peygir.channels.http import answers as answers
from peygir.web.media import DOWNLOAD_TYPE, INLINE_TYPES

# The types /media/<hash> may answer with (web.media's allow-list, or a download).
MEDIA_TYPES = (*sorted(INLINE_TYPES), DOWNLOAD_TYPE)
MEDIA_OK: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file, as the type its content was found to be.",
    "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in MEDIA_TYPES},
}}
