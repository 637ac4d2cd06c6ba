"""What the JSON routes answer besides 200, as the OpenAPI document declares it.

Each route names its own error codes with :func:`answers`; the shapes here are the ones the
app really sends: ``{"detail": "..."}`` from an ``HTTPException`` or the body cap, and the
422 list of :func:`web.guards.install_validation_errors`. A schemathesis run with every check
(tests/hostile/test_openapi.py) holds the document to it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from web.media import DOWNLOAD_TYPE, INLINE_TYPES


class Problem(BaseModel):
    """An error in plain words: Persian for citizens, with an English gloss where useful."""

    detail: str


WHY = {
    400: "The body is not what the route takes (not JSON, or not UTF-8).",
    401: "Not signed: the secret or Eitaa's initData is missing or does not check out.",
    404: "Nothing here: an unknown name, or a channel that is not configured.",
    413: "The body is larger than this route accepts; refused as it arrived.",
}

def answers(*codes: int, empty: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code with its reason, and the ``Problem`` body unless
    the route answers errors with no body at all."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        documented[code] = {"description": WHY[code]}
        if not empty:
            documented[code]["model"] = Problem
    return documented


# The types /media/<hash> may answer with (web.media's allow-list, or a download).
MEDIA_TYPES = (*sorted(INLINE_TYPES), DOWNLOAD_TYPE)
MEDIA_OK: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file, as the type its content was found to be.",
    "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in MEDIA_TYPES},
}}
