"""Signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from peygir.ticket_store import staff as staff_store
from peygir.web.panel.common import now_of, render
from peygir.web.panel.security import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    PATH,
    CsrfStaff,
    clear_session_cookie,
    login_csrf_token,
    safe_next,
    same_token,
    set_login_csrf_cookie,
    set_session_cookie,
)

router = APIRouter()


def _login_page(request: Request, next_url: str, error: str = "", status_code: int = 200
                ) -> HTMLResponse:
    token = login_csrf_token(request)
    response = render(request, "panel/login.html",
                      {"next": safe_next(next_url), "error": error, "login_csrf": token},
                      status_code=status_code)
    set_login_csrf_cookie(request, response, token)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    if not same_token(request.cookies.get(LOGIN_CSRF_COOKIE), csrf):
        return _login_page(request, next, "فرم منقضی شده است؛ دوباره تلاش کنید.", 403)
    ip = request.client.host if request.client else "?"
    result = await staff_store.authenticate(username, password, ip, now_of(request))
    if result.throttled:
        return _login_page(request, next, "تلاش‌های ناموفق زیاد بود؛ چند دقیقه بعد دوباره "
                           "تلاش کنید.", 429)
    if result.user is None:
        return _login_page(request, next, "نام کاربری یا گذرواژه نادرست است.", 401)
    await staff_store.close_session(request.cookies.get(COOKIE))  # no session fixation
    token, _ = await staff_store.open_session(result.user, now_of(request))
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PATH)
    return response


@router.post("/logout")
async def logout(request: Request, staff: CsrfStaff) -> Response:
    await staff_store.close_session(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PATH}/login", status_code=303)
    clear_session_cookie(request, response)
    return response
