"""The HTTP pieces a channel's routes share with the rest of the web app.

A channel that serves routes (the web chat, the Eitaa mini-app, Telegram's and Bale's webhook)
needs a few things every route of ``web/`` needs too: JSON decoded strictly (no NaN), the
client's address as the throttles key it, whether cookies get ``Secure``, and the error
answers the OpenAPI document declares. They live here, below both, so a channel imports no
module of ``web/``; ``web.guards`` and ``web.api_docs`` re-export them for the app's own routes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel


# -- who the client is (after web.guards.ForwardedHeaders) ---------------------------------------
def client_address(request: Request) -> str | None:
    """The client's address as the throttles key it (after :class:`ForwardedHeaders`)."""
    return request.client.host if request.client else None


def secure_cookies(request: Request) -> bool:
    """Whether cookies get ``Secure``: the request came over TLS (directly or through a
    trusted proxy), unless ``PEYGIR_PANEL_SECURE_COOKIES`` forces it either way."""
    forced = getattr(request.app.state, "panel_secure_cookies", None)
    if forced is not None:
        return bool(forced)
    return request.url.scheme == "https"


# -- strict JSON ---------------------------------------------------------------------------------
def _no_constants(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: a number in JSON, infinity in Python
        raise json.JSONDecodeError("number out of range", text, 0)
    return number


def strict_json(body: bytes | str, mend_text: bool = False) -> Any:
    """JSON as RFC 8259 has it: Python's own decoder also takes NaN and ±Infinity. With
    ``mend_text``, a lone surrogate (``"\\ud800"``: valid JSON, no character) becomes '?',
    since no database or reply can hold it."""
    value = json.loads(body, parse_constant=_no_constants, parse_float=_finite)
    if mend_text:
        text = json.dumps(value, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            value = json.loads(text.encode("utf-8", "replace"))
    return value


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is decoded strictly; a NaN is a 422 like any bad JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict



# -- what a route answers besides 200 ------------------------------------------------------------
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
