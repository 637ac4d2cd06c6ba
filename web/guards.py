"""What every request passes through before and after a route: who the client is (behind a
trusted proxy only), how large a body may be, which security headers go out, strict JSON, and
validation errors that never echo the input back.

- :class:`ForwardedHeaders`: ``X-Forwarded-For`` and ``-Proto`` are believed only from the
  proxies named in ``PEYGIR_TRUSTED_PROXIES``; the client is the right-most address a trusted
  proxy did not add. Anyone else's headers are ignored (uvicorn runs with
  ``proxy_headers=False``), so the login and code-guess throttles key on an address nobody
  can forge.
- :class:`BodyLimit`: each route's body is counted as it arrives, with or without
  ``Content-Length``, and refused with 413 as soon as it passes the route's cap.
- :class:`SecurityHeaders`: a Content-Security-Policy, no framing (the Eitaa mini-app only by
  Eitaa), ``nosniff`` and a referrer policy on every response; a route's own values win.
"""

from __future__ import annotations

import inspect
import ipaddress
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Shared with the channels' routes, which import nothing of web/; re-exported for the app's.
from peygir.channels.http import StrictJSONRequest as StrictJSONRequest
from peygir.channels.http import StrictJSONRoute as StrictJSONRoute
from peygir.channels.http import client_address as client_address
from peygir.channels.http import secure_cookies as secure_cookies
from peygir.channels.http import strict_json as strict_json
from peygir.conversation.dialogue import MAX_DOWNLOAD

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


# -- who the client is -------------------------------------------------------------------------
def parse_networks(text: str) -> tuple[Network, ...]:
    """``PEYGIR_TRUSTED_PROXIES``: comma-separated addresses or networks; a typo stops the
    start rather than silently trusting nobody (or everybody)."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as bad:
                raise ValueError(f"PEYGIR_TRUSTED_PROXIES: {item!r} is not an address or "
                                 "network") from bad
    return tuple(networks)


def _address(text: str) -> Address | None:
    """An address as proxies write it: bare, with a port, or IPv6 in brackets."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _header(scope: Scope, name: bytes) -> str:
    return ",".join(v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name)


class ForwardedHeaders:
    """The client's address and scheme from a trusted proxy's ``X-Forwarded-*`` headers."""

    def __init__(self, app: ASGIApp, trusted: str | Sequence[Network]) -> None:
        self.app = app
        self.trusted = parse_networks(trusted) if isinstance(trusted, str) else tuple(trusted)

    def is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(
            address.version == net.version and address in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.trusted \
                and self.is_trusted(_address(str(client[0]))):
            self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        hops = [hop for hop in _header(scope, b"x-forwarded-for").split(",") if hop.strip()]
        # Right to left: each trusted proxy appends the address it saw; whatever stands left
        # of the first untrusted one is the client's own say, and may be forged.
        for index in range(len(hops) - 1, -1, -1):
            address = _address(hops[index])
            if address is None:
                break  # a proxy that writes garbage: keep the proxy itself as the client
            if index == 0 or not self.is_trusted(address):
                scope["client"] = (str(address), 0)
                break
        proto = _header(scope, b"x-forwarded-proto").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            secure = proto == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = proto


# -- how large a body may be -------------------------------------------------------------------
KB = 1024
DEFAULT_BODY = 64 * KB  # forms, the panel's buttons, anything not named below
# Route caps, first match wins. Upload routes keep their own limit (and message) a little
# below the cap here, which is only the backstop.
BODY_LIMITS: tuple[tuple[re.Pattern[str], int], ...] = (
    # MAX_TEXT (50,000) characters, even each written as a JSON escaped surrogate pair
    # (12 bytes), and the JSON around them: a text one character too long is a 422 that says
    # so, not a 413 (the OpenAPI document promises the 422).
    (re.compile(r"/api/(chat|eitaa)/send"), 640 * KB),
    (re.compile(r"/api/eitaa/photo"), MAX_DOWNLOAD + 1024 * KB),
    (re.compile(r"/api/chat/upload"), MAX_DOWNLOAD + 1024 * KB),
    (re.compile(r"/panel/tickets/[^/]+/evidence"), MAX_DOWNLOAD + 1024 * KB),
    (re.compile(r"/bot/[^/]+/[^/]+"), 1024 * KB),  # a Bot API update: text, captions, ids
    (re.compile(r"/open311/.*"), 128 * KB),  # Open311 refuses over 64 KB in its own words
)
TOO_LARGE = "حجم درخواست بیش از حد مجاز است. — Request body too large."


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes its cap; the route's error handler (JSON,
    Open311's list, the panel's page) words the 413."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


def body_limit(path: str) -> int:
    for pattern, limit in BODY_LIMITS:
        if pattern.fullmatch(path):
            return limit
    return DEFAULT_BODY


class BodyLimit:
    """Refuses a request body past its route's cap as the bytes arrive, never holding more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(scope, receive, send)  # before a byte of it is read
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception as exc:
            if started or not _only_too_large(exc):
                raise
            await _too_large(scope, receive, send)


def _only_too_large(exc: BaseException) -> bool:
    """The body cap, alone, or wrapped by a task group on its way out."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_too_large(inner) for inner in exc.exceptions)
    return isinstance(exc, BodyTooLarge)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"detail": TOO_LARGE}, status_code=413,
                       headers={"Connection": "close"})(scope, receive, send)


# -- what a path allows ------------------------------------------------------------------------
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, for a 405's ``Allow`` (Starlette names
    only the first matching route's, and GET and POST of one path may be two routes). Asked
    of the routes themselves, so routers included in routers answer too."""
    methods = [method for method in METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL
        for route in request.app.router.routes)]
    return ", ".join(methods)


# -- security headers --------------------------------------------------------------------------
def content_security_policy(script_src: str = "", frame_ancestors: str = "'none'",
                            img_src: str = "") -> str:
    """Only this origin's scripts, styles, fonts and images (what chat.html and the panel
    load); ``script_src`` adds an origin (Eitaa's SDK), ``img_src`` one for images (the map's
    tile server, when one is configured)."""
    return (f"default-src 'self'; script-src 'self'{' ' + script_src if script_src else ''}; "
            f"style-src 'self'; img-src 'self' data:{' ' + img_src if img_src else ''}; "
            "media-src 'self'; font-src 'self'; "
            f"connect-src 'self'; frame-ancestors {frame_ancestors}; form-action 'self'; "
            "base-uri 'none'; object-src 'none'")


COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = COMMON_HEADERS | {
    "Content-Security-Policy": content_security_policy(),
    "X-Frame-Options": "DENY",
}
PANEL_HEADERS = PAGE_HEADERS | {"Cache-Control": "no-store"}  # nothing of the panel cached
API_HEADERS = PAGE_HEADERS | {"Cache-Control": "no-store"}  # a chat's replies, kept nowhere


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") \
        and parts.netloc else ""


def tiles_source(tiles_url: str) -> str:
    """The CSP source of a ``{z}/{x}/{y}`` tile URL: its origin, a ``{s}`` subdomain as
    ``*``; empty when no tile server is configured (then no outside image is allowed)."""
    origin = origin_of(tiles_url.replace("{s}", "s-placeholder"))
    return origin.replace("s-placeholder", "*") if origin else ""


def eitaa_headers(sdk_url: str, frame_ancestors: str, img_src: str = "") -> dict[str, str]:
    """The mini-app's page: Eitaa's SDK may run and Eitaa may frame it (so no
    ``X-Frame-Options``, which cannot name who may)."""
    if not frame_ancestors.strip() or re.search(r"[;,\r\n]", frame_ancestors):
        raise ValueError("PEYGIR_EITAA_FRAME_ANCESTORS: space-separated sources, no ';' or ','")
    return COMMON_HEADERS | {"Content-Security-Policy": content_security_policy(
        origin_of(sdk_url), frame_ancestors.strip(), img_src)}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, eitaa: dict[str, str], img_src: str = "") -> None:
        self.app = app
        self.eitaa = eitaa
        # The map's tiles (PEYGIR_MAP_TILES) are the one outside origin a page may load.
        page = PAGE_HEADERS | {"Content-Security-Policy": content_security_policy(
            img_src=img_src)} if img_src else PAGE_HEADERS
        self.page = page
        self.panel = page | {"Cache-Control": "no-store"}
        self.api = page | {"Cache-Control": "no-store"}

    def headers_for(self, path: str) -> dict[str, str]:
        if path == "/panel" or path.startswith("/panel/"):
            return self.panel
        if path == "/eitaa":
            return self.eitaa
        if path.startswith("/api/") or path == "/openapi.json":
            return self.api
        return self.page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chosen = self.headers_for(scope["path"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in chosen.items():
                    headers.setdefault(name, value)  # a route's own (e.g. media's) wins
            await send(message)

        await self.app(scope, receive, with_headers)


# -- validation errors (strict JSON itself is channels.http's) ---------------------------------
def _printable(value: object) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")  # lone surrogates → '?'


def _message(error: dict[str, Any]) -> str:
    """The rule broken; for bad JSON, what was wrong with it (the decoder's words, which
    quote nothing of the input)."""
    reason = (error.get("ctx") or {}).get("error") if error.get("type") == "json_invalid" \
        else None
    return f"{error.get('msg', '')}: {reason}" if isinstance(reason, str) else \
        str(error.get("msg", ""))


def install_validation_errors(app: FastAPI, keep: str = "/open311/") -> None:
    """422s that name the field and the rule but never echo the input: an echoed NaN or lone
    surrogate cannot be written as JSON, which made each a 500. Paths under ``keep`` (Open311,
    which words its own errors without the input) keep the handler installed before."""
    previous = app.exception_handlers.get(RequestValidationError)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if previous is not None and request.url.path.startswith(keep):
            # Starlette allows plain-function handlers as well as coroutines.
            answer = previous(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        detail = [{"type": _printable(e.get("type", "")),
                   "loc": [_printable(part) for part in e.get("loc", ())],
                   "msg": _printable(_message(e))} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(RequestValidationError, on_validation)
