"""The panel's guards: who is signed in, which role may do what, CSRF on every form, cookies
and headers.

- Session cookie: a random token, ``HttpOnly``, ``SameSite=Strict``, path ``/panel``, and
  ``Secure`` when the request came over TLS (``X-Forwarded-Proto`` is believed only from
  ``PEYGIR_TRUSTED_PROXIES``: web.guards) or ``PEYGIR_PANEL_SECURE_COOKIES`` is set.
- CSRF: every POST carries the session's token, as the form field ``csrf`` or the
  ``X-CSRF-Token`` header (htmx); the sign-in form uses a double-submit cookie.
- Headers: a strict Content-Security-Policy (only this origin's scripts, styles, fonts and
  images), no framing, no caching of panel pages (web.guards.PANEL_HEADERS, which every
  response under /panel gets).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response

from peygir.ticket_store import staff as staff_store
from peygir.ticket_store.models import StaffRole, StaffSession, StaffUser
from peygir.web.guards import PANEL_HEADERS, secure_cookies

COOKIE = "peygir_staff"
LOGIN_CSRF_COOKIE = "peygir_login_csrf"
PATH = "/panel"

HEADERS = PANEL_HEADERS  # one policy for the whole site, kept in web.guards


class LoginRequired(Exception):  # a signal, answered with a redirect to the sign-in page
    pass


@dataclass(frozen=True)
class Staff:
    user: StaffUser
    session: StaffSession

    @property
    def role(self) -> StaffRole:
        return StaffRole(self.user.role)

    @property
    def actor(self) -> str:
        return staff_store.actor_name(self.user)

    def is_(self, *roles: StaffRole) -> bool:
        return self.role in roles

    def require(self, *roles: StaffRole) -> None:
        if self.role not in roles:
            raise HTTPException(403, "این کار در دسترس نقش شما نیست.")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path=PATH,
                        secure=secure_cookies(request),
                        max_age=int(staff_store.SESSION_MAX.total_seconds()))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=secure_cookies(request))


def login_csrf_token(request: Request) -> str:
    """The sign-in form's token: a double-submit cookie, reused while it lasts."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not token or len(token) > 64:
        token = secrets.token_urlsafe(24)
    return token


def set_login_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=PATH,
                        secure=secure_cookies(request), max_age=3600)


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))


async def current_staff(request: Request) -> Staff:
    session = await staff_store.session_for(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired()
    staff = Staff(session.user, session)
    request.state.staff = staff
    return staff


async def csrf_checked(request: Request,
                       staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
    """For every state-changing request: the session's CSRF token must come with it."""
    given = request.headers.get("x-csrf-token")
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf")
            given = value if isinstance(value, str) else None
    if not same_token(staff.session.csrf_token, given):
        raise HTTPException(403, "درخواست نامعتبر است (نشانهٔ امنیتی فرم نادرست یا منقضی است).")
    return staff


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    location = f"{PATH}/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return Response(status_code=303, headers={"Location": location})


def safe_next(target: str | None) -> str:
    """Only a path inside the panel; never another site."""
    if target and target.startswith(PATH + "/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return PATH + "/"


StaffDep = Annotated[Staff, Depends(current_staff)]
CsrfStaff = Annotated[Staff, Depends(csrf_checked)]
