"""The web app: the no-token web chat at ``/``, its JSON API, and the staff panel at ``/panel``."""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from bots.core import Core
from messages.types import IncomingMessage, Location, Reply, evidence_url
from ticket_store import store
from ticket_store.models import Attachment
from web import open311
from web.api_docs import MEDIA_OK, answers
from web.guards import (
    BodyLimit,
    ForwardedHeaders,
    SecurityHeaders,
    StrictJSONRoute,
    client_address,
    eitaa_headers,
    install_validation_errors,
    secure_cookies,
    strict_json,
)
from web.media import hash_of, media_response

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
CHANNEL = "web"
COOKIE = "peygir_chat"
MAX_TEXT = 50_000  # characters; more than any honest report, less than a denial of service


def _whole_characters(value: str) -> str:
    """A lone UTF-16 surrogate is no character: no keyboard types one, and neither the
    database nor a JSON reply can hold one."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("متن نویسهٔ نامعتبر دارد — the text holds an invalid character "
                         "(a lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_whole_characters)]


class LocationIn(BaseModel):
    # Finite only: NaN and ±Infinity are no place (and NaN slips past every comparison).
    # Strict: a number, not "35.7" or true (the document says number; so does the check).
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, strict=True)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, strict=True)


class ChatIn(BaseModel):
    # The document says what the check below refuses: one of the three must be there.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in ("text", "callback", "location")]})

    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    text: Text | None = Field(default=None, max_length=MAX_TEXT)
    callback: Text | None = Field(default=None, max_length=128)
    location: LocationIn | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ChatIn:
        if self.text is None and self.callback is None and self.location is None:
            raise ValueError("پیام خالی است. — the message is empty")
        return self

    def incoming(self, channel: str, chat: str, origin: str | None = None) -> IncomingMessage:
        """The message as the dialogue takes it (the web chat's and the Eitaa mini-app's);
        ``origin`` is the client's address, for the code-guess throttle only."""
        return IncomingMessage(
            channel=channel, chat_id=chat, user_id=chat, message_id=self.client_id,
            dedup_key=f"{channel}:{chat}:{self.client_id}", text=self.text or "",
            callback_data=self.callback,
            location=Location(self.location.lat, self.location.lon) if self.location else None,
            origin=origin,
        )


def for_browser(reply: Reply) -> dict[str, object]:
    """A reply as a page shows it: evidence photos are files on disk, the page gets their
    URLs (``/media/<hash>``), never the server's paths."""
    payload = reply.to_payload()
    payload["photos"] = [evidence_url("", p) for p in payload["photos"]]
    return payload


class ChatOut(BaseModel):
    replies: list[dict[str, object]]


def chat_id(request: Request, response: Response,
            peygir_chat: Annotated[str | None, Cookie()] = None) -> str:
    """The web chat's identity: a random id in an HttpOnly cookie, no account needed;
    ``Secure`` behind HTTPS, so it never travels in clear."""
    if peygir_chat and 16 <= len(peygir_chat) <= 64 and peygir_chat.isascii():
        return peygir_chat
    new_id = secrets.token_urlsafe(24)
    response.set_cookie(COOKIE, new_id, httponly=True, samesite="strict",
                        secure=secure_cookies(request), max_age=60 * 60 * 24 * 180)
    return new_id


ChatId = Annotated[str, Depends(chat_id)]


def create_app(core: Core) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not core.started:
            await core.start()
        try:
            yield
        finally:
            await core.stop()

    # No docs at FastAPI's public URLs: off by default, else for staff (_api_docs below).
    app = FastAPI(title="peygir", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.router.route_class = StrictJSONRoute  # this module's and Eitaa's JSON: no NaN
    app.state.core = core
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "chat.html", {})

    @app.get("/healthz")
    async def health() -> dict[str, object]:
        return {"ok": True, "services": len(core.pack.services), "faqs": len(core.pack.faqs)}

    async def deliver(chat: str) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for row in await store.pending(CHANNEL, chat):
            if await store.mark_sent(row):
                out.append(for_browser(Reply.from_payload(row.payload)))
        return out

    @app.get("/media/{name}", response_class=Response,
             responses={**MEDIA_OK, **answers(404)})
    async def evidence_photo(name: str) -> FileResponse:
        """A unit's evidence photo, by its content hash; nothing a citizen sent is served."""
        sha = hash_of(name)
        if sha is None:
            raise HTTPException(404)
        # The same photo uploaded twice is two rows with one hash (and one file): any will do.
        row = await Attachment.filter(sha256=sha, evidence=True).order_by("id").first()
        if row is None or not row.path or not Path(row.path).is_file():
            raise HTTPException(404)
        return media_response(Path(row.path), row.mime, "private, max-age=86400")

    @app.post("/api/chat/send", responses=answers(400, 413))
    async def send(body: ChatIn, chat: ChatId, request: Request) -> ChatOut:
        await core.dialogue.handle(body.incoming(CHANNEL, chat, client_address(request)))
        return ChatOut(replies=await deliver(chat))

    @app.post("/bot/{channel}/{path}", response_class=Response,
              responses=answers(400, 401, 404, 413, empty=True))
    async def bot_webhook(
        channel: str, path: str, request: Request,
        x_telegram_bot_api_secret_token: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Telegram's and Bale's webhook: refused (401) without the secret, before any work."""
        messengers = core.messengers
        if messengers is None or messengers.by_channel(channel) is None:
            return Response(status_code=404)
        if not messengers.authorised(channel, path, x_telegram_bot_api_secret_token):
            return Response(status_code=401)
        try:  # strict (no NaN); a lone surrogate in a text becomes '?' (Telegram retries a 400)
            body = strict_json(await request.body(), mend_text=True)
        except ValueError:
            return Response(status_code=400)
        return Response(status_code=await messengers.handle_webhook(channel, body))

    @app.get("/api/chat/poll")
    async def poll(chat: ChatId) -> ChatOut:
        return ChatOut(replies=await deliver(chat))

    from web.eitaa import add_eitaa_routes  # here: it imports ChatIn from this module

    add_eitaa_routes(app, core, templates)
    open311.install(app)
    install_validation_errors(app)  # after Open311's, which keeps its own paths
    if core.settings.api_docs:
        _api_docs(app)
    # Last: the panel's error pages hand every other path to the handler installed before.
    from web.panel import install as install_panel

    install_panel(app, core)

    # Outermost last: the real client first, then headers on every answer, then the body cap.
    settings = core.settings
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders,
                       eitaa=eitaa_headers(settings.eitaa_sdk_url, settings.eitaa_frame_ancestors))
    app.add_middleware(ForwardedHeaders, trusted=settings.trusted_proxies)
    return app


def _api_docs(app: FastAPI) -> None:
    """``PEYGIR_API_DOCS``: the OpenAPI document and a plain list of operations, for signed-in
    staff. Under /panel, where the staff cookie goes; nothing loaded from a CDN (no Swagger UI
    ships in our dependencies), nothing the panel's CSP would block."""
    from web.panel.security import PATH, current_staff

    staff_only = [Depends(current_staff)]

    @app.get("/api/docs", include_in_schema=False)
    @app.get("/openapi.json", include_in_schema=False)
    async def to_the_panel(request: Request) -> RedirectResponse:
        target = "api" if request.url.path == "/api/docs" else "api/openapi.json"
        return RedirectResponse(f"{PATH}/{target}", status_code=303)

    @app.get(f"{PATH}/api/openapi.json", include_in_schema=False, dependencies=staff_only)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(f"{PATH}/api", include_in_schema=False, dependencies=staff_only)
    async def operations() -> HTMLResponse:
        items = [
            f"<li><code>{html.escape(method.upper())} {html.escape(path)}</code> "
            f"{html.escape(str(op.get('summary', '')))}</li>"
            for path, ops in app.openapi().get("paths", {}).items()
            for method, op in ops.items() if isinstance(op, dict)
        ]
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>peygir API</title></head><body><h1>peygir API</h1>"
            f'<p><a href="{PATH}/api/openapi.json">openapi.json</a></p>'
            f"<ul>{''.join(items)}</ul></body></html>")
