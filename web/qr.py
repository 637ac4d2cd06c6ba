"""A printed QR code's address, ``GET /q/<token>`` (issue 20): it opens the web chat with
the staff member or place known (the page presses ``qr:open:<token>``, conversation/qr.py).

The token is checked for shape only; whether it is live is the conversation's to say, so a
revoked code gets the same polite answer on every channel. Nothing here reads the database.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from peygir.bots.core import Core
from peygir.ticket_store.qr import TOKEN_PATTERN

_TOKEN = re.compile(TOKEN_PATTERN)


def install(app: FastAPI, core: Core) -> None:
    @app.get("/q/{token}", include_in_schema=False)
    async def qr_code(token: str) -> RedirectResponse:
        # No referrer leaves with the token; a malformed one opens the plain chat.
        target = f"/?qr={token}" if _TOKEN.fullmatch(token) else "/"
        return RedirectResponse(target, status_code=303,
                                headers={"Referrer-Policy": "no-referrer",
                                         "Cache-Control": "no-store"})
