"""Staff accounts in the panel, for the system administrator: who has access, in which role
and unit, when they last signed in; add an account, set a new password, disable or enable.

The same rules as ``peygir users`` (ticket_store.staff): argon2id passwords of 10 characters or
more, a unit user belongs to one unit, a new password or a disabled account ends its sessions.
An administrator cannot disable their own account, so the panel always keeps one way in.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from tortoise.functions import Max

from peygir.ticket_store import staff as staff_store
from peygir.ticket_store.models import LoginAttempt, StaffRole, StaffUser
from peygir.web.panel.common import names_of, render
from peygir.web.panel.fmt import ROLE_LABELS
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()

MESSAGES = {
    "added": "کاربر افزوده شد. رمز را از راهی امن به او بدهید؛ پس از ورود می‌تواند کار کند.",
    "password": "رمز تازه ثبت شد و همهٔ ورودهای قبلی این کاربر بسته شد.",
    "disabled": "حساب غیرفعال شد و ورودهای باز آن بسته شد.",
    "enabled": "حساب دوباره فعال شد.",
}
ERRORS = {
    "username": "نام کاربری باید ۲ تا ۶۴ نویسه از حروف کوچک لاتین، رقم، «.»، «_» یا «-» باشد.",
    "exists": "این نام کاربری پیش‌تر ثبت شده است.",
    "password": f"رمز باید دست‌کم {staff_store.MIN_PASSWORD} نویسه باشد.",
    "role": "نقش انتخاب‌شده معتبر نیست.",
    "unit": "کاربر واحد اجرایی باید یک واحد داشته باشد؛ نقش‌های دیگر واحد ندارند.",
    "self": "حساب خودتان را نمی‌توانید غیرفعال کنید.",
    "missing": "چنین کاربری نیست.",
}


def _back(**flash: str) -> Response:
    return RedirectResponse(f"{PATH}/users" + (f"?{urlencode(flash)}" if flash else ""),
                            status_code=303)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, staff: StaffDep, done: str = "", error: str = ""
                     ) -> HTMLResponse:
    staff.require(StaffRole.ADMIN)
    last_sign_in = {
        row["username"]: row["last"] for row in await LoginAttempt.filter(ok=True)
        .annotate(last=Max("at")).group_by("username").values("username", "last")
    }
    return render(request, "panel/users.html", {
        "users": await StaffUser.all().order_by("-active", "role", "username"),
        "last_sign_in": last_sign_in, "roles": ROLE_LABELS,
        "units": names_of(request).units, "min_password": staff_store.MIN_PASSWORD,
        "message": MESSAGES.get(done), "error": ERRORS.get(error),
    })


@router.post("/users")
async def add_user(request: Request, staff: CsrfStaff,
                   username: Annotated[str, Form(max_length=64)],
                   password: Annotated[str, Form(max_length=256)],
                   role: Annotated[str, Form(max_length=16)],
                   full_name: Annotated[str, Form(max_length=128)] = "",
                   unit: Annotated[str, Form(max_length=64)] = "") -> Response:
    staff.require(StaffRole.ADMIN)
    if unit and unit not in names_of(request).units:  # the pack's units: the store knows none
        return _back(error="unit")
    try:
        await staff_store.add_user(username, password, role, unit_code=unit or None,
                                   full_name=full_name.strip())
    except staff_store.StaffError as refused:
        return _back(error=refused.reason)
    return _back(done="added")


@router.post("/users/{username}/password")
async def set_password(username: str, staff: CsrfStaff,
                       password: Annotated[str, Form(max_length=256)]) -> Response:
    staff.require(StaffRole.ADMIN)
    try:
        await staff_store.set_password(username, password)
    except staff_store.StaffError as refused:
        return _back(error=refused.reason)
    return _back(done="password")


@router.post("/users/{username}/active")
async def set_active(username: str, staff: CsrfStaff,
                     active: Annotated[bool, Form()]) -> Response:
    staff.require(StaffRole.ADMIN)
    if not active and username.strip().lower() == staff.user.username:
        return _back(error="self")
    try:
        await staff_store.set_active(username, active)
    except staff_store.StaffError as refused:
        return _back(error=refused.reason)
    return _back(done="enabled" if active else "disabled")
