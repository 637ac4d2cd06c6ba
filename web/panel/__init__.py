"""The staff panel, mounted under ``/panel``: sign-in, queues, tickets, dashboards, export,
and staff accounts.

Server-rendered Jinja2 pages (``web/templates/panel``), htmx where a page updates in place,
a Persian font and htmx vendored in ``web/static`` — nothing fetched at run time. Its
security headers come from ``web.guards.SecurityHeaders``, as every page's do.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException

from peygir.bots.core import Core
from peygir.web.panel import (
    active,
    auth,
    citizens,
    dashboards,
    export,
    export_range,
    feedback,
    interop,
    maps,
    petitions,
    queues,
    replies,
    search,
    tickets,
    users,
)
from peygir.web.panel.common import make_templates, render
from peygir.web.panel.security import PATH, LoginRequired, login_redirect


def install(app: FastAPI, core: Core) -> None:
    app.state.panel_templates = make_templates(core.settings.timezone)
    app.state.panel_secure_cookies = core.settings.panel_secure_cookies
    router = APIRouter(prefix=PATH)
    for module in (auth, queues, maps, tickets, dashboards, export, export_range, users, replies,
                   citizens, search, interop, petitions, active):
        router.include_router(module.router)
    router.include_router(feedback.router)  # QR codes' feedback (issue 20)
    # HTML pages and forms for people, not an API: left out of the OpenAPI document.
    app.include_router(router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _: LoginRequired) -> Response:
        return login_redirect(request)

    # Another part of the app (Open311) may have its own error format: its paths keep it.
    previous = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith(PATH + "/") or exc.status_code < 400:
            # Starlette lets a handler be a plain function too: await only what is awaitable.
            answer = previous(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 \
            else "صفحه یا درخواستی که خواستید پیدا نشد."
        return render(request, "panel/error.html", {"code": exc.status_code, "detail": detail},
                      status_code=exc.status_code)
