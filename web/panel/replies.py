"""Canned replies: the pack's ``replies.yaml`` with an administrator's edits over it.

The admin page lists every reply and rewrites its title and text (kept in the database, so
the pack stays as the city wrote it); the ticket page offers the replies that fit the ticket's
service, plus the general ones, with the placeholders already filled for that ticket. Sending
is the ordinary reply form, so a canned reply reaches the citizen as any other reply does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from peygir.config.replies import TEXT_MAX, TITLE_MAX, CannedReply, fill, placeholder_problem
from peygir.messages.digits import persian_digits
from peygir.messages.persian import jalali
from peygir.ticket_store import canned
from peygir.ticket_store.models import StaffRole, Ticket
from peygir.web.panel.common import core_of, names_of, now_of, render
from peygir.web.panel.security import PATH, CsrfStaff, StaffDep

router = APIRouter()

# The form takes somewhat more than is allowed, so an over-long text gets a Persian message
# rather than a bare validation error; anything longer is refused outright (422).
FORM_SLACK = 4

MESSAGES = {"saved": "پاسخ آماده ذخیره شد.", "reset": "پاسخ آماده به متن بستهٔ شهر برگشت."}
ERRORS = {
    "empty": "عنوان و متن پاسخ نباید خالی باشد.",
    "long": f"عنوان حداکثر {persian_digits(str(TITLE_MAX))} و متن حداکثر "
            f"{persian_digits(str(TEXT_MAX))} نویسه باشد.",
    "placeholder": "در متن فقط جای‌خالی‌های {code}، {deadline} و {unit} مجاز است "
                   "(و آکولاد تنها).",
}
NO_UNIT = "واحد مسئول"  # {unit} of a ticket still in the centre's queue


@dataclass(frozen=True)
class Effective:
    """One reply as staff see it now: the pack's, or the administrator's edit of it."""

    reply: CannedReply
    title: str
    text: str
    edited_by: str | None = None

    @property
    def id(self) -> str:
        return self.reply.id


async def effective(request: Request) -> list[Effective]:
    edits = await canned.overrides()
    out = []
    for reply in core_of(request).pack.replies:
        edit = edits.get(reply.id)
        out.append(Effective(reply, edit.title, edit.text, edit.updated_by) if edit
                   else Effective(reply, reply.title, reply.text))
    return out


def resolve(text: str, ticket: Ticket, unit_name: str | None, tz: str) -> str:
    """The text as the citizen will read it: Persian digits, a Jalali deadline."""
    return fill(text, {
        "code": persian_digits(ticket.tracking_code),
        "deadline": jalali(ticket.answer_due, tz),
        "unit": unit_name or NO_UNIT,
    })


async def for_ticket(request: Request, ticket: Ticket) -> list[tuple[str, str, str]]:
    """(id, title, resolved text) of the replies fitting this ticket, its service's first."""
    names = names_of(request)
    tz = core_of(request).settings.timezone
    unit = names.units.get(ticket.unit_code or "") if ticket.unit_code else None
    fitting = [e for e in await effective(request) if e.reply.fits(ticket.service_code)]
    fitting.sort(key=lambda e: not e.reply.services)  # the service's own before the general
    return [(e.id, e.title, resolve(e.text, ticket, unit, tz)) for e in fitting]


def _back(**query: str) -> RedirectResponse:
    suffix = "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(f"{PATH}/replies" + (f"?{suffix}" if suffix else ""),
                            status_code=303)


def _reply_or_404(request: Request, reply_id: str) -> CannedReply:
    for reply in core_of(request).pack.replies:
        if reply.id == reply_id:
            return reply
    raise HTTPException(404)


@router.get("/replies", response_class=HTMLResponse)
async def replies_page(request: Request, staff: StaffDep, done: str = "", error: str = ""
                       ) -> HTMLResponse:
    staff.require(StaffRole.ADMIN)
    names = names_of(request)
    rows = [(e, [names.service(code) for code in e.reply.services])
            for e in await effective(request)]
    return render(request, "panel/replies.html", {
        "rows": rows, "title_max": TITLE_MAX, "text_max": TEXT_MAX,
        "message": MESSAGES.get(done, ""), "error": ERRORS.get(error, ""),
    })


@router.post("/replies/{reply_id}")
async def save_reply(request: Request, reply_id: str, staff: CsrfStaff,
                     title: Annotated[str, Form(max_length=TITLE_MAX * FORM_SLACK)],
                     text: Annotated[str, Form(max_length=TEXT_MAX * FORM_SLACK)]) -> Response:
    staff.require(StaffRole.ADMIN)
    reply = _reply_or_404(request, reply_id)
    title, text = title.strip(), text.strip().replace("\r\n", "\n")
    if not title or not text:
        return _back(error="empty")
    if len(title) > TITLE_MAX or len(text) > TEXT_MAX:
        return _back(error="long")
    if placeholder_problem(text):
        return _back(error="placeholder")
    await canned.save(reply.id, title, text, staff.actor, now_of(request))
    return _back(done="saved")


@router.post("/replies/{reply_id}/reset")
async def reset_reply(request: Request, reply_id: str, staff: CsrfStaff) -> Response:
    staff.require(StaffRole.ADMIN)
    reply = _reply_or_404(request, reply_id)
    await canned.reset(reply.id)
    return _back(done="reset")
