"""The web app: health, static files, evidence photos and (by signed, expiring link, for the
back office) forwarded reports' photos of its own; Open311; the staff panel
at ``/panel``; and whatever routes each channel serves (the web chat at ``/``, the Eitaa
mini-app, the Bot API webhook). It knows no channel: it mounts what ``core.channels`` offer."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from peygir.bots.core import Core
from peygir.config.clock import utcnow
from peygir.config.roles import Role
from peygir.media_ingest import links
from peygir.ticket_store.models import Attachment, ForwardedReport
from peygir.web import citymap, observe, open311, petitions, qr
from peygir.web.api_docs import MEDIA_OK, answers
from peygir.web.guards import (
    BodyLimit,
    ForwardedHeaders,
    SecurityHeaders,
    StrictJSONRoute,
    eitaa_headers,
    install_validation_errors,
    tiles_source,
)
from peygir.web.media import hash_of, inline_type, media_response, stored_file

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


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
    app.router.route_class = StrictJSONRoute  # JSON strictly: no NaN
    app.state.core = core
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/healthz")
    async def health() -> dict[str, object]:
        return {"ok": True, "services": len(core.pack.services), "faqs": len(core.pack.faqs)}

    if Role.WEB not in core.settings.roles:
        # A bots, worker or scheduler process: its health for the orchestrator, nothing else.
        observe.install(app, core)
        app.add_middleware(ForwardedHeaders, trusted=core.settings.trusted_proxies)
        return app

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

    @app.get(f"{links.PATH}/{{attachment_id}}/{{expires}}/{{signature}}",
             response_class=Response, responses={**MEDIA_OK, **answers(404)})
    async def signed_photo(attachment_id: str, expires: str, signature: str) -> FileResponse:
        """A citizen's photo of a forwarded report, for the back office that received the
        signed link (``media_ingest/links.py``). Any fault is the same bare 404."""
        return await _signed_photo(core, attachment_id, expires, signature)

    for channel in core.channels:  # the web chat first: its page is "/"
        routes = channel.routes()
        if routes is not None:
            app.include_router(routes)
    open311.install(app)
    citymap.install(app, core)
    petitions.install(app, core)  # /petitions: the public list (issue 20)
    qr.install(app, core)  # /q/<token>: a staff member's or a place's QR code (issue 20)
    observe.install(app, core)  # /readyz, and /metrics when PEYGIR_METRICS is on
    install_validation_errors(app)  # after Open311's, which keeps its own paths
    if core.settings.api_docs:
        _api_docs(app)
    # Last: the panel's error pages hand every other path to the handler installed before.
    from peygir.web.panel import install as install_panel

    install_panel(app, core)

    # Outermost last: the real client first, then headers on every answer, then the body cap.
    settings = core.settings
    app.add_middleware(BodyLimit)
    tiles = tiles_source(settings.map_tiles)
    app.add_middleware(SecurityHeaders, img_src=tiles,
                       eitaa=eitaa_headers(settings.eitaa_sdk_url, settings.eitaa_frame_ancestors,
                                           tiles))
    app.add_middleware(ForwardedHeaders, trusted=settings.trusted_proxies)
    return app


async def _signed_photo(core: Core, attachment_id: str, expires: str,
                        signature: str) -> FileResponse:
    settings = core.settings
    key = links.link_key(settings)
    now = utcnow()
    lifetime = timedelta(days=settings.media_link_days)
    parsed = links.parse(attachment_id, expires, signature, now, lifetime)
    if key is None or parsed is None:
        raise HTTPException(404)
    row = await Attachment.get_or_none(id=parsed.attachment_id)
    # Only a citizen's photo, of a report that was forwarded, still kept with the content it
    # was signed for: anything else (a voice note, a unit's evidence, an erased file) is 404.
    if (row is None or row.kind != "photo" or row.evidence or row.ticket_id is None
            or not links.matches(key, parsed, row.sha256)):
        raise HTTPException(404)
    path = stored_file(row.path, settings.media_dir)
    if path is None or not (inline_type(row.mime, path) or "").startswith("image/"):
        raise HTTPException(404)
    if not await ForwardedReport.exists(ticket_id=row.ticket_id):
        raise HTTPException(404)
    # Cached no longer than the link lives; never by a shared cache; never indexed.
    ttl = max(0, min(86400, parsed.expires - int(now.timestamp())))
    answer = media_response(path, row.mime, f"private, max-age={ttl}")
    answer.headers["X-Robots-Tag"] = "noindex, nofollow"
    return answer


def _api_docs(app: FastAPI) -> None:
    """``PEYGIR_API_DOCS``: the OpenAPI document and a plain list of operations, for signed-in
    staff. Under /panel, where the staff cookie goes; nothing loaded from a CDN (no Swagger UI
    ships in our dependencies), nothing the panel's CSP would block."""
    from peygir.web.panel.security import PATH, current_staff

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
